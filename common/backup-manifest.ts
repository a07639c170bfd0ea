// The manifest written beside every backup. It is what makes a file "ours": retention only ever
// deletes files that have one, and restore refuses a file that does not match it.
import { fnv1a } from './digest';

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
  /** Set when the backup is much smaller than the previous verified one (a wiped or emptied
   * database backs up fine): "latest", retention and disaster recovery pass it over. */
  flagged?: { reason: string; previousKey: string };
  /** Where the time went: dump (pg_dump through the compressor), fsync, verify (and row counts). */
  phasesMs?: Record<string, number>;
  workflowId?: string;
}

/** The database's name as a file name part: as it is when it is plain, else its plain characters
 * plus a hash of the whole name (so two names that differ only in odd characters stay apart). */
export function databaseFilePart(database: string): string {
  if (/^[A-Za-z0-9_-]{1,63}$/.test(database)) return database;
  return `${database.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)}~${fnv1a(database)}`;
}

export function backupFileName(database: string, key: string, compression: Compression): string {
  const ext = compression === 'zstd' ? '.dump.zst' : compression === 'gzip' ? '.dump.gz' : '.dump';
  return `${databaseFilePart(database)}_${key}${ext}`;
}

/** Why a new backup looks like the backup of a wiped or emptied database, compared with the
 * previous verified one: much fewer bytes or rows, or tables gone. Undefined when it does not. */
export function flagAgainst(current: Pick<BackupManifest, 'bytes' | 'tables'>, previous: Pick<BackupManifest, 'bytes' | 'tables' | 'key'>, ratio: number): string | undefined {
  const rows = (m: Pick<BackupManifest, 'tables'>): number => Object.values(m.tables).reduce((a, b) => a + b, 0);
  const reasons: string[] = [];
  if (current.bytes < previous.bytes * ratio) reasons.push(`${current.bytes} bytes against ${previous.bytes} in ${previous.key}`);
  if (rows(current) < rows(previous) * ratio) reasons.push(`${rows(current)} rows against ${rows(previous)} in ${previous.key}`);
  const gone = Object.keys(previous.tables).filter((t) => !(t in current.tables));
  if (gone.length) reasons.push(`${gone.length} table(s) of ${previous.key} missing (${gone.slice(0, 5).join(', ')})`);
  return reasons.length ? `much smaller than the previous verified backup: ${reasons.join('; ')}` : undefined;
}

export function manifestFileName(backupFile: string): string {
  return backupFile + MANIFEST_SUFFIX;
}
