// The destructive runbooks against shapes they were not tuned on, and against each other:
// - a database whose name is 63 bytes of Unicode with spaces and quotes (PostgreSQL's limit: a
//   "<name>_restore_x" would be cut back to the live name), with a second schema, odd identifiers
//   and large rows, backed up and restored byte for byte with a heartbeat timeout shorter than the
//   steps themselves (they must heartbeat all along);
// - a backup of that database after it was emptied: flagged, passed over by "latest";
// - two restores, and a restore and a disaster recovery, against one target at once: the second
//   is refused with the id of the first, and runs once the first is done;
// - a DR drill on a port it may not use: it fails, tears down nothing it did not create, and the
//   CLI exits 1; a production restore waiting for a human: `run --wait` exits 3.
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type WorkflowFailedError, type Client } from '@temporalio/client';
import type { DatabaseBackupResult, RestoreDatabaseResult } from '../../common/runbooks';
import { utf8Length } from '../../common/formats';
import type { DrDrillResult } from '../../workflows/dr-drill';
import { testPorts, testRoot, testTaskQueue } from '../support/env';
import { fingerprint } from '../support/fingerprint';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { activitySteps, databases, decide, runCli, temporalClient, testConfig, waitFor, withPg } from '../support/stack';

let client: Client;
let close: () => Promise<void>;
beforeAll(async () => ({ client, close } = await temporalClient()));
afterAll(async () => close());

const quote = (n: string): string => `"${n.replace(/"/g, '""')}"`;

describe('a database of another shape: 63-byte Unicode name, a second schema, odd identifiers, large rows', () => {
  // Exactly 63 bytes: PostgreSQL's limit.
  const prefix = 'Crédits "heavy" ünïcode; DROP ';
  const name = prefix + 'x'.repeat(63 - utf8Length(prefix));
  const queue = 'runbooks-test-heavy';
  const dir = path.join(testRoot, 'heavy-backups');
  let worker: WorkerProcess;
  const heartbeatTimeoutSeconds = 2;

  beforeAll(async () => {
    expect(utf8Length(name)).toBe(63);
    await withPg('postgres', async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${quote(name)} TEMPLATE template0`);
    });
    await withPg(name, async (c) => {
      await c.query(`CREATE SCHEMA "Odd Schema"`);
      await c.query(`CREATE TABLE "Odd Schema"."Big ""Rows"" Table" (id bigint PRIMARY KEY, "Payload Text" text NOT NULL, blob bytea, note text)`);
      // Random hex: large rows that neither TOAST nor zstd shrink much (~210 MB of text).
      await c.query(`INSERT INTO "Odd Schema"."Big ""Rows"" Table" SELECT g, (SELECT string_agg(md5(random()::text || g || i), '') FROM generate_series(1, 100) i), decode(md5(g::text), 'hex'), CASE WHEN g % 7 = 0 THEN E'tab\\there ''quote'' "dq" ünï' END FROM generate_series(1, 65000) g`);
      await c.query(`CREATE TABLE public."MixedCase" ("Key" text PRIMARY KEY, value numeric(20, 6))`);
      await c.query(`INSERT INTO public."MixedCase" SELECT 'k' || g, g / 7.0 FROM generate_series(1, 5000) g`);
      await c.query(`CREATE INDEX "idx on payload" ON "Odd Schema"."Big ""Rows"" Table" (md5("Payload Text"))`);
    });
    rmSync(dir, { recursive: true, force: true });
    worker = await startWorkerProcess({
      taskQueue: queue,
      // Its own database and backups; an application of its own that is nothing (the test stack's
      // simulator belongs to the credits database, and a worker passes its environment on).
      env: {
        DATABASE_URL: `postgres://zerotrustml@127.0.0.1:${testPorts.postgres}/${encodeURIComponent(name)}`,
        RUNBOOK_BACKUP_DIR: dir,
        RUNBOOK_SET_application__service: '{type: command, start: ["true"], stop: ["true"]}',
      },
    });
  }, 300_000);
  afterAll(async () => {
    await worker?.stop();
    await withPg('postgres', (c) => c.query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`));
  });

  test('backup and restore, heartbeat timeout shorter than the steps: byte for byte, no timeouts, the live name never dropped', async () => {
    const before = await withPg(name, fingerprint);
    const backup = client.workflow.getHandle((await client.workflow.start('databaseBackup', { taskQueue: queue, workflowId: `heavy-backup-${Date.now()}`, args: [{ heartbeatTimeoutSeconds }] })).workflowId);
    const b = (await backup.result()) as DatabaseBackupResult;
    expect(b.outcome).toBe('succeeded');
    expect(b.manifest!.database).toBe(name);
    expect(path.dirname(b.path)).toBe(dir); // a file name that is safe, whatever the database is called
    expect(b.manifest!.flagged).toBeUndefined();
    expect(statSync(b.path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);

    // The live database changes after the backup; the restore brings back the backup's content.
    await withPg(name, (c) => c.query(`UPDATE public."MixedCase" SET value = -1 WHERE "Key" = 'k1'`));
    const restore = await client.workflow.start('restoreDatabase', { taskQueue: queue, workflowId: `heavy-restore-${Date.now()}`, args: [{ backup: 'latest', heartbeatTimeoutSeconds }] });
    const r = (await restore.result()) as RestoreDatabaseResult;
    expect(r.outcome).toBe('succeeded');
    expect(r.database).toBe(name);
    expect(utf8Length(r.previousDatabase!)).toBeLessThanOrEqual(63);
    expect(r.previousDatabase).not.toBe(name);
    expect(await withPg(name, fingerprint)).toEqual(before);
    const dbs = await databases();
    expect(dbs).toContain(name);
    expect(dbs.filter((d) => d !== name && d.startsWith(name.slice(0, 20)))).toEqual([]); // scratch and previous gone

    for (const h of [backup, client.workflow.getHandle(restore.workflowId)]) {
      const steps = await activitySteps(h);
      expect(steps.filter((s) => s.timedOut || s.attempt !== 1)).toEqual([]);
    }
    // The heartbeat timeout really was shorter than steps that heartbeat: the test is not vacuous.
    const long = [...(await activitySteps(backup)), ...(await activitySteps(client.workflow.getHandle(restore.workflowId)))].filter((s) => ['dumpDatabase', 'verifyAndExpandBackup', 'restoreIntoScratch', 'requireMatch'].includes(s.name));
    expect(Math.max(...long.map((s) => s.ms))).toBeGreaterThan(heartbeatTimeoutSeconds * 1000);
  }, 600_000);

  test('a backup of the emptied database is flagged: "latest" passes it over, naming it needs allowFlagged', async () => {
    const good = (await client.workflow.execute('databaseBackup', { taskQueue: queue, workflowId: `heavy-good-${Date.now()}`, args: [{ key: '20300101_000000' }] })) as DatabaseBackupResult;
    await withPg(name, (c) => c.query(`TRUNCATE "Odd Schema"."Big ""Rows"" Table"`));
    const emptied = (await client.workflow.execute('databaseBackup', { taskQueue: queue, workflowId: `heavy-emptied-${Date.now()}`, args: [{ key: '20300102_000000' }] })) as DatabaseBackupResult;
    expect(emptied.manifest!.flagged?.reason).toMatch(/much smaller than the previous verified backup: \d+ bytes against \d+ in 20300101_000000; \d+ rows against \d+/);
    // Retention keeps the unflagged one as "the newest verified".
    expect(emptied.retention!.kept).toContain(path.basename(good.path));
    const dry = (await client.workflow.execute('restoreDatabase', { taskQueue: queue, workflowId: `heavy-latest-${Date.now()}`, args: [{ dryRun: true }] })) as RestoreDatabaseResult;
    expect(dry.backup).toBe(good.path);
    const refused = await client.workflow.execute('restoreDatabase', { taskQueue: queue, workflowId: `heavy-flagged-${Date.now()}`, args: [{ backup: '20300102_000000', dryRun: true }] }).catch((e: unknown) => e);
    expect(((refused as WorkflowFailedError).cause as { cause?: { message?: string } }).cause?.message).toMatch(/is flagged: much smaller .*Set allowFlagged: true to use it anyway/);
    const allowed = (await client.workflow.execute('restoreDatabase', { taskQueue: queue, workflowId: `heavy-allowed-${Date.now()}`, args: [{ backup: '20300102_000000', allowFlagged: true, dryRun: true }] })) as RestoreDatabaseResult;
    expect(allowed.plan!.join('\n')).toMatch(/this backup is FLAGGED/);
  }, 300_000);
});

describe('one destructive run per target', () => {
  const prodQueue = 'runbooks-test-production-locks';
  let prod: WorkerProcess;
  beforeAll(async () => {
    prod = await startWorkerProcess({ taskQueue: prodQueue, env: { RUNBOOK_SET_database__production: 'true' } });
    await client.workflow.execute('databaseBackup', { taskQueue: testTaskQueue, workflowId: `locks-fixture-${Date.now()}`, args: [{}] });
    await client.workflow.execute('configBackup', { taskQueue: testTaskQueue, workflowId: `locks-config-${Date.now()}`, args: [{}] });
    await client.workflow.execute('dhtExport', { taskQueue: testTaskQueue, workflowId: `locks-dht-${Date.now()}`, args: [{}] });
  }, 120_000);
  afterAll(async () => prod?.stop());

  const failure = async (p: Promise<unknown>): Promise<{ type?: string; message?: string }> => {
    const e = await p.then(() => undefined, (x: unknown) => x);
    const cause = (e as WorkflowFailedError | undefined)?.cause as { type?: string; message?: string; cause?: { type?: string; message?: string } } | undefined;
    // A refusal in the workflow itself is the cause; one in an activity is the cause's cause.
    return cause?.cause?.type ? cause.cause : (cause ?? {});
  };

  test('while a restore holds the database (waiting for its approval), a second restore and a disaster recovery are refused with its id; then the next one runs', async () => {
    const before = await withPg('credits', fingerprint);
    const dbs = await databases();
    const first = await client.workflow.start('restoreDatabase', { taskQueue: prodQueue, workflowId: `lock-first-${Date.now()}`, args: [{ backup: 'latest' }] });
    await waitFor('the first restore to wait for its approval', async () => (await first.query<{ awaitingApproval: boolean }>('progress')).awaitingApproval || undefined, 60_000);

    const second = await failure(client.workflow.execute('restoreDatabase', { taskQueue: prodQueue, workflowId: `lock-second-${Date.now()}`, args: [{ backup: 'latest' }] }));
    expect(second.type).toBe('PreconditionFailed');
    expect(second.message).toContain(`database:credits is being changed by another run (${first.workflowId})`);
    const dr = await failure(client.workflow.execute('disasterRecovery', { taskQueue: prodQueue, workflowId: `lock-dr-${Date.now()}`, args: [{}] }));
    expect(dr.message).toMatch(new RegExp(`lock the targets failed: database:credits is being changed by another run \\(${first.workflowId}\\)`));
    expect(await withPg('credits', fingerprint)).toEqual(before);
    expect(await databases()).toEqual(dbs);

    await decide(first, 'alice', { approved: false, reason: 'test over' });
    expect(((await first.result()) as RestoreDatabaseResult).outcome).toBe('rejected');
    // Released: the next restore takes the lock and waits for its own approval.
    const next = await client.workflow.start('restoreDatabase', { taskQueue: prodQueue, workflowId: `lock-next-${Date.now()}`, args: [{ backup: 'latest' }] });
    await waitFor('the next restore to wait for its approval', async () => (await next.query<{ awaitingApproval: boolean }>('progress')).awaitingApproval || undefined, 60_000);
    await decide(next, 'alice', { approved: false });
    expect(((await next.result()) as RestoreDatabaseResult).outcome).toBe('rejected');
  }, 300_000);

  test('run --wait exits 3 while the run waits for an approval, and shows the plan and how to decide', async () => {
    const r = await runCli(['run', 'restore-database', '--wait', '--input', '{"backup":"latest"}'], { RUNBOOK_TASK_QUEUE: prodQueue, RUNBOOK_IDENTITY: 'alice' });
    expect(r.code).toBe(3);
    const id = /^restore-database \((\S+)\) is waiting for an approval/m.exec(r.stdout)?.[1];
    expect(id).toBeDefined();
    expect(r.stdout).toMatch(/plan [0-9a-f]{64}\napprove: runbook approve \S+ {3}reject: runbook reject \S+/);
    const handle = client.workflow.getHandle(id!);
    // The one who started it cannot approve it; someone else may reject it.
    expect((await runCli(['approve', id!], { RUNBOOK_IDENTITY: 'alice' })).code).toBe(1);
    expect((await runCli(['reject', id!], { RUNBOOK_IDENTITY: 'bob' })).code).toBe(0);
    expect(((await handle.result()) as RestoreDatabaseResult).outcome).toBe('rejected');
  }, 120_000);
});

describe('the approval policy: who may approve, and the two-person rule', () => {
  const queue = 'runbooks-test-two-person';
  let worker: WorkerProcess;
  beforeAll(async () => {
    worker = await startWorkerProcess({
      taskQueue: queue,
      env: { RUNBOOK_SET_database__production: 'true', RUNBOOK_SET_approvals__required: '2', RUNBOOK_SET_approvals__approvers: '[alice, bob, carol]' },
    });
  });
  afterAll(async () => worker?.stop());

  test('only listed approvers decide, not the starter, each once; two approvals complete it', async () => {
    const h = await client.workflow.start('restoreDatabase', { taskQueue: queue, workflowId: `two-person-${Date.now()}`, args: [{ backup: 'latest', requestedBy: 'carol' }] });
    await waitFor('the approval wait', async () => (await h.query<{ awaitingApproval: boolean }>('progress')).awaitingApproval || undefined, 60_000);
    const refusal = (by: string): Promise<string | undefined> => decide(h, by).then(() => undefined, (e: { cause?: { message?: string } }) => e.cause?.message);
    expect(await refusal('mallory')).toMatch(/mallory is not an approver \(approvals\.approvers: alice, bob, carol\)/);
    expect(await refusal('carol')).toMatch(/carol started this production run and cannot approve it/);
    expect(await decide(h, 'alice')).toMatchObject({ approved: true, by: 'alice', remaining: 1 });
    expect(await refusal('alice')).toMatch(/alice has already decided on this plan/);
    expect((await h.describe()).status.name).toBe('RUNNING'); // one approval is not enough
    expect(await decide(h, 'bob')).toMatchObject({ remaining: 0 });
    const r = (await h.result()) as RestoreDatabaseResult;
    expect(r.outcome).toBe('succeeded');
    expect(r.approval).toMatchObject({ approved: true, by: 'alice, bob' });
    expect(r.approval!.approvals!.map((a) => a.by)).toEqual(['alice', 'bob']);
  }, 180_000);
});

test('a drill on a port it may not use fails before it creates anything, and tears down nothing else (exit 1)', async () => {
  const base = path.join(testConfig().dataDir, 'dr-drill');
  const precious = path.join(base, 'run-not-this-one');
  mkdirSync(precious, { recursive: true });
  writeFileSync(path.join(precious, 'keep.txt'), 'not the drill\'s');
  try {
    const r = await runCli(['run', 'dr-drill', '--wait', '--json', '--input', JSON.stringify({ postgresPort: testPorts.postgres })]);
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout) as DrDrillResult;
    expect(result.outcome).toBe('failed');
    expect(result.failedStep).toBe('provision the drill environment');
    expect(result.error).toMatch(/must not share a port with production/);
    expect(result.tornDown).toBe(true);
    expect(result.steps.at(-1)).toMatchObject({ step: 'tear down', outcome: 'succeeded', detail: 'nothing was created' });
    expect(readdirSync(precious)).toEqual(['keep.txt']);
    expect(path.dirname(result.environment.dir)).toBe(base);
  } finally {
    rmSync(precious, { recursive: true, force: true });
  }
}, 120_000);
