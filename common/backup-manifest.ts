// The manifest written beside every backup. It is what makes a file "ours": retention only ever
// deletes files that have one, and restore refuses a file that does not match it.
export const MANIFEST_FORMAT = 'zerotrustml-runbooks/pg-backup@1';
export const MANIFEST_SUFFIX = '.manifest.json';

export type Compression = 'zstd' | 'gzip' | 'none';

export interface BackupManifest {
  format: typeof MANIFEST_FORMAT;
  /** The scheduled slot this backup belongs to (see backupKey). */
  key: string;
  database: string;
  /** File name of the dump, relative to the manifest's directory. */
  file: string;
  /** pg_dump custom format (-Fc -Z0) streamed through this compressor. */
  compression: Compression;
  bytes: number;
  sha256: string;
  serverVersion: string;
  pgDumpVersion: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Row counts per table ("schema.table"), read in the same snapshot as the dump. */
  tables: Record<string, number>;
  /** Set by verification once the file was re-read end to end. */
  verified?: { at: string; method: string; durationMs: number };
  /** Where the time went: dump (pg_dump through the compressor), fsync, verify (and row counts). */
  phasesMs?: Record<string, number>;
  workflowId?: string;
}

export function backupFileName(database: string, key: string, compression: Compression): string {
  const ext = compression === 'zstd' ? '.dump.zst' : compression === 'gzip' ? '.dump.gz' : '.dump';
  return `${database}_${key}${ext}`;
}

export function manifestFileName(backupFile: string): string {
  return backupFile + MANIFEST_SUFFIX;
}
