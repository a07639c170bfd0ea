// Disaster recovery and the DR drill on the test stack: the PostgreSQL data directory and the
// conductor's data are wiped and `disaster-recovery` brings both back with the data they had; a
// second recovery while one runs is refused; the drill leaves production untouched and reports a
// pass; a drill on a damaged backup fails with a clear report and leaves nothing behind.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { backupFileName } from '../../common/backup-manifest';
import type { DisasterRecoveryResult } from '../../workflows/disaster-recovery';
import type { DrDrillResult } from '../../workflows/dr-drill';
import { serviceControl } from '../../adapters/service-control';
import { conductorClient } from '../../adapters/conductor';
import { makeConsistent } from '../support/consistency';
import { testRoot } from '../support/env';
import { fingerprint } from '../support/fingerprint';
import { runCli, temporalClient, testConfig, waitFor, withPg } from '../support/stack';

const config = testConfig();
const app = serviceControl(config.applicationService!);
let client: Client;
let close: () => Promise<void>;

/** The data as it was: rows up to the ids that existed, so credits the restarted application adds
 * afterwards do not count. */
async function dataFingerprint(upTo?: Record<string, number>): Promise<{ tables: Record<string, string>; maxIds: Record<string, number> }> {
  return withPg('credits', async (c) => {
    const tables: Record<string, string> = {};
    const maxIds: Record<string, number> = {};
    for (const t of ['credits', 'audit_trail', 'byzantine_detections']) {
      maxIds[t] = upTo?.[t] ?? Number((await c.query(`SELECT coalesce(max(id), 0) AS m FROM ${t}`)).rows[0].m);
      tables[t] = (await c.query(`SELECT md5(string_agg(x::text, E'\\n' ORDER BY x.id)) AS h FROM ${t} x WHERE id <= $1`, [maxIds[t]])).rows[0].h;
    }
    for (const t of ['nodes', 'detection_settings']) tables[t] = (await c.query(`SELECT md5(string_agg(x::text, E'\\n' ORDER BY x::text)) AS h FROM ${t} x`)).rows[0].h;
    return { tables, maxIds };
  });
}

async function dhtCredits(): Promise<Map<string, number>> {
  const c = conductorClient(config);
  try {
    const out = new Map<string, number>();
    for await (const x of c.allCredits()) out.set(x.credit_id, Number(x.amount));
    return out;
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  ({ client, close } = await temporalClient());
  await app.stop();
  await makeConsistent();
  for (const runbook of ['database-backup', 'dht-export', 'config-backup']) {
    const r = await runCli(['run', runbook, '--wait', '--json']);
    expect({ runbook, code: r.code, stderr: r.stderr }).toEqual({ runbook, code: 0, stderr: '' });
  }
});
afterAll(async () => {
  await app.stop();
  await close();
});

test('the configuration backup archives the configured files with a manifest, read back', async () => {
  const r = JSON.parse((await runCli(['run', 'config-backup', '--wait', '--json', '--input', '{"key":"20200102_024500"}'])).stdout) as { path: string; files: string[]; missing: string[] };
  expect(r.files).toContain(path.join(testRoot, 'runbooks.yaml'));
  expect(r.missing.length).toBeGreaterThan(0); // the monitoring configs do not exist in the test stack
  const manifest = JSON.parse(readFileSync(`${r.path}.manifest.json`, 'utf8')) as { files: Array<{ path: string; sha256: string }>; verified?: object };
  expect(manifest.verified).toBeDefined();
  expect(manifest.files.map((f) => f.path)).toEqual(r.files);
});

test('wiped PostgreSQL and conductor data: disaster-recovery brings both back; a second one is refused', async () => {
  // No destructive run left over by another suite may hold a target: the recovery would be refused
  // (rightly) after the wipe below, and every suite after this one would find the system down.
  const locks: string[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowType = "targetLock" AND ExecutionStatus = "Running"` })) locks.push(w.workflowId);
  expect(locks).toEqual([]);
  const before = await dataFingerprint();
  const dhtBefore = await dhtCredits();
  await serviceControl(config.databaseService!).stop();
  await serviceControl(config.conductorService).stop();
  rmSync(path.join(testRoot, 'postgres'), { recursive: true, force: true });
  rmSync(config.conductorDataDir, { recursive: true, force: true });

  const first = await runCli(['run', 'disaster-recovery']);
  expect(first.code).toBe(0);
  const second = await runCli(['run', 'disaster-recovery']);
  expect(second.code).toBe(2);
  expect(second.stderr).toMatch(/disaster-recovery is already running \(workflow disaster-recovery\): one at a time/);

  const r = (await client.workflow.getHandle('disaster-recovery').result()) as DisasterRecoveryResult;
  expect(r.outcome).toBe('succeeded');
  expect(r.steps.map((s) => [s.step, s.outcome])).toEqual([
    ['check prerequisites', 'succeeded'],
    ['lock the targets', 'succeeded'],
    ['provision', 'succeeded'],
    ['restore the database', 'succeeded'],
    ['restore the DHT', 'succeeded'],
    ['check totals', 'succeeded'],
    ['start the application', 'succeeded'],
    ['verify', 'succeeded'],
  ]);
  expect(r.rtoMs).toBeGreaterThanOrEqual(r.steps.reduce((a, s) => a + s.durationMs, 0) - 1000);
  expect(r.rpo.databaseSeconds).toBeGreaterThanOrEqual(0);
  expect(r.rpo.configSeconds).toBeDefined();

  await app.stop();
  expect(await dataFingerprint(before.maxIds)).toEqual(before);
  const dhtAfter = await dhtCredits();
  for (const [id, amount] of dhtBefore) expect([id, dhtAfter.get(id)]).toEqual([id, amount]);
});

test('a DR drill leaves production as it was and reports a pass', async () => {
  await makeConsistent();
  const before = await withPg('credits', fingerprint);
  const dhtBefore = (await dhtCredits()).size;
  const r = JSON.parse((await runCli(['run', 'dr-drill', '--wait', '--json'])).stdout) as DrDrillResult;
  expect(r.outcome).toBe('passed');
  expect(r.tornDown).toBe(true);
  expect(existsSync(r.environment.dir)).toBe(false);
  expect(r.steps.map((s) => s.step)).toEqual(['no other drill running', 'check prerequisites', 'provision the drill environment', 'restore the database', 'restore the DHT', 'tear down']);
  expect(r.report!.markdown).toMatch(/: PASSED\n\n- Recovery time achieved \(RTO\): [\d.]+ s\n- Recovery point achieved \(RPO\): database backup/);
  expect(readFileSync(r.report!.path, 'utf8')).toBe(r.report!.markdown);
  expect(await withPg('credits', fingerprint)).toEqual(before);
  expect((await dhtCredits()).size).toBe(dhtBefore);
});

test('a drill on a damaged backup fails with a clear report and leaves nothing behind', async () => {
  // A copy of the latest backup with one byte changed, under a manifest of its own.
  const latest = (await waitFor('a verified backup', async () => {
    const dir = config.backupDirectory;
    const manifests = readdirSync(dir).filter((f) => f.endsWith('.manifest.json')).sort();
    return manifests.length ? path.join(dir, manifests[manifests.length - 1]!) : undefined;
  }))!;
  const m = JSON.parse(readFileSync(latest, 'utf8')) as { key: string; file: string; database: string; compression: 'zstd' | 'gzip' | 'none' };
  const key = '20200101_000000';
  const file = backupFileName(m.database, key, m.compression);
  const damaged = path.join(config.backupDirectory, file);
  copyFileSync(path.join(config.backupDirectory, m.file), damaged);
  const bytes = readFileSync(damaged);
  const at = Math.floor(bytes.length / 2);
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
  writeFileSync(damaged, bytes);
  writeFileSync(`${damaged}.manifest.json`, JSON.stringify({ ...m, key, file }));
  try {
    const cli = await runCli(['run', 'dr-drill', '--wait', '--json', '--input', JSON.stringify({ backup: file })]);
    // A FAILED drill is a failure: a script sees exit 1.
    expect(cli.code).toBe(1);
    const r = JSON.parse(cli.stdout) as DrDrillResult;
    expect(r.outcome).toBe('failed');
    expect(r.failedStep).toBe('restore the database');
    expect(r.error).toMatch(/SHA-256|checksum|damaged/i);
    expect(r.tornDown).toBe(true);
    expect(existsSync(r.environment.dir)).toBe(false);
    expect(r.report!.markdown).toMatch(/: FAILED[\s\S]*\*\*Failed step: restore the database\*\*/);
  } finally {
    rmSync(damaged, { force: true });
    rmSync(`${damaged}.manifest.json`, { force: true });
  }
});

test('a disaster-recovery dry-run shows the recovery point and the plan, and changes nothing', async () => {
  const before = await withPg('credits', fingerprint);
  const r = JSON.parse((await runCli(['run', 'disaster-recovery', '--dry-run', '--wait', '--json'])).stdout) as DisasterRecoveryResult;
  expect(r.outcome).toBe('dry-run');
  expect(r.plan![0]).toMatch(/^recovery point: database backup .*credits_\d{8}_\d{6}\.dump\.zst \([^)]* old\), DHT export /);
  expect(r.steps.map((s) => s.step)).toEqual(['check prerequisites']);
  expect(await withPg('credits', fingerprint)).toEqual(before);
});

// The physical tier on the test stack's own cluster: archiving set up (a restart), a physical
// backup, a change made after every backup, then everything wiped. The recovery takes the cluster
// to the last archived WAL (the change is there; the dumps do not have it), and the drill
// rehearses a recovery to a point in time between two changes. These run last in this file: from
// here on the test stack's cluster archives.
describe('with WAL archiving on', () => {
  const audit = (note: string): Promise<unknown> =>
    withPg('credits', (c) => c.query(`INSERT INTO audit_trail (credit_id, action, actor, details, at) VALUES ('dr-test', $1, 'disaster-recovery.test', '{}', now())`, [note]));
  const notes = (): Promise<string[]> => withPg('credits', async (c) => (await c.query<{ action: string }>(`SELECT action FROM audit_trail WHERE credit_id = 'dr-test' ORDER BY id`)).rows.map((r) => r.action));
  /** The current WAL segment closed and archived (as a running server does within archive_timeout). */
  const archiveNow = (): Promise<unknown> =>
    withPg(
      'credits',
      async (c) => {
        const { w } = (await c.query<{ w: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS w')).rows[0]!;
        await waitFor(`WAL ${w} archived`, async () => ((await c.query<{ l: string | null }>('SELECT last_archived_wal AS l FROM pg_stat_archiver')).rows[0]!.l ?? '') >= w, 60_000);
      },
      'postgres',
    );

  beforeAll(async () => {
    await app.stop();
    for (const [runbook, input] of [['database-archiving', '{}'], ['physical-backup', '{"type":"full"}']] as const) {
      const r = await runCli(['run', runbook, '--wait', '--json', '--input', input]);
      expect({ runbook, code: r.code, stderr: r.stderr }).toEqual({ runbook, code: 0, stderr: '' });
    }
  }, 300_000);

  test('disaster-recovery restores the cluster to the last archived WAL: a change newer than every dump is back, RPO in seconds', async () => {
    await makeConsistent();
    await app.stop();
    // The DHT comes back from its export: one of the DHT as it is now.
    expect((await runCli(['run', 'dht-export', '--wait', '--json'])).code).toBe(0);
    await audit('after every dump');
    await archiveNow();
    const before = await dataFingerprint();
    const dhtBefore = await dhtCredits();
    await serviceControl(config.databaseService!).stop();
    await serviceControl(config.conductorService).stop();
    rmSync(path.join(testRoot, 'postgres'), { recursive: true, force: true });
    rmSync(config.conductorDataDir, { recursive: true, force: true });

    const cli = await runCli(['run', 'disaster-recovery', '--wait', '--json']);
    expect({ code: cli.code, stderr: cli.stderr }).toEqual({ code: 0, stderr: '' });
    const r = JSON.parse(cli.stdout) as DisasterRecoveryResult;
    expect(r.outcome).toBe('succeeded');
    expect(r.rpo.databaseTier).toBe('physical');
    expect(r.physical).toMatchObject({ usable: true, type: 'full' });
    // The archive's newest segment is the one this test closed a moment before the wipe.
    expect(r.rpo.databaseSeconds).toBeLessThan(60);
    expect(r.steps.map((s) => [s.step, s.outcome])).toEqual([
      ['check prerequisites', 'succeeded'],
      ['lock the targets', 'succeeded'],
      ['provision', 'succeeded'],
      ['restore the database', 'succeeded'],
      ['restore the DHT', 'succeeded'],
      ['check totals', 'succeeded'],
      ['start the application', 'succeeded'],
      ['verify', 'succeeded'],
    ]);
    expect(r.steps.find((s) => s.step === 'restore the database')!.detail).toMatch(/^succeeded: restore-cluster to the latest archived point from \d{8}-\d{6}F/);
    await app.stop();
    expect(await notes()).toContain('after every dump');
    expect(await dataFingerprint(before.maxIds)).toEqual(before);
    const dhtAfter = await dhtCredits();
    for (const [id, amount] of dhtBefore) expect([id, dhtAfter.get(id)]).toEqual([id, amount]);
  }, 600_000);

  test('the drill recovers a copy to a point in time between two changes, proves the RPO, and leaves production as it was', async () => {
    await app.stop();
    // A backup on the recovered cluster's timeline, then two changes 6 s apart; the drill starts
    // within 3 s of the second (the CLI's own start included) and recovers to 4 s before its
    // start: between them.
    expect((await runCli(['run', 'physical-backup', '--wait', '--json', '--input', '{"type":"incr"}'])).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    await audit('before the drill point');
    await new Promise((r) => setTimeout(r, 6000));
    await audit('after the drill point');
    const rowsNow = await withPg('credits', async (c) => {
      let n = 0;
      for (const t of (await c.query<{ t: string }>(`SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)).rows) {
        n += Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${t.t}`)).rows[0]!.n);
      }
      return n;
    });
    const before = await withPg('credits', fingerprint);
    const cli = await runCli(['run', 'dr-drill', '--wait', '--json', '--input', '{"recoverToSecondsAgo":4}']);
    const r = JSON.parse(cli.stdout) as DrDrillResult;
    expect({ code: cli.code, outcome: r.outcome, error: r.error }).toEqual({ code: 0, outcome: 'passed', error: undefined });
    expect(r.tornDown).toBe(true);
    expect(existsSync(r.environment.dir)).toBe(false);
    expect(r.pointInTime).toBeDefined();
    process.stderr.write(`${r.report!.markdown}\n`);
    // Everything but the change made after the point.
    expect(r.pointInTime!.rows).toBe(rowsNow - 1);
    expect(r.pointInTime!.rpoMet).toBe(true);
    expect(r.report!.markdown).toMatch(/: PASSED\n\n- Recovery time achieved \(RTO\): [\d.]+ s\n- Recovery point achieved \(RPO\): [\d.]+ (ms|s) of WAL not yet archived at the drill's start \(goal: at most archive_timeout, 60 s\): met\n- Point-in-time recovery: physical backup \S+ recovered to /);
    expect(await withPg('credits', fingerprint)).toEqual(before);
  }, 600_000);

  test('without any dump the recovery still starts from the physical tier; asked for the logical tier it refuses, naming why', async () => {
    const dir = config.backupDirectory;
    const aside = path.join(testRoot, 'dumps-aside');
    mkdirSync(aside, { recursive: true });
    const moved = readdirSync(dir).filter((f) => f.startsWith('credits_'));
    expect(moved.length).toBeGreaterThan(0);
    for (const f of moved) renameSync(path.join(dir, f), path.join(aside, f));
    try {
      const dry = JSON.parse((await runCli(['run', 'disaster-recovery', '--dry-run', '--wait', '--json'])).stdout) as DisasterRecoveryResult;
      expect(dry.outcome).toBe('dry-run');
      expect(dry.rpo.databaseTier).toBe('physical');
      expect(dry.plan![0]).toMatch(/^recovery point: the database to the last archived WAL/);
      expect(dry.steps[0]!.detail).toMatch(/no database backup \(/);
      const logical = await runCli(['run', 'disaster-recovery', '--dry-run', '--wait', '--json', '--input', '{"tier":"logical"}']);
      expect(logical.code).toBe(1);
      expect((JSON.parse(logical.stdout) as { error: string }).error).toMatch(/disaster recovery cannot start: .*database backup/);
    } finally {
      for (const f of moved) renameSync(path.join(aside, f), path.join(dir, f));
    }
  }, 300_000);
});
