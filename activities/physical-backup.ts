// Activities of the physical tier (pgBackRest): archiving set-up, physical backups and their
// verification, and restore-cluster's steps: the plan (which backup, which WAL, how much is lost),
// a restored copy started on its own port and checked, the switch, and the discard. They run on
// the database host: they read and move the server's data directory.
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { Client } from 'pg';
import { Failure } from '../common/failures';
import { PgBackRest, shellQuote, walGaps, type BackupType, type PhysicalBackupInfo } from '../adapters/pgbackrest';
import { countRows, listTables } from '../adapters/postgres';
import { pgCtlArgs, postgresServerDir, postgresToolsDir } from '../adapters/postgres-tools';
import { CommandError, runCommand, tail } from '../adapters/process';
import { serviceControl } from '../adapters/service-control';
import type { ActivityDeps } from './deps';
import { isDrillEnvironmentPath, ownsDrillEnvironment } from './drill-marker';
import { progressReporter } from './progress';

export interface PhysicalTarget {
  enabled: boolean;
  stanza: string;
  repository: string;
  dataDirectory: string;
  database: string;
  host: string;
  port: number;
  production: boolean;
  restorePort: number;
  archiveTimeoutSeconds: number;
  applicationStop: boolean;
}

/** Where a restore goes: the newest point the archive has, a time, or a named restore point. */
export type RestoreTarget = { kind: 'latest' } | { kind: 'time'; time: string } | { kind: 'name'; name: string };

export interface ClusterRestorePlan {
  backup: PhysicalBackupInfo;
  /** WAL replayed: from the backup's first segment to the archive's last. */
  walFrom: string;
  walTo: string;
  /** When the archive's last segment was written (ISO), if known. */
  archivedUntil?: string;
  /** What a restore to this target loses, in words and (latest) in seconds. */
  dataLoss: string;
  dataLossSeconds?: number;
  copyDirectory: string;
  keepDirectory: string;
}

export type PhysicalRecoveryPoint =
  | { usable: false; reason: string }
  | { usable: true; label: string; type: BackupType; backupEndedAt: string; walFrom: string; walTo: string; archivedUntil: string; ageSeconds: number };

export interface ArchiverState {
  archiving: boolean;
  lastArchivedWal?: string;
  lastArchivedAt?: string;
  failedCount: number;
  lastFailedAt?: string;
  /** A failure newer than the last success: the archiver is stuck on a segment. */
  failing: boolean;
  /** WAL written after the end of the last archived segment. */
  unarchivedBytes: number;
  /** How old the oldest change not yet archived can be: 0 when everything written is archived;
   * unknown when nothing was ever archived. */
  atRiskSeconds?: number;
  /** The size of pg_wal: what grows while the archiver fails. */
  walBytes?: number;
}

/** The archiver's figures from pg_stat_archiver's columns and the server's WAL position. */
export function archiverFigures(r: { wal: string; archivedAt: string; failed: string; failedAt: string; lsn: string; segSize: string; mode: string; now: number }): ArchiverState {
  const toBytes = (v: string): bigint => {
    const m = /^(\d+)\s*(kB|MB|GB)?$/.exec(v.trim());
    const unit = m?.[2] === 'GB' ? 1n << 30n : m?.[2] === 'MB' ? 1n << 20n : m?.[2] === 'kB' ? 1024n : 1n;
    return m ? BigInt(m[1]!) * unit : 16n << 20n;
  };
  const [hi = '0', lo = '0'] = r.lsn.split('/');
  const current = (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
  const segment = toBytes(r.segSize);
  let unarchived = current;
  if (/^[0-9A-F]{24}$/.test(r.wal)) {
    // Segment name: timeline, then the LSN's high 32 bits, then the segment within them.
    const end = (BigInt(`0x${r.wal.slice(8, 16)}`) << 32n) + (BigInt(`0x${r.wal.slice(16, 24)}`) + 1n) * segment;
    unarchived = current > end ? current - end : 0n;
  }
  const archivedAt = r.archivedAt ? Number(r.archivedAt) * 1000 : undefined;
  const failedAt = r.failedAt ? Number(r.failedAt) * 1000 : undefined;
  return {
    archiving: r.mode !== 'off',
    lastArchivedWal: r.wal || undefined,
    lastArchivedAt: archivedAt ? new Date(archivedAt).toISOString() : undefined,
    failedCount: Number(r.failed) || 0,
    lastFailedAt: failedAt ? new Date(failedAt).toISOString() : undefined,
    failing: failedAt !== undefined && (archivedAt === undefined || failedAt > archivedAt),
    unarchivedBytes: Number(unarchived),
    atRiskSeconds: unarchived === 0n ? 0 : archivedAt ? Math.max(0, Math.round((r.now - archivedAt) / 1000)) : undefined,
  };
}

export interface RestoredCluster {
  /** The server's recovery log lines (target reached, timeline, consistency). */
  recovery: string[];
  /** The last transaction replayed (from the server's log), as the server printed it. */
  lastTransactionAt?: string;
  restoreMs: number;
  recoverMs: number;
}

export interface TableFigures {
  rows: Record<string, number>;
  /** SHA-256 over every table's row count and the sum of its rows' hashes (order-independent). */
  fingerprint: string;
}

/** An ISO 8601 time as recovery_target_time takes it: the server refuses the "T" and "Z" forms. */
export function serverTime(iso: string): string {
  return iso.replace('T', ' ').replace(/Z$/i, '+00');
}

const refuse = (message: string, type: string = Failure.PreconditionFailed): ApplicationFailure => ApplicationFailure.create({ type, message, nonRetryable: true });

/** Every table's row count and content hash, and one fingerprint over them all, read in one
 * snapshot (one repeatable-read transaction). A row's hash is hash_record (PostgreSQL 14 and
 * later: the values' own hash functions, about 2.4 times faster than hashing the row's text), or
 * the hash of its text where that cannot be used (an older server, or a column type without a hash
 * function, such as point or json); the line says which, so two fingerprints compare only what was
 * hashed the same way. */
export async function tableFigures(c: Client, o: { content?: boolean } = {}): Promise<TableFigures> {
  const content = o.content !== false;
  const rows: Record<string, number> = {};
  const lines: string[] = [];
  await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    for (const t of await listTables(c)) {
      // Names come from quote_ident (listTables), so they are safe to splice.
      const read = (hash: string): Promise<{ n: string; h: string }> => c.query<{ n: string; h: string }>(`SELECT count(*) AS n, ${hash} AS h FROM ${t} x`).then((r) => r.rows[0] ?? { n: '0', h: '0' });
      let method = 'count';
      let r: { n: string; h: string };
      if (!content) r = await read("''");
      else {
        method = 'record';
        // A failed statement aborts the transaction: the fallback runs after a savepoint's rollback.
        await c.query('SAVEPOINT figures');
        r = await read('coalesce(sum(hash_record(x)::bigint), 0)::text').catch(async (e: unknown) => {
          if (!/hash function|function hash_record|does not exist/i.test((e as Error).message)) throw e;
          await c.query('ROLLBACK TO SAVEPOINT figures');
          method = 'text';
          return read('coalesce(sum(hashtext(x::text)::bigint), 0)::text');
        });
      }
      rows[t] = Number(r.n);
      lines.push(`${t}\t${rows[t]}\t${r.h}\t${method}`);
    }
  } finally {
    await c.query('ROLLBACK').catch(() => undefined);
  }
  // A counts-only fingerprint says so: it is not comparable with a content one.
  return { rows, fingerprint: `${content ? '' : 'counts:'}${createHash('sha256').update(lines.join('\n')).digest('hex')}` };
}

export function createPhysicalBackupActivities(deps: ActivityDeps) {
  const cfg = deps.config;
  const tier = cfg.physical;
  const pg = deps.postgres;
  const tool = new PgBackRest(tier, pg.target.port);

  function requireEnabled(): void {
    if (!tier.enabled) throw refuse('the physical tier is off (physicalBackup.enabled): turn it on and run database-archiving first');
    if (!tier.dataDirectory) throw refuse('physicalBackup.dataDirectory is not configured');
  }

  async function describePhysicalTarget(): Promise<PhysicalTarget> {
    return {
      enabled: tier.enabled,
      stanza: tier.stanza,
      repository: tier.repository,
      dataDirectory: tier.dataDirectory ?? '(not configured)',
      database: pg.target.database,
      host: pg.target.host,
      port: pg.target.port,
      production: cfg.database.production,
      restorePort: tier.restorePort,
      archiveTimeoutSeconds: tier.archiveTimeoutSeconds,
      applicationStop: cfg.applicationService !== undefined,
    };
  }

  /** SQL as the server's superuser, through psql run as the data directory's owner: through the
   * server's socket when it has one here, else (the sandbox before archiving is set up) over TCP. */
  async function superSql(sql: string, port = pg.target.port, copySocket?: string): Promise<string> {
    const psql = path.join(await postgresToolsDir(cfg.database.binDir), 'psql');
    // A restored copy listens on loopback and on a socket in its own directory.
    const socketDir = copySocket ?? tier.socketDirectory;
    const socket = socketDir && existsSync(path.join(socketDir, `.s.PGSQL.${port}`)) ? socketDir : undefined;
    const host = socket ?? (port !== pg.target.port ? '127.0.0.1' : cfg.database.managed ? pg.target.host : undefined);
    const r = await runCommand([psql, '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', ...(host ? ['-h', host] : []), '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql], {
      ...tool.runAs(),
      env: { ...process.env, HOME: '/tmp', PGCONNECT_TIMEOUT: '10' },
      cwd: '/tmp',
      timeoutMs: 60_000,
    });
    return r.stdout.trim();
  }

  /** A checkpoint on the live server just started. Not for the data: PostgreSQL's checkpointer
   * plans its first sleep while the server is still starting up (in recovery, when
   * archive_timeout does not count) and then sleeps checkpoint_timeout (5 minutes by default);
   * until something wakes it, archive_timeout is not applied and writes stay unarchived (seen on
   * PostgreSQL 15: a restored server wrote 16 s into one segment with archive_timeout 5 s, and a
   * kill then lost all of it). A checkpoint request wakes it. */
  const wakeCheckpointer = (): Promise<string> => superSql('CHECKPOINT');

  const literal = (v: string): string => `'${v.replace(/'/g, "''")}'`;

  /** The server settings archiving needs, and which of them differ from the server's now. */
  async function archivingSettings(): Promise<{ wanted: Record<string, string>; changes: Array<{ name: string; from: string; to: string; restart: boolean }> }> {
    requireEnabled();
    const program = await tool.program();
    tool.writeConfig();
    const wanted: Record<string, string> = {
      archive_mode: 'on',
      archive_command: tool.archiveCommand(program),
      archive_timeout: `${tier.archiveTimeoutSeconds}s`,
    };
    // The sandbox's cluster has no Unix socket until now; pgBackRest needs one.
    if (cfg.database.managed && tier.socketDirectory) wanted.unix_socket_directories = tier.socketDirectory;
    const restartNeeded = new Set(['archive_mode', 'unix_socket_directories', 'wal_level']);
    const changes: Array<{ name: string; from: string; to: string; restart: boolean }> = [];
    for (const [name, to] of Object.entries(wanted)) {
      const from = await superSql(`SELECT setting || coalesce(unit, '') FROM pg_settings WHERE name = ${literal(name)}`);
      // A list setting comes back with its elements quoted ("/path").
      const plain = name === 'unix_socket_directories' ? from.replace(/^"(.*)"$/, '$1') : from;
      const same = name === 'archive_timeout' ? from === `${tier.archiveTimeoutSeconds}s` : plain === to;
      if (!same) changes.push({ name, from, to, restart: restartNeeded.has(name) });
    }
    const walLevel = await superSql('SHOW wal_level');
    if (walLevel === 'minimal') {
      wanted.wal_level = 'replica';
      changes.push({ name: 'wal_level', from: walLevel, to: 'replica', restart: true });
    }
    return { wanted, changes };
  }

  async function readArchivingState(): Promise<{ changes: Array<{ name: string; from: string; to: string; restart: boolean }>; restartNeeded: boolean; configFile: string }> {
    const { changes } = await archivingSettings();
    return { changes, restartNeeded: changes.some((c) => c.restart), configFile: tool.configFile };
  }

  /** ALTER SYSTEM for every setting that differs, then a reload, or a restart through the
   * database service when a setting needs one. */
  async function applyArchivingSettings(): Promise<{ changed: string[]; restarted: boolean }> {
    const { wanted, changes } = await archivingSettings();
    if (wanted.unix_socket_directories) {
      mkdirSync(wanted.unix_socket_directories, { recursive: true, mode: 0o700 });
      const as = tool.runAs();
      if (as.uid !== undefined) chownSync(wanted.unix_socket_directories, as.uid, as.gid!);
    }
    for (const c of changes) await superSql(`ALTER SYSTEM SET ${c.name} = ${literal(c.to)}`);
    const restart = changes.some((c) => c.restart);
    if (restart) {
      if (!cfg.databaseService) throw refuse(`${changes.filter((c) => c.restart).map((c) => c.name).join(', ')} need a server restart, and no database.service is configured to restart it`);
      const service = serviceControl(cfg.databaseService);
      await service.stop();
      await service.start();
      await wakeCheckpointer();
    } else if (changes.length) {
      await superSql('SELECT pg_reload_conf()');
    }
    return { changed: changes.map((c) => c.name), restarted: restart };
  }

  /** stanza-create (a no-op for a stanza that exists and matches), then pgBackRest's own check:
   * a WAL switch that must reach the repository. */
  async function createStanzaAndCheck(): Promise<{ stanza: string; checked: boolean }> {
    requireEnabled();
    tool.writeConfig();
    try {
      await tool.run(['stanza-create'], { timeoutMs: 300_000 });
      await tool.run(['check'], { timeoutMs: 300_000 });
    } catch (e) {
      const why = e instanceof CommandError ? tail(e.stderrTail || e.message, 800) : (e as Error).message;
      // A backup holding the stanza's lock (a schedule fired as the stack came up, say) ends on
      // its own: retried, not refused.
      if (/unable to acquire lock/i.test(why)) throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `pgbackrest: another pgBackRest command holds the stanza's lock (retrying): ${why}` });
      throw refuse(`pgbackrest: ${why}`);
    }
    return { stanza: tier.stanza, checked: true };
  }

  /** A physical backup of the given type; pgBackRest expires what its retention lets go. */
  async function takePhysicalBackup(input: { type: BackupType }): Promise<{ backup: PhysicalBackupInfo; figures: TableFigures }> {
    requireEnabled();
    tool.writeConfig();
    const progress = progressReporter();
    progress.report({ phase: `pgbackrest backup --type=${input.type}` }, true);
    const before = new Set((await tool.info().catch(() => ({ backups: [] as PhysicalBackupInfo[] }))).backups.map((b) => b.label));
    try {
      await tool.run([`--type=${input.type}`, 'backup'], { signal: progress.signal, timeoutMs: 24 * 3600_000 });
    } catch (e) {
      throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `pgbackrest backup --type=${input.type}: ${e instanceof CommandError ? tail(e.stderrTail || e.message, 800) : (e as Error).message}` });
    }
    const made = (await tool.info()).backups.filter((b) => !before.has(b.label)).pop();
    if (!made) throw ApplicationFailure.create({ type: Failure.CommandFailed, message: 'pgbackrest backup ended but no new backup is in the repository' });
    // The database's figures right after the backup: what a restore is compared with when the
    // server it came from no longer answers.
    const figures = await pg.withClient(undefined, tableFigures);
    writeFileSync(path.join(tier.workDirectory, `figures-${made.label}.json`), JSON.stringify({ label: made.label, at: new Date().toISOString(), ...figures }, null, 1));
    return { backup: made, figures };
  }

  /** pgBackRest's verify of one backup (every file's checksum and size) and the archive's WAL
   * from the backup's first segment to the archive's last, without a gap. */
  async function verifyPhysicalBackup(input: { label: string }): Promise<{ ok: boolean; problems: string[]; walFrom: string; walTo: string }> {
    requireEnabled();
    tool.writeConfig();
    const info = await tool.info();
    const backup = info.backups.find((b) => b.label === input.label);
    if (!backup) throw refuse(`backup ${input.label} is not in the repository (${info.backups.map((b) => b.label).join(', ') || 'none'})`);
    const report = await tool.verify(input.label);
    const walTo = info.archiveMax ?? backup.walStop;
    const gaps = walGaps(tool.archivedSegments(), backup.walStart, walTo);
    const problems = [...report.problems, ...(gaps.length ? [`WAL missing from the archive: ${gaps.join(', ')}`] : [])];
    return { ok: problems.length === 0, problems, walFrom: backup.walStart, walTo };
  }

  /** When the live server answers: its current WAL segment closed and archived, so a restore to
   * a moment ago finds the WAL it needs in the archive (it would otherwise wait for
   * archive_timeout). A server that does not answer is what the restore is for: said, not fatal. */
  async function archiveCurrentWal(): Promise<{ archived?: string; skipped?: string }> {
    requireEnabled();
    let segment: string;
    try {
      // A server that does not archive (a fresh cluster a provisioning hook made, say) has nothing
      // to push: said at once instead of waiting for a segment that never comes.
      if ((await superSql('SHOW archive_mode')) === 'off') return { skipped: 'the live server does not archive (archive_mode off): the archive ends where it ends' };
      // A commit record (an xid assigned, nothing changed) before the switch: recovery to a time
      // stops at the first commit after it, and without one after the target in the archive the
      // server refuses to finish ("recovery ended before configured recovery target was reached").
      await superSql('SELECT txid_current()');
      segment = await superSql('SELECT pg_walfile_name(pg_switch_wal())');
    } catch (e) {
      return { skipped: `the live server does not answer (${(e as Error).message.split('\n')[0]}): the archive ends where it ends` };
    }
    const progress = progressReporter();
    const waitSeconds = Math.max(60, 2 * tier.archiveTimeoutSeconds);
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      // pg_stat_archiver is readable by any role: polled over the application's own connection
      // (no psql process per look).
      const last = await withClientAt(pg.target.port, async (c) => (await c.query<{ w: string }>("SELECT coalesce(last_archived_wal, '') AS w FROM pg_stat_archiver")).rows[0]?.w ?? '').catch(() => '');
      // Names order as positions within a timeline; a history file or .partial is not a segment.
      if (/^[0-9A-F]{24}$/.test(last) && last >= segment) return { archived: segment };
      if (Date.now() > deadline) return { skipped: `segment ${segment} was not archived within ${waitSeconds} s (last archived: ${last || 'none'}): check archive_command and the archiver's failures (pg_stat_archiver)` };
      progress.report({ phase: `waiting for ${segment} to be archived` });
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** When the archive's newest segment was written (its file's time in the repository). */
  function archivedUntilOf(info: { archiveId?: string }, segments: string[]): string | undefined {
    const last = segments[segments.length - 1];
    if (!last) return undefined;
    const dir = path.join(tier.repository, 'archive', tier.stanza, info.archiveId ?? '', last.slice(0, 16));
    const file = existsSync(dir) ? readdirSync(dir).find((f) => f.startsWith(last)) : undefined;
    return file ? statSync(path.join(dir, file)).mtime.toISOString() : undefined;
  }

  /** Whether the physical tier can recover the cluster now (disaster recovery and the drill ask
   * before choosing it over the nightly dump): a usable backup (ended before `before`, when
   * given) and the archive after it without a gap; the recovery point is the archive's newest
   * segment. Never refuses: an unusable tier is an answer with its reason. */
  async function physicalRecoveryPoint(input: { before?: string } = {}): Promise<PhysicalRecoveryPoint> {
    if (!tier.enabled || !tier.dataDirectory) return { usable: false, reason: 'the physical tier is off (physicalBackup.enabled)' };
    let info;
    try {
      await tool.program();
      tool.writeConfig();
      info = await tool.info();
    } catch (e) {
      return { usable: false, reason: `pgbackrest: ${(e instanceof CommandError ? tail(e.stderrTail || e.message, 300) : (e as Error).message).split('\n')[0]}` };
    }
    const usable = info.backups.filter((b) => !b.error);
    const at = input.before ? Date.parse(input.before) / 1000 : Infinity;
    const backup = usable.filter((b) => b.stoppedAt <= at).pop();
    if (!backup) return { usable: false, reason: usable.length ? `no physical backup ended before ${input.before} (the oldest ended ${new Date(usable[0]!.stoppedAt * 1000).toISOString()})` : `no physical backup of stanza ${tier.stanza} in ${tier.repository}` };
    const segments = tool.archivedSegments();
    const walTo = info.archiveMax ?? backup.walStop;
    const gaps = walGaps(segments, backup.walStart, walTo);
    if (gaps.length) return { usable: false, reason: `the WAL archive has a gap after backup ${backup.label} (missing ${gaps.slice(0, 3).join(', ')}${gaps.length > 3 ? ', …' : ''})` };
    const archivedUntil = archivedUntilOf(info, segments) ?? new Date(backup.stoppedAt * 1000).toISOString();
    return {
      usable: true,
      label: backup.label,
      type: backup.type,
      backupEndedAt: new Date(backup.stoppedAt * 1000).toISOString(),
      walFrom: backup.walStart,
      walTo,
      archivedUntil,
      ageSeconds: Math.max(0, Math.round((Date.now() - Date.parse(archivedUntil)) / 1000)),
    };
  }

  /** The live server's archiver: the last segment archived and when, failures, and how much WAL
   * is written but not archived yet (what a failure now would lose). */
  async function archiverState(): Promise<ArchiverState> {
    requireEnabled();
    const row = await superSql(
      "SELECT coalesce(last_archived_wal, ''), coalesce(extract(epoch FROM last_archived_time)::text, ''), failed_count, coalesce(extract(epoch FROM last_failed_time)::text, ''), pg_current_wal_lsn(), current_setting('wal_segment_size'), current_setting('archive_mode'), (SELECT coalesce(sum(size), 0) FROM pg_ls_waldir()) FROM pg_stat_archiver",
    );
    const [wal = '', archivedAt = '', failed = '0', failedAt = '', lsn = '0/0', segSize = '16MB', mode = 'off', walBytes = '0'] = row.split('|');
    return { ...archiverFigures({ wal, archivedAt, failed, failedAt, lsn, segSize, mode, now: Date.now() }), walBytes: Number(walBytes) };
  }

  function directories(runId: string): { copyDirectory: string; keepDirectory: string } {
    const live = tool.dataDirectory;
    // The run id's random end: its start is a timestamp (UUIDv7) shared by runs a minute apart.
    const id = runId.replace(/[^A-Za-z0-9]/g, '').slice(-12);
    return { copyDirectory: `${live}.restore-${id}`, keepDirectory: `${live}.before-${id}` };
  }

  /** Which backup a restore to `target` starts from, the WAL it replays, what it loses; refused
   * here, before anything is touched, when the backup or the WAL it needs is damaged or missing. */
  async function planClusterRestore(input: { target: RestoreTarget; runId: string; verify?: boolean }): Promise<ClusterRestorePlan> {
    requireEnabled();
    tool.writeConfig();
    const info = await tool.info();
    const usable = info.backups.filter((b) => !b.error);
    if (!usable.length) throw refuse(`no physical backup of stanza ${tier.stanza} in ${tier.repository}: run physical-backup first`);
    let backup: PhysicalBackupInfo | undefined;
    if (input.target.kind === 'time') {
      const at = Date.parse(input.target.time) / 1000;
      backup = usable.filter((b) => b.stoppedAt <= at).pop();
      if (!backup) throw refuse(`no physical backup ended before ${input.target.time}: the oldest ended at ${new Date(usable[0]!.stoppedAt * 1000).toISOString()}`);
    } else {
      backup = usable[usable.length - 1]!;
    }
    const walTo = info.archiveMax ?? backup.walStop;
    const segments = tool.archivedSegments();
    // A full verify reads every backup in the repository (pgBackRest 2.45's verify has no --set):
    // the dry run does it; a restore checks each file's checksum as it restores it, into a copy
    // beside the live server, which a damaged backup therefore never reaches.
    if (input.verify) {
      const report = await tool.verify(backup.label);
      if (!report.ok) throw refuse(`backup ${backup.label} is damaged; nothing was touched: ${report.problems.join('; ')}`, Failure.BackupDamaged);
    }
    const gaps = walGaps(segments, backup.walStart, walTo);
    if (gaps.length && input.target.kind === 'latest') {
      throw refuse(`the WAL archive has a gap after backup ${backup.label} (missing ${gaps.join(', ')}): a restore to the latest point would stop at the gap and silently lose everything after it; nothing was touched. Restore to a time before the gap (--to-time) if that is what you want.`, Failure.BackupDamaged);
    }
    const archivedUntil = archivedUntilOf(info, segments);
    let dataLoss: string;
    let dataLossSeconds: number | undefined;
    if (input.target.kind === 'time') dataLoss = `every change after ${input.target.time}`;
    else if (input.target.kind === 'name') dataLoss = `every change after the restore point "${input.target.name}"`;
    else {
      dataLossSeconds = archivedUntil ? Math.max(0, Math.round((Date.now() - Date.parse(archivedUntil)) / 1000)) : undefined;
      dataLoss = `changes not yet archived: those after the last archived segment ${walTo}${archivedUntil ? ` (archived ${archivedUntil}, ${dataLossSeconds} s ago)` : ''}; at most archive_timeout (${tier.archiveTimeoutSeconds} s) while the server runs`;
    }
    return { backup, walFrom: backup.walStart, walTo, archivedUntil, dataLoss, dataLossSeconds, ...directories(input.runId) };
  }

  async function pgCtl(args: string[], timeoutMs = 600_000): Promise<void> {
    const bin = await postgresServerDir(cfg.database.binDir);
    let command: string[];
    try {
      command = pgCtlArgs(bin, args);
    } catch (e) {
      throw refuse((e as Error).message);
    }
    await runCommand(command, { ...tool.runAs(), env: { ...process.env, HOME: '/tmp' }, cwd: '/tmp', timeoutMs });
  }

  /** A directory this tier names beside the data directory: `<data>.<kind>-<id>`, one level, no
   * other place (a restore's copy, or a switched-out data directory kept). */
  const isBeside = (dir: string, kind: 'restore' | 'before'): boolean => {
    const rest = dir.startsWith(`${tool.dataDirectory}.${kind}-`) ? dir.slice(tool.dataDirectory.length + kind.length + 2) : '';
    return /^[A-Za-z0-9]+$/.test(rest);
  };
  const isRestoreCopy = (dir: string): boolean => isBeside(dir, 'restore');

  /** The backup restored into a new data directory beside the live one, recovered to the target,
   * started on the restore port (loopback, not archiving), and promoted. The live server is not
   * touched. Idempotent: a copy left by an earlier attempt is removed first. */
  async function restoreClusterCopy(input: { label: string; target: RestoreTarget; copyDirectory: string; runId: string }): Promise<RestoredCluster> {
    requireEnabled();
    if (!isRestoreCopy(input.copyDirectory)) throw refuse(`refusing to restore into ${input.copyDirectory}: a restored copy goes beside the data directory, named ${tool.dataDirectory}.restore-<id>`);
    await discardClusterCopy({ copyDirectory: input.copyDirectory });
    return restoreAndStart({ ...input, directory: input.copyDirectory, port: tier.restorePort });
  }

  /** The DR drill's cluster from the physical tier: the backup restored into the drill
   * environment's own directory (one this run created and marked), recovered to the target and
   * started on the drill's port; its figures read. Production is only read (the repository). */
  async function restoreDrillCluster(input: { environment: string; port: number; label: string; target: RestoreTarget; runId: string; content?: boolean }): Promise<RestoredCluster & { figures: TableFigures; identity: string }> {
    requireEnabled();
    const base = path.join(cfg.dataDir, 'dr-drill');
    const directory = path.join(input.environment, 'postgres');
    if (!isDrillEnvironmentPath(base, input.environment) || !ownsDrillEnvironment(input.environment)) throw refuse(`refusing to restore into ${directory}: the drill restores only into an environment it created under ${base}`);
    if (existsSync(directory)) throw refuse(`${directory} exists: the drill restores into a new directory`);
    if (input.port === pg.target.port) throw refuse(`the drill cluster must not use production's port ${input.port}`);
    const restored = await restoreAndStart({ ...input, directory });
    const [figures, id] = await Promise.all([figuresAt(input.port, input.content !== false), identity(input.port, directory)]);
    return { ...restored, figures, identity: id };
  }

  /** pgbackrest restore of one backup into `directory`, recovery to the target, the server
   * started there on `port` (its own socket directory, loopback, archiving off: a copy must not
   * push WAL into the repository) and waited for until it leaves recovery. */
  async function restoreAndStart(input: { label: string; target: RestoreTarget; directory: string; port: number; runId: string }): Promise<RestoredCluster> {
    tool.writeConfig();
    const progress = progressReporter();
    mkdirSync(input.directory, { mode: 0o700 });
    const as = tool.runAs();
    if (as.uid !== undefined) chownSync(input.directory, as.uid, as.gid!);
    // Without a target the server recovers to the end of the archive and promotes by itself.
    const target =
      input.target.kind === 'time'
        ? ['--type=time', `--target=${serverTime(input.target.time)}`, '--target-action=promote']
        : input.target.kind === 'name'
          ? ['--type=name', `--target=${input.target.name}`, '--target-action=promote']
          : ['--type=default'];
    progress.report({ phase: `pgbackrest restore --set=${input.label}` }, true);
    const t0 = Date.now();
    try {
      await tool.run([`--pg1-path=${input.directory}`, `--set=${input.label}`, ...target, 'restore'], { signal: progress.signal, timeoutMs: 24 * 3600_000 });
    } catch (e) {
      const why = e instanceof CommandError ? tail(e.stderrTail || e.message, 800) : (e as Error).message;
      // A file whose bytes are not what the manifest says: the backup is damaged, and retrying the
      // restore cannot help.
      if (/corrupt|checksum|size mismatch|invalid/i.test(why)) throw refuse(`backup ${input.label} is damaged (found while restoring it into ${input.directory}); the live server was not touched: ${why}`, Failure.BackupDamaged);
      throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `pgbackrest restore: ${why}` });
    }
    writeFileSync(path.join(input.directory, 'zerotrustml-restore.json'), JSON.stringify({ runId: input.runId, label: input.label, target: input.target }));
    if (as.uid !== undefined) chownSync(path.join(input.directory, 'zerotrustml-restore.json'), as.uid, as.gid!);
    const restoreMs = Date.now() - t0;
    progress.report({ phase: `recovering on port ${input.port}` }, true);
    // A backup of a cluster that was itself restored holds that restore's log: start a new one.
    const log = path.join(input.directory, 'restore-check.log');
    await rm(log, { force: true });
    const t1 = Date.now();
    try {
      // -o reaches a shell unquoted: the directory goes in single quotes (and pgCtlArgs refuses, in
      // -D, the characters a shell would act on).
      await pgCtl(['-D', input.directory, '-w', '-t', '3600', '-l', log, '-o', `-p ${input.port} -c archive_mode=off -c unix_socket_directories=${shellQuote(input.directory)} -c listen_addresses=127.0.0.1`, 'start']);
    } catch (e) {
      const why = existsSync(log) ? tail(readFileSync(log, 'utf8'), 1200) : (e as Error).message;
      throw refuse(`the restored cluster did not start (nothing was switched; the live server was not touched): ${why}`, Failure.RestoreMismatch);
    }
    // Promoted: out of recovery.
    const deadline = Date.now() + 3600_000;
    // Polled over a plain connection (any role may ask), not a psql process per look.
    const inRecovery = (): Promise<boolean> => withClientAt(input.port, async (c) => (await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r !== false).catch(() => true);
    while (await inRecovery()) {
      if (Date.now() > deadline) throw refuse('the restored cluster is still in recovery after an hour');
      progress.report({ phase: 'waiting for the restored cluster to leave recovery' });
      await new Promise((r) => setTimeout(r, 50));
    }
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    const recovery = text.split('\n').filter((l) => /recovery|redo done|timeline|consistent/i.test(l)).map((l) => l.replace(/^\S+ \S+ \S+ \[\d+\] /, '')).slice(-8);
    const lastMatch = (re: RegExp): string | undefined => [...text.matchAll(re)].pop()?.[1];
    const lastTransactionAt = lastMatch(/last completed transaction was at log time (.+)$/gm) ?? lastMatch(/recovery stopping before commit of transaction \d+, time (.+)$/gm);
    return { recovery, lastTransactionAt: lastTransactionAt?.trim(), restoreMs, recoverMs: Date.now() - t1 };
  }

  async function withClientAt<T>(port: number, fn: (c: Client) => Promise<T>): Promise<T> {
    const c = new Client({ ...pg.clientConfig(), host: port === pg.target.port ? pg.target.host : '127.0.0.1', port, ssl: port === pg.target.port ? pg.clientConfig().ssl : false });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  const figuresAt = (port: number, content = true): Promise<TableFigures> => withClientAt(port, (c) => tableFigures(c, { content }));
  const countsAt = (port: number): Promise<{ rows: Record<string, number> }> => withClientAt(port, async (c) => ({ rows: await countRows(c, await listTables(c)) }));

  /** The restored copy's figures; the live server's too when it answers (what the restore would
   * take back); every table the backup had must be there. */
  /** Which cluster answers: its system identifier and timeline (a restored copy has the
   * source's identifier and a timeline of its own). */
  async function identity(port: number, socket?: string): Promise<string> {
    // The timeline WAL is written on now (a promoted copy's new one at once; the control file's
    // timeline only after a checkpoint, which would cost a second per restore for nothing else).
    return superSql("SELECT s.system_identifier || '/' || ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int FROM pg_control_system() s", port, socket);
  }

  async function checkClusterCopy(input: { label: string; copyDirectory: string; content?: boolean }): Promise<{ copy: TableFigures; live?: { rows: Record<string, number> }; missingTables: string[]; identity: string }> {
    // The copy's identity and full figures and the live server's row counts (what "rows behind"
    // needs), at once: the copy's figures take the time, the rest is a psql start and row counts.
    const [id, copy, live] = await Promise.all([identity(tier.restorePort, input.copyDirectory), figuresAt(tier.restorePort, input.content !== false), countsAt(pg.target.port).catch(() => undefined)]);
    const recorded = path.join(tier.workDirectory, `figures-${input.label}.json`);
    const atBackup = existsSync(recorded) ? (JSON.parse(readFileSync(recorded, 'utf8')) as TableFigures) : undefined;
    const missingTables = Object.keys(atBackup?.rows ?? {}).filter((t) => !(t in copy.rows));
    if (missingTables.length) throw refuse(`the restored copy lacks tables the backup had: ${missingTables.join(', ')}; nothing was switched`, Failure.RestoreMismatch);
    return { copy, live, missingTables, identity: id };
  }

  /** Stops a restored copy and removes its directory (only a directory named as a copy). */
  async function discardClusterCopy(input: { copyDirectory: string }): Promise<{ discarded: boolean }> {
    if (!isRestoreCopy(input.copyDirectory)) throw refuse(`refusing to remove ${input.copyDirectory}: not a restored copy`);
    if (!existsSync(input.copyDirectory)) return { discarded: false };
    if (existsSync(path.join(input.copyDirectory, 'postmaster.pid'))) await pgCtl(['-D', input.copyDirectory, '-m', 'immediate', '-w', 'stop'], 120_000).catch(() => undefined);
    await rm(input.copyDirectory, { recursive: true, force: true });
    return { discarded: true };
  }


  async function accepting(deadlineMs: number): Promise<void> {
    for (;;) {
      try {
        await pg.withClient(undefined, (c) => c.query('SELECT 1'));
        return;
      } catch (e) {
        if (Date.now() > deadlineMs) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** The restored copy was promoted while it did not archive (it must not, while only checked: a
   * rejected copy's timeline in the archive would be the one a later "latest" restore follows), so
   * its new timeline's history file, and any segment of that timeline it completed meanwhile, have
   * no archive status. Marked ready here, once the switched server archives, then the current
   * segment closed and archived: without the history file in the archive, a later restore to the
   * latest point would not know the timeline exists and stop where it began. */
  async function archiveNewTimeline(live: string): Promise<{ marked: string[]; archived?: string; skipped?: string }> {
    const wal = path.join(live, 'pg_wal');
    const status = path.join(wal, 'archive_status');
    const current = await superSql('SELECT pg_walfile_name(pg_current_wal_lsn())');
    const timeline = current.slice(0, 8);
    const as = tool.runAs();
    const marked: string[] = [];
    for (const f of readdirSync(wal)) {
      const history = /^[0-9A-F]{8}\.history$/.test(f);
      // Segments of this timeline before the current one; later names are recycled files.
      const completed = /^[0-9A-F]{24}$/.test(f) && f.startsWith(timeline) && f < current;
      if (!history && !completed) continue;
      if (existsSync(path.join(status, `${f}.done`)) || existsSync(path.join(status, `${f}.ready`))) continue;
      writeFileSync(path.join(status, `${f}.ready`), '');
      if (as.uid !== undefined) chownSync(path.join(status, `${f}.ready`), as.uid, as.gid!);
      marked.push(f);
    }
    return { marked, ...(await archiveCurrentWal()) };
  }

  /** How the switch stops and starts the live server: the configured database.service; for the
   * sandbox's own cluster (no service configured) pg_ctl itself, which is what the sandbox's
   * stand-in service runs, without starting node and checking roles twice inside the downtime. */
  function liveServer(): { stop: () => Promise<void>; start: () => Promise<void> } {
    if (!(cfg.database.managed && cfg.database.service === undefined)) return serviceControl(cfg.databaseService!);
    const dir = tool.dataDirectory;
    return {
      stop: async () => {
        try {
          await pgCtl(['-D', dir, '-m', 'fast', '-w', 'stop'], 600_000);
        } catch (e) {
          // Not running (killed, or its directory lost) is what a stop wants; anything else is not.
          const running = await pgCtl(['-D', dir, 'status'], 30_000).then(
            () => true,
            () => false,
          );
          if (running) throw e;
        }
      },
      start: () => pgCtl(['-D', dir, '-w', '-t', '600', '-l', path.join(dir, 'server.log'), 'start'], 660_000),
    };
  }

  /** The switch: the copy stopped, the live server stopped (through the database service), the
   * live directory kept under a new name, the copy moved into its place, the server started and
   * answering. Downtime is from the live server's stop to its first answer. A failure before the
   * start puts the old directory back and starts it. Idempotent: a live directory that is already
   * this run's copy is only started. */
  async function switchCluster(input: { copyDirectory: string; keepDirectory: string; runId: string }): Promise<{ downtimeMs: number; kept: string; timeline: { marked: string[]; archived?: string; skipped?: string } }> {
    requireEnabled();
    if (!cfg.databaseService) throw refuse('no database.service is configured: the switch must stop and start the server');
    const live = tool.dataDirectory;
    const marker = (dir: string): string | undefined => {
      try {
        return (JSON.parse(readFileSync(path.join(dir, 'zerotrustml-restore.json'), 'utf8')) as { runId?: string }).runId;
      } catch {
        return undefined;
      }
    };
    const service = liveServer();
    if (marker(live) === input.runId) {
      const t = Date.now();
      await service.start();
      await accepting(Date.now() + 600_000);
      const downtimeMs = Date.now() - t;
      await wakeCheckpointer();
      return { downtimeMs, kept: input.keepDirectory, timeline: await archiveNewTimeline(live) };
    }
    if (!isRestoreCopy(input.copyDirectory) || !isBeside(input.keepDirectory, 'before')) {
      throw refuse(`refusing to switch ${input.copyDirectory} in and keep the data directory as ${input.keepDirectory}: both go beside ${live}, named .restore-<id> and .before-<id>`);
    }
    if (!existsSync(input.copyDirectory) || marker(input.copyDirectory) !== input.runId) throw refuse(`the restored copy ${input.copyDirectory} of this run is not there; nothing was switched`);
    if (existsSync(input.keepDirectory)) throw refuse(`${input.keepDirectory} exists; nothing was switched`);
    // The copy and the live server stop together (each writes its shutdown checkpoint); the
    // downtime counts from the live server's stop.
    const t0 = Date.now();
    await Promise.all([pgCtl(['-D', input.copyDirectory, '-m', 'fast', '-w', 'stop'], 600_000), service.stop()]);
    // A lost data directory (the disaster the restore is for) has nothing to keep.
    const hadLive = existsSync(live);
    if (hadLive) renameSync(live, input.keepDirectory);
    try {
      renameSync(input.copyDirectory, live);
    } catch (e) {
      if (hadLive) {
        renameSync(input.keepDirectory, live);
        await service.start();
      }
      throw e;
    }
    try {
      await service.start();
      await accepting(Date.now() + 600_000);
    } catch (e) {
      // Back as it was: the copy aside again, the old directory in place, the old server started.
      await pgCtl(['-D', live, '-m', 'immediate', '-w', 'stop'], 120_000).catch(() => undefined);
      renameSync(live, input.copyDirectory);
      if (!hadLive) throw refuse(`the restored cluster did not start: ${(e as Error).message}; there was no data directory before, the copy is at ${input.copyDirectory}`);
      renameSync(input.keepDirectory, live);
      await service.start();
      throw refuse(`the restored cluster did not start in place of the live one; the old one is back and running: ${(e as Error).message}`);
    }
    const downtimeMs = Date.now() - t0;
    await wakeCheckpointer();
    return { downtimeMs, kept: hadLive ? input.keepDirectory : '(no data directory was there)', timeline: await archiveNewTimeline(live) };
  }

  /** After a switch: the live server is the checked copy (same identifier and timeline) and has
   * every table the copy had. Row counts may have moved on: writers reconnect at once. */
  async function verifySwitched(input: { identity: string; tables: string[] }): Promise<{ identity: string; missingTables: string[] }> {
    const id = await identity(pg.target.port);
    const tables = new Set(await withClientAt(pg.target.port, listTables));
    return { identity: id, missingTables: input.tables.filter((t) => !tables.has(t)) };
  }

  return {
    wakeCheckpointer: async (): Promise<void> => void (await wakeCheckpointer()),
    describePhysicalTarget,
    readArchivingState,
    applyArchivingSettings,
    createStanzaAndCheck,
    takePhysicalBackup,
    verifyPhysicalBackup,
    archiveCurrentWal,
    physicalRecoveryPoint,
    archiverState,
    planClusterRestore,
    restoreClusterCopy,
    restoreDrillCluster,
    checkClusterCopy,
    discardClusterCopy,
    switchCluster,
    verifySwitched,
  };
}
