// pgBackRest, the physical tier's tool: its configuration file (written by this tool, so a host's
// /etc/pgbackrest.conf never changes what a runbook does), its commands run as the owner of the
// data directory (the server's user: archive-push runs as that user too, and the repository must
// be theirs), and what its `info` and `verify` say, parsed.
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PhysicalTier } from '../config/load';
import { runCommand, which, type RunResult } from './process';

export type BackupType = 'full' | 'diff' | 'incr';

export interface PhysicalBackupInfo {
  label: string;
  type: BackupType;
  /** Unix seconds. */
  startedAt: number;
  stoppedAt: number;
  /** The WAL segments the backup needs to be consistent. */
  walStart: string;
  walStop: string;
  lsnStop: string;
  /** Bytes of the database as backed up, and in the repository (compressed, this backup only). */
  size: number;
  repositoryDelta: number;
  prior: string | null;
  error: boolean;
}

export interface StanzaInfo {
  status: { code: number; message: string };
  backups: PhysicalBackupInfo[];
  /** The archive's first and last WAL segment (of the current database id), if any. */
  archiveMin?: string;
  archiveMax?: string;
  archiveId?: string;
}

export interface VerifyReport {
  ok: boolean;
  /** One line per problem, as pgBackRest says it. */
  problems: string[];
  text: string;
}

export class PgBackRestError extends Error {
  override readonly name = 'PgBackRestError';
}

/** Makes `dir` and its parents traversable by the server's user: a missing directory is made
 * with traverse-only rights for others (0711); an existing one that user cannot traverse gets
 * that right when it is inside this tool's data directory, and is refused with its name
 * otherwise (this tool does not loosen directories that are not its own). */
function reachable(dir: string, uid: number, gid: number, ours: string): void {
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  let at: string = path.sep;
  for (const part of parts) {
    at = path.join(at, part);
    if (!existsSync(at)) {
      mkdirSync(at, { mode: 0o711 });
      chmodSync(at, 0o711);
      continue;
    }
    const st = statSync(at);
    const x = st.uid === uid ? st.mode & 0o100 : st.gid === gid ? st.mode & 0o010 : st.mode & 0o001;
    // Inside this tool's own data directory (a private backups directory, 0700) traversal is
    // added; the files in it keep their own rights (0600).
    if (!x && (at === ours || at.startsWith(`${ours}${path.sep}`))) {
      chmodSync(at, (st.mode & 0o777) | 0o001);
      continue;
    }
    if (!x) throw new PgBackRestError(`the server's user (uid ${uid}) cannot enter ${at} (mode ${(st.mode & 0o777).toString(8)}), on the way to pgBackRest's files: give it search (x) permission or choose another physicalBackup.repository`);
  }
}

/** One shell word, whatever the text holds. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./=:@+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The user that owns a directory (the server's data directory): who pgBackRest runs as. */
function ownerOf(dir: string): { uid: number; gid: number } {
  const st = statSync(dir);
  return { uid: st.uid, gid: st.gid };
}

export class PgBackRest {
  readonly configFile: string;

  constructor(
    readonly tier: PhysicalTier,
    readonly pgPort: number,
  ) {
    this.configFile = path.join(tier.workDirectory, 'pgbackrest.conf');
  }

  get dataDirectory(): string {
    if (!this.tier.dataDirectory) throw new PgBackRestError('physicalBackup.dataDirectory is not configured: the physical tier needs the data directory of the server');
    return this.tier.dataDirectory;
  }

  /** The user pgBackRest runs as: the data directory's owner when we are root, else ourselves. */
  runAs(): { uid?: number; gid?: number } {
    if (process.getuid?.() !== 0) return {};
    // A lost data directory (the disaster a restore is for): the repository is the same user's.
    const from = [this.dataDirectory, this.tier.repository].find((d) => existsSync(d));
    if (!from) throw new PgBackRestError(`neither the data directory ${this.dataDirectory} nor the repository ${this.tier.repository} exists: no user to run pgBackRest as`);
    const owner = ownerOf(from);
    return owner.uid === 0 ? {} : owner;
  }

  async program(): Promise<string> {
    if (this.tier.program) return this.tier.program;
    const found = await which('pgbackrest');
    if (!found) throw new PgBackRestError('pgbackrest was not found on PATH: install the pgbackrest package (Debian) on the database host or set physicalBackup.program');
    return found;
  }

  /** The configuration file pgBackRest reads; the repository, log and lock directories, owned by
   * the server's user. Written on every call: it follows this tool's configuration. */
  writeConfig(): string {
    const as = this.runAs();
    const dirs = [this.tier.workDirectory, path.join(this.tier.workDirectory, 'log'), path.join(this.tier.workDirectory, 'lock'), this.tier.repository];
    for (const d of dirs) {
      if (as.uid !== undefined) reachable(path.dirname(d), as.uid, as.gid!, path.dirname(this.tier.workDirectory));
      mkdirSync(d, { recursive: true, mode: 0o750 });
      if (as.uid !== undefined) chownSync(d, as.uid, as.gid!);
    }
    // The worker may run with a umask of 077; the server's user must read what is written here.
    // Every value is one line of pgBackRest's configuration: a line break would add settings.
    for (const v of [this.tier.repository, this.tier.workDirectory, this.dataDirectory, this.tier.socketDirectory ?? '']) {
      if (/[\r\n]/.test(v)) throw new PgBackRestError(`refusing a path with a line break in pgBackRest's configuration: ${JSON.stringify(v)}`);
    }
    const lines = [
      '# Written by zerotrustml-runbooks (physicalBackup in its configuration); edits are overwritten.',
      '[global]',
      `repo1-path=${this.tier.repository}`,
      `repo1-retention-full=${this.tier.retentionFull}`,
      `log-path=${path.join(this.tier.workDirectory, 'log')}`,
      `lock-path=${path.join(this.tier.workDirectory, 'lock')}`,
      'log-level-console=warn',
      'log-level-stderr=warn',
      'log-level-file=info',
      'compress-type=zst',
      `compress-level=${this.tier.compressLevel}`,
      `process-max=${this.tier.processMax}`,
      'start-fast=y',
      '',
      `[${this.tier.stanza}]`,
      `pg1-path=${this.dataDirectory}`,
      `pg1-port=${this.pgPort}`,
      ...(this.tier.socketDirectory ? [`pg1-socket-path=${this.tier.socketDirectory}`] : []),
      '',
    ];
    writeFileSync(this.configFile, lines.join('\n'), { mode: 0o640 });
    chmodSync(this.configFile, 0o640);
    if (as.uid !== undefined) chownSync(this.configFile, as.uid, as.gid!);
    return this.configFile;
  }

  /** The archive_command the server runs for each WAL segment. */
  archiveCommand(program: string): string {
    // The server runs it through a shell: a path with a space or a ';' must stay one argument;
    // and it replaces %-sequences first, so a '%' of a path is written '%%'.
    const word = (t: string): string => shellQuote(t).replace(/%/g, '%%');
    return `${word(program)} ${word(`--config=${this.configFile}`)} --stanza=${this.tier.stanza} archive-push %p`;
  }

  async run(args: string[], o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<RunResult> {
    const program = await this.program();
    return runCommand([program, `--config=${this.configFile}`, `--stanza=${this.tier.stanza}`, ...args], {
      ...this.runAs(),
      // root's HOME is not the server user's to read
      env: { ...process.env, HOME: '/tmp' },
      cwd: '/tmp',
      timeoutMs: o.timeoutMs,
      signal: o.signal,
    });
  }

  async info(): Promise<StanzaInfo> {
    const { stdout } = await this.run(['info', '--output=json']);
    return parseInfo(stdout, this.tier.stanza);
  }

  async verify(set?: string): Promise<VerifyReport> {
    const { stdout, stderr } = await this.run(['verify', '--output=text', '--verbose', ...(set ? [`--set=${set}`] : [])]);
    return parseVerify(stdout + stderr);
  }

  /** The archived WAL segment names of the repository (every archive id of the stanza), oldest
   * first. Read from the repository's directories: pgBackRest's verify (2.45) does not report a
   * segment missing between two present ones. */
  archivedSegments(): string[] {
    const root = path.join(this.tier.repository, 'archive', this.tier.stanza);
    if (!existsSync(root)) return [];
    const out: string[] = [];
    for (const archiveId of readdirSync(root).filter((d) => /^\d+-\d+$/.test(d))) {
      for (const dir of readdirSync(path.join(root, archiveId)).filter((d) => /^[0-9A-F]{16}$/.test(d))) {
        for (const f of readdirSync(path.join(root, archiveId, dir))) {
          // Only what pgBackRest wrote: a segment with its checksum and compression suffix.
          const m = /^([0-9A-F]{24})-[0-9a-f]{40}(\.(gz|zst|lz4|bz2))?$/.exec(f);
          if (m) out.push(m[1]!);
        }
      }
    }
    return [...new Set(out)].sort();
  }
}

/** A WAL segment name's position in the WAL stream (16 MB segments: 256 per log file), ignoring
 * its timeline. */
export function segmentIndex(name: string): number {
  return parseInt(name.slice(8, 16), 16) * 256 + parseInt(name.slice(16, 24), 16);
}

/** Segments missing between `from` and `to` (both included), counting a position as present when
 * any timeline has it (a timeline switch continues the stream at the same position). */
export function walGaps(segments: string[], from: string, to: string): string[] {
  const have = new Set(segments.map(segmentIndex));
  const missing: string[] = [];
  for (let i = segmentIndex(from); i <= segmentIndex(to); i++) {
    if (!have.has(i)) {
      const log = Math.floor(i / 256);
      missing.push(`${from.slice(0, 8)}${log.toString(16).toUpperCase().padStart(8, '0')}${(i % 256).toString(16).toUpperCase().padStart(8, '0')}`);
      if (missing.length >= 20) break;
    }
  }
  return missing;
}

interface RawBackup {
  label: string;
  type: BackupType;
  timestamp: { start: number; stop: number };
  archive: { start: string; stop: string };
  lsn?: { start: string; stop: string };
  info: { size: number; repository: { delta: number } };
  prior: string | null;
  error?: boolean;
}

export function parseInfo(stdout: string, stanza: string): StanzaInfo {
  let parsed: unknown;
  try {
    // system-id is a 64-bit number JSON.parse would round; it is not read here.
    parsed = JSON.parse(stdout);
  } catch {
    throw new PgBackRestError(`pgbackrest info: expected JSON, found ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  const entry = (Array.isArray(parsed) ? parsed : []).find((s: { name?: string }) => s?.name === stanza) as
    | { status: { code: number; message: string }; backup?: RawBackup[]; archive?: Array<{ id: string; min: string | null; max: string | null }> }
    | undefined;
  if (!entry) throw new PgBackRestError(`pgbackrest info: stanza ${stanza} is not in the repository`);
  const archive = entry.archive?.[entry.archive.length - 1];
  return {
    status: entry.status,
    backups: (entry.backup ?? []).map((b) => ({
      label: b.label,
      type: b.type,
      startedAt: b.timestamp.start,
      stoppedAt: b.timestamp.stop,
      walStart: b.archive.start,
      walStop: b.archive.stop,
      lsnStop: b.lsn?.stop ?? '',
      size: b.info.size,
      repositoryDelta: b.info.repository.delta,
      prior: b.prior,
      error: b.error === true,
    })),
    archiveMin: archive?.min ?? undefined,
    archiveMax: archive?.max ?? undefined,
    archiveId: archive?.id,
  };
}

/** `pgbackrest verify --output=text --verbose`: "status: ok|error", then per archive id and per
 * backup a line with counts. Anything invalid, missing or in error is a problem. */
export function parseVerify(text: string): VerifyReport {
  const problems: string[] = [];
  const status = /^status:\s*(\S+)/m.exec(text)?.[1];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (/status: invalid/.test(t)) problems.push(t);
    const counts = /missing: (\d+), checksum invalid: (\d+), size invalid: (\d+), other: (\d+)/.exec(t);
    if (counts && counts.slice(1).some((n) => Number(n) > 0)) problems.push(t);
    if (/^checksum invalid: [1-9]|^missing: [1-9]|^size invalid: [1-9]/.test(t)) problems.push(t);
    if (/^(ERROR|WARN)/.test(t)) problems.push(t);
  }
  if (status !== 'ok' && problems.length === 0) problems.push(`verify status: ${status ?? 'not reported'}`);
  return { ok: status === 'ok' && problems.length === 0, problems, text };
}
