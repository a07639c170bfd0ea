// The physical tier on a real PostgreSQL cluster of its own, archiving with pgBackRest, while a
// writer keeps committing rows: archiving set-up (and a second, idempotent run), a full and an
// incremental backup taken under writes, a restore to a time between two known writes (the first
// there, the second not), a rejected switch that leaves the old server running untouched, the
// server killed and restored to the latest point losing nothing older than the archive timeout,
// and a damaged backup and a gap in the WAL archive refused before anything is switched. Tables of
// shapes the sandbox does not have: a second schema with odd names and rows of a megabyte.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import type { DatabaseArchivingResult, PhysicalBackupResult, RestoreClusterResult } from '../../common/runbooks';
import { startCluster, stopCluster } from '../../sandbox/postgres-cluster';
import { archivingStatus } from '../../client/status';
import { tableFigures, type TableFigures } from '../../activities/physical-backup';
import { loadConfig } from '../../config/load';
import { testConfigYaml, testRoot } from '../support/env';
import { decide, temporalClient, waitFor } from '../support/stack';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

const queue = 'runbooks-test-pitr';
const root = path.join(testRoot, 'pitr');
const port = 55612;
const restorePort = 55613;
const metricsPort = 55614;
const dataDir = path.join(root, 'postgres');
const repo = path.join(root, 'backups', 'pgbackrest');
const configPath = path.join(testRoot, 'pitr.yaml');
const url = `postgres://zerotrustml@127.0.0.1:${port}/credits`;
const archiveTimeout = 5;

let client: Client;
let close: () => Promise<void>;
let worker: WorkerProcess;

/** A writer that commits one row every 20 ms and remembers when each commit returned. */
class Writer {
  readonly committed: Array<{ id: number; at: number }> = [];
  private stopped = false;
  private loop?: Promise<void>;
  errors = 0;

  start(): void {
    this.stopped = false;
    this.loop = (async () => {
      let c: PgClient | undefined;
      while (!this.stopped) {
        try {
          if (!c) {
            c = new PgClient({ connectionString: url, connectionTimeoutMillis: 2000 });
            c.on('error', () => undefined);
            await c.connect();
          }
          const r = await c.query<{ id: string }>(`INSERT INTO ledger (note) VALUES ('w') RETURNING id`);
          this.committed.push({ id: Number(r.rows[0]!.id), at: Date.now() });
        } catch {
          this.errors++;
          await c?.end().catch(() => undefined);
          c = undefined;
          await new Promise((r) => setTimeout(r, 200));
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      await c?.end().catch(() => undefined);
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

async function sql<T extends Record<string, unknown>>(text: string, p = port, user = 'zerotrustml'): Promise<T[]> {
  const c = new PgClient({ connectionString: `postgres://${user}@127.0.0.1:${p}/credits`, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

async function one<T extends Record<string, unknown>>(text: string, p = port, user = 'zerotrustml'): Promise<T> {
  const [row] = await sql<T>(text, p, user);
  if (!row) throw new Error(`no row from ${text}`);
  return row;
}

const postmasterPid = (): number => Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);

/** Forces the current WAL segment out and waits until the archiver has pushed it. */
async function archiveNow(): Promise<void> {
  const { w } = await one<{ w: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS w', port, 'postgres');
  await waitFor(`WAL ${w} archived`, async () => {
    const { last } = await one<{ last: string | null }>('SELECT last_archived_wal AS last FROM pg_stat_archiver', port, 'postgres');
    return last !== null && last >= w;
  }, 60_000);
}

/** The innermost failure of a failed run: its type and message. */
async function failureOf(handle: WorkflowHandle): Promise<{ type?: string; message?: string }> {
  let result: unknown;
  try {
    result = await handle.result();
  } catch (e) {
    let f = e as { cause?: unknown; type?: string; message?: string };
    while (f.cause) f = f.cause as typeof f;
    return { type: f.type, message: f.message };
  }
  throw new Error(`${handle.workflowId} did not fail: ${JSON.stringify(result)}`);
}

/** Waits until a run asks for an approval; a run that ended instead says how. */
async function untilAwaitingApproval(handle: WorkflowHandle): Promise<void> {
  await waitFor('awaiting approval', async () => {
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING') throw new Error(`the run ended ${d.status.name} instead: ${JSON.stringify(await failureOf(handle))}`);
    return (await handle.query<{ awaitingApproval: boolean }>('progress')).awaitingApproval;
  }, 180_000);
}

const start = (workflow: string, input: Record<string, unknown>): Promise<WorkflowHandle> =>
  client.workflow.start(workflow, { taskQueue: queue, workflowId: `pitr-${workflow}-${Date.now()}`, args: [{ trigger: 'manual', ...input }] });

beforeAll(async () => {
  ({ client, close } = await temporalClient());
  // The test stack's configuration with this cluster, data directory and task queue instead.
  const yaml = testConfigYaml()
    .replace(/^dataDir: .*$/m, `dataDir: ${root}`)
    .replace(/^ {2}url: postgres:.*$/m, `  url: ${url}`)
    .replace(/^backup:\n {2}directory: .*$/m, `backup:\n  directory: ${path.join(root, 'backups', 'postgres')}`)
    // No application: the shared test simulator is not this cluster's.
    .replace(/^application:\n(?: {2}.*\n| {4}.*\n)*/m, `application:\n  statusUrl: http://127.0.0.1:29999/status\n  managed: false\n`);
  writeFileSync(configPath, `${yaml}physicalBackup:\n  archiveTimeoutSeconds: ${archiveTimeout}\n  restorePort: ${restorePort}\n  metricsPort: ${metricsPort}\n`);
  await startCluster({ dir: dataDir, port, role: 'zerotrustml', database: 'credits' });
  await sql(`CREATE TABLE ledger (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), note text NOT NULL)`);
  await sql(`CREATE SCHEMA "Odd Schema"`);
  await sql(`CREATE TABLE "Odd Schema"."weird ""name""; drop" (k text PRIMARY KEY, blob text)`);
  await sql(`INSERT INTO "Odd Schema"."weird ""name""; drop" SELECT 'k' || g, repeat(md5(g::text), 32768) FROM generate_series(1, 8) g`);
  // Column types without a hash function (point, json): the fingerprint hashes these rows' text.
  await sql(`CREATE TABLE "Odd Schema".shapes (id int PRIMARY KEY, at point, doc json)`);
  await sql(`INSERT INTO "Odd Schema".shapes SELECT g, point(g, -g), json_build_object('g', g) FROM generate_series(1, 50) g`);
  worker = await startWorkerProcess({ taskQueue: queue, configPath });
}, 180_000);

afterAll(async () => {
  await writer.stop();
  await worker?.stop();
  await close();
  await stopCluster({ dir: dataDir }, 'immediate').catch(() => undefined);
  for (const d of existsSync(root) ? readdirSync(root) : []) {
    if (d.startsWith('postgres.')) await stopCluster({ dir: path.join(root, d) }, 'immediate').catch(() => undefined);
  }
});

const writer = new Writer();
/** When the restore to a time switched: rows committed before it may be gone on purpose. */
let recoveredAt = 0;

test('archiving is set up once (a restart for archive_mode), and a second run changes nothing', async () => {
  const first = (await (await start('databaseArchiving', {})).result()) as DatabaseArchivingResult;
  expect(first).toMatchObject({ outcome: 'succeeded', restarted: true, changed: expect.arrayContaining(['archive_mode', 'archive_command', 'archive_timeout']) });
  const { mode, timeout } = await one<{ mode: string; timeout: string }>(`SELECT current_setting('archive_mode') AS mode, current_setting('archive_timeout') AS timeout`);
  expect([mode, timeout]).toEqual(['on', `${archiveTimeout}s`]);
  const second = (await (await start('databaseArchiving', {})).result()) as DatabaseArchivingResult;
  expect(second).toMatchObject({ outcome: 'succeeded', restarted: false, changed: [] });
}, 180_000);

test('a full and an incremental backup under writes, each verified', async () => {
  writer.start();
  await waitFor('rows written', async () => writer.committed.length > 50);
  const full = (await (await start('physicalBackup', { type: 'full' })).result()) as PhysicalBackupResult;
  expect(full).toMatchObject({ outcome: 'succeeded', type: 'full', verified: true });
  expect(full.tables['"Odd Schema"."weird ""name""; drop"']).toBe(8);
  expect(full.tables['"Odd Schema".shapes']).toBe(50);
  await waitFor('more rows', async () => writer.committed.length > 200);
  const incr = (await (await start('physicalBackup', { type: 'incr' })).result()) as PhysicalBackupResult;
  expect(incr).toMatchObject({ outcome: 'succeeded', type: 'incr', verified: true });
  expect(incr.label.startsWith(full.label)).toBe(true);
  expect(incr.repositoryDelta).toBeLessThan(full.repositoryDelta);
  // What `runbook status` shows of it: WAL reaching the archive, no failure, the newest backup.
  const status = await archivingStatus(loadConfig({ file: configPath, env: {} }));
  expect(status).toMatchObject({ failing: false, failedCount: 0, latestPhysicalBackup: { label: incr.label, type: 'incr' }, problems: [] });
  expect(status!.lastArchivedWal).toMatch(/^[0-9A-F]{24}/); // a segment, or a backup-label file named after one
  expect(status!.latestPhysicalBackup!.ageSeconds).toBeLessThan(120);
}, 300_000);

test('the fingerprint changes with any value of any table, hashed by value or (point, json) by text; the counts do not', async () => {
  const figures = async (content: boolean): Promise<TableFigures> => {
    const c = new PgClient({ connectionString: url });
    await c.connect();
    try {
      return await tableFigures(c, { content });
    } finally {
      await c.end();
    }
  };
  await writer.stop();
  try {
    const [before, counts] = [await figures(true), await figures(false)];
    await sql(`UPDATE "Odd Schema".shapes SET at = point(1, 1.5) WHERE id = 7`);
    const afterShapes = await figures(true);
    expect(afterShapes.fingerprint).not.toBe(before.fingerprint);
    expect(afterShapes.rows).toEqual(before.rows);
    await sql(`UPDATE "Odd Schema"."weird ""name""; drop" SET blob = blob || 'x' WHERE k = 'k3'`);
    const afterWeird = await figures(true);
    expect(afterWeird.fingerprint).not.toBe(afterShapes.fingerprint);
    expect((await figures(false)).fingerprint).toBe(counts.fingerprint);
    expect(counts.fingerprint).toMatch(/^counts:/);
  } finally {
    writer.start();
  }
});

/** The worker's physical tier metrics, by name (and labels). */
async function metrics(): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return Object.fromEntries(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
}

test('the worker serves the archiver and backup figures for Prometheus; a failing archive_command shows as failing until it works again', async () => {
  const now = Date.now() / 1000;
  const m = await metrics();
  expect(m).toMatchObject({
    zerotrustml_wal_archiving_enabled: 1,
    zerotrustml_wal_archive_failing: 0,
    zerotrustml_wal_archive_timeout_seconds: archiveTimeout,
    'zerotrustml_physical_tier_read_error{part="archiver"}': 0,
    'zerotrustml_physical_tier_read_error{part="backups"}': 0,
    'zerotrustml_physical_tier_read_error{part="filesystem"}': 0,
  });
  expect(now - m.zerotrustml_wal_archive_last_success_timestamp_seconds!).toBeLessThan(120);
  expect(now - m['zerotrustml_physical_backup_last_completion_timestamp_seconds{type="incr"}']!).toBeLessThan(300);
  expect(m['zerotrustml_physical_backup_last_completion_timestamp_seconds{type="full"}']).toBeLessThanOrEqual(m['zerotrustml_physical_backup_last_completion_timestamp_seconds{type="incr"}']!);
  expect(m.zerotrustml_pg_wal_bytes).toBeGreaterThan(0);
  expect(m.zerotrustml_pg_wal_filesystem_free_bytes).toBeGreaterThan(0);
  expect(m.zerotrustml_pg_wal_filesystem_size_bytes).toBeGreaterThan(m.zerotrustml_pg_wal_filesystem_free_bytes!);

  const command = (await one<{ c: string }>("SELECT current_setting('archive_command') AS c", port, 'postgres')).c;
  await sql(`ALTER SYSTEM SET archive_command = 'false'`, port, 'postgres');
  await sql('SELECT pg_reload_conf()', port, 'postgres');
  try {
    await sql('SELECT pg_switch_wal()', port, 'postgres');
    await waitFor('archiving failing', async () => (await metrics()).zerotrustml_wal_archive_failing === 1, 60_000);
    expect((await metrics()).zerotrustml_wal_archive_failures_total).toBeGreaterThan(0);
  } finally {
    await sql(`ALTER SYSTEM SET archive_command = '${command.replace(/'/g, "''")}'`, port, 'postgres');
    await sql('SELECT pg_reload_conf()', port, 'postgres');
  }
  await waitFor('archiving again', async () => (await metrics()).zerotrustml_wal_archive_failing === 0, 120_000);
}, 300_000);

test('restore to a time between two writes: a rejected switch leaves the old server untouched; an accepted one has the first write and not the second', async () => {
  await sql(`INSERT INTO ledger (note) VALUES ('first')`);
  await new Promise((r) => setTimeout(r, 1000));
  const { t } = await one<{ t: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`);
  await new Promise((r) => setTimeout(r, 1000));
  await sql(`INSERT INTO ledger (note) VALUES ('second')`);
  await archiveNow();

  const dry = (await (await start('restoreCluster', { toTime: t, dryRun: true })).result()) as RestoreClusterResult;
  expect(dry.outcome).toBe('dry-run');
  expect(dry.plan!.join('\n')).toMatch(new RegExp(`every change after ${t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

  const pidBefore = postmasterPid();
  const asked = await start('restoreCluster', { toTime: t, requireApproval: true });
  await untilAwaitingApproval(asked);
  const copies = readdirSync(root).filter((d) => d.startsWith('postgres.restore-'));
  expect(copies).toHaveLength(1);
  const rowsBeforeReject = writer.committed.length;
  await decide(asked, 'oncall-b', { approved: false, reason: 'not this one' });
  expect(((await asked.result()) as RestoreClusterResult).outcome).toBe('rejected');
  expect(readdirSync(root).filter((d) => d.startsWith('postgres.restore-'))).toEqual([]);
  expect(postmasterPid()).toBe(pidBefore);
  await waitFor('writes go on', async () => writer.committed.length > rowsBeforeReject + 20);

  const done = (await (await start('restoreCluster', { toTime: t })).result()) as RestoreClusterResult;
  expect(done).toMatchObject({ outcome: 'succeeded', keptDirectory: expect.stringContaining('postgres.before-'), newTimelineArchived: true });
  expect(existsSync(done.keptDirectory!)).toBe(true);
  // The server's own account of where recovery stopped: the last transaction before the target.
  const recoveredTo = Date.parse(done.recoveredTo!.replace(' ', 'T').replace(/\+00$/, 'Z'));
  expect(recoveredTo).toBeLessThanOrEqual(Date.parse(t));
  expect(recoveredTo).toBeGreaterThan(Date.parse(t) - 5000);
  const notes = (await sql<{ note: string }>(`SELECT note FROM ledger WHERE note IN ('first', 'second')`)).map((r) => r.note);
  expect(notes).toEqual(['first']);
  const big = await sql<{ n: string; len: number }>(`SELECT count(*) AS n, min(length(blob)) AS len FROM "Odd Schema"."weird ""name""; drop"`);
  expect(big[0]).toEqual({ n: '8', len: 32 * 32768 });
  expect(done.downtimeMs).toBeGreaterThan(0);
  recoveredAt = Date.now();
}, 600_000);

test('restore to a named restore point: what was committed before it is there, what came after is not', async () => {
  await sql(`INSERT INTO ledger (note) VALUES ('before the point')`);
  await one(`SELECT pg_create_restore_point('before-batch-7') AS lsn`, port, 'postgres');
  await sql(`INSERT INTO ledger (note) VALUES ('after the point')`);
  await archiveNow();
  const done = (await (await start('restoreCluster', { toName: 'before-batch-7' })).result()) as RestoreClusterResult;
  expect(done).toMatchObject({ outcome: 'succeeded', target: 'restore point "before-batch-7"', newTimelineArchived: true });
  const notes = (await sql<{ note: string }>(`SELECT note FROM ledger WHERE note IN ('before the point', 'after the point')`)).map((r) => r.note);
  expect(notes).toEqual(['before the point']);
  recoveredAt = Date.now();
}, 300_000);

test('the server killed under writes: restore to the latest point loses nothing older than the archive timeout', async () => {
  await waitFor('writes on the recovered cluster', async () => writer.committed.filter((c) => c.at > Date.now() - 2000).length > 20, 60_000);
  await new Promise((r) => setTimeout(r, 3 * archiveTimeout * 1000));
  const killedAt = Date.now();
  process.kill(postmasterPid(), 'SIGKILL');
  await writer.stop();
  const since = writer.committed.filter((c) => c.at > recoveredAt);
  const safe = since.filter((c) => c.at < killedAt - (archiveTimeout + 3) * 1000);
  expect(safe.length).toBeGreaterThan(100);

  const done = (await (await start('restoreCluster', {})).result()) as RestoreClusterResult;
  expect(done.outcome).toBe('succeeded');
  const ids = new Set((await sql<{ id: string }>('SELECT id FROM ledger')).map((r) => Number(r.id)));
  const lost = safe.filter((c) => !ids.has(c.id));
  expect(lost).toEqual([]);
  const lostRecent = since.filter((c) => !ids.has(c.id)).length;
  process.stderr.write(`latest restore after kill: ${since.length} rows committed, ${lostRecent} lost (all within ${archiveTimeout + 3} s of the kill); downtime ${done.downtimeMs} ms\n`);
}, 600_000);

test('a damaged backup and a gap in the WAL archive are refused before anything is touched', async () => {
  // Some WAL after the newest backup, so the archive has segments to lose.
  for (let i = 0; i < 3; i++) {
    await sql(`INSERT INTO ledger (note) VALUES ('gap ${i}')`);
    await archiveNow();
  }
  const pidBefore = postmasterPid();
  const backupRoot = path.join(repo, 'backup', 'credits');
  const newest = readdirSync(backupRoot).filter((d) => /^\d{8}-\d{6}F/.test(d)).sort().pop()!;
  const file = execFileSync('find', [path.join(backupRoot, newest, 'pg_data', 'base'), '-type', 'f', '-size', '+8k'], { encoding: 'utf8' }).split('\n')[0]!;
  const original = readFileSync(file);
  const damaged = Buffer.from(original);
  damaged.write('garbage', 64);
  writeFileSync(file, damaged);
  try {
    expect(await failureOf(await start('restoreCluster', {}))).toMatchObject({ type: 'BackupDamaged', message: expect.stringMatching(/damaged.*not touched/) });
  } finally {
    writeFileSync(file, original);
  }
  expect(postmasterPid()).toBe(pidBefore);
  expect(readdirSync(root).filter((d) => d.startsWith('postgres.restore-'))).toEqual([]);

  const archiveRoot = path.join(repo, 'archive', 'credits');
  const segments = execFileSync('find', [archiveRoot, '-type', 'f', '-name', '0*-*'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort((a, b) => path.basename(a).localeCompare(path.basename(b)));
  const victim = segments[segments.length - 2]!;
  renameSync(victim, `${victim}.moved`);
  try {
    expect(await failureOf(await start('restoreCluster', {}))).toMatchObject({ type: 'BackupDamaged', message: expect.stringMatching(/WAL archive has a gap/) });
  } finally {
    renameSync(`${victim}.moved`, victim);
  }
  expect(postmasterPid()).toBe(pidBefore);
}, 300_000);

test('a time before every backup (a typo such as year 0001) is refused by the plan before anything is touched', async () => {
  const pidBefore = postmasterPid();
  expect(await failureOf(await start('restoreCluster', { toTime: '0001-01-01T00:00:00Z' }))).toMatchObject({ type: 'PreconditionFailed', message: expect.stringMatching(/^no physical backup ended before 0001-01-01T00:00:00Z: the oldest ended at \d{4}-/) });
  expect(postmasterPid()).toBe(pidBefore);
  expect(readdirSync(root).filter((d) => d.startsWith('postgres.restore-'))).toEqual([]);
}, 120_000);

test('the data directory lost with its server: restore to the latest point puts a recovered one in its place', async () => {
  await sql(`INSERT INTO ledger (note) VALUES ('before the loss')`);
  await archiveNow();
  await stopCluster({ dir: dataDir }, 'immediate');
  const lost = `${dataDir}.lost-by-test`;
  renameSync(dataDir, lost);
  const done = (await (await start('restoreCluster', {})).result()) as RestoreClusterResult;
  expect(done).toMatchObject({ outcome: 'succeeded', keptDirectory: '(no data directory was there)' });
  expect((await sql<{ note: string }>(`SELECT note FROM ledger WHERE note = 'before the loss'`)).length).toBe(1);
  rmSync(lost, { recursive: true, force: true });
}, 300_000);
