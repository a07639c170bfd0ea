// restore-database refuses damaged backups before touching anything, and on a production target
// waits for an approval Update: reject leaves everything as it was, approve completes the restore.
import { copyFileSync, openSync, readFileSync, readSync, truncateSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import type { BackupManifest } from '../../common/backup-manifest';
import type { DatabaseBackupResult, RestoreDatabaseResult } from '../../common/runbooks';
import { progressQuery } from '../../workflows/approval';
import { fingerprint } from '../support/fingerprint';
import { testTaskQueue } from '../support/env';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { activitySteps, databases, pgUrl, runCli, temporalClient, waitFor, withPg } from '../support/stack';

let client: Client;
let close: () => Promise<void>;
let backup: DatabaseBackupResult;
const prodQueue = 'runbooks-test-production';
let prodWorker: WorkerProcess;

beforeAll(async () => {
  ({ client, close } = await temporalClient());
  backup = await client.workflow.execute('databaseBackup', { taskQueue: testTaskQueue, workflowId: `restore-fixture-${Date.now()}`, args: [{}] });
  // The same configuration with the target marked production, on its own task queue.
  prodWorker = await startWorkerProcess({ taskQueue: prodQueue, env: { RUNBOOK_SET_database__production: 'true' } });
});
afterAll(async () => {
  await prodWorker?.stop();
  await close();
});

/** Copies the fixture backup under a new slot key, damages the copy, and returns its file name
 * (a restore input names a file in the backup directory, never a path). */
function damagedCopy(key: string, damage: (file: string) => void, rehash: boolean): string {
  const manifest = JSON.parse(readFileSync(backup.path + '.manifest.json', 'utf8')) as BackupManifest;
  const file = `credits_${key}.dump.zst`;
  const target = path.join(path.dirname(backup.path), file);
  copyFileSync(backup.path, target);
  damage(target);
  const bytes = statSync(target).size;
  const sha256 = rehash ? createHash('sha256').update(readFileSync(target)).digest('hex') : manifest.sha256;
  writeFileSync(target + '.manifest.json', JSON.stringify({ ...manifest, key, file, bytes: rehash ? bytes : manifest.bytes, sha256 }));
  return file;
}

function flipByte(file: string): void {
  const fd = openSync(file, 'r+');
  const at = Math.floor(statSync(file).size / 2);
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] = b[0]! ^ 0x10;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}

async function expectRefused(file: string, message: RegExp): Promise<void> {
  const before = await withPg('credits', fingerprint);
  const dbsBefore = await databases();
  const run = client.workflow.execute('restoreDatabase', { taskQueue: testTaskQueue, workflowId: `restore-damaged-${Date.now()}`, args: [{ backup: file }] });
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as { cause?: { message?: string; type?: string } };
  expect(cause.cause?.type).toBe('BackupDamaged');
  expect(cause.cause?.message).toMatch(message);
  expect(await withPg('credits', fingerprint)).toEqual(before);
  expect(await databases()).toEqual(dbsBefore);
}

test('a truncated backup is refused and the database is untouched', async () => {
  const file = damagedCopy('20240101_020000', (f) => truncateSync(f, Math.floor(statSync(f).size * 0.6)), false);
  await expectRefused(file, /truncated/);
});

test('a truncated backup whose manifest was rewritten to match is still refused by the full read', async () => {
  const file = damagedCopy('20240102_020000', (f) => truncateSync(f, Math.floor(statSync(f).size * 0.6)), true);
  await expectRefused(file, /reading it back failed/);
});

test('a bit-flipped backup is refused (checksum) and the database is untouched', async () => {
  const file = damagedCopy('20240103_020000', flipByte, false);
  await expectRefused(file, /SHA-256|reading it back failed/);
});

test('a bit-flipped backup with a matching checksum is refused by reading every block', async () => {
  const file = damagedCopy('20240104_020000', flipByte, true);
  await expectRefused(file, /reading it back failed/);
});

test('a file without our manifest is not restored', async () => {
  const stray = path.join(path.dirname(backup.path), 'credits_stray.dump.zst');
  copyFileSync(backup.path, stray);
  const err = await client.workflow
    .execute('restoreDatabase', { taskQueue: testTaskQueue, workflowId: `restore-stray-${Date.now()}`, args: [{ backup: path.basename(stray) }] })
    .catch((e: unknown) => e);
  expect(((err as WorkflowFailedError).cause as { cause?: { type?: string } }).cause?.type).toBe('BackupMissing');
});

describe('production target', () => {
  // A run a failed test leaves waiting would hold the database's lock for the suites after it.
  afterEach(async () => {
    for await (const w of client.workflow.list({ query: `TaskQueue = "${prodQueue}" AND ExecutionStatus = "Running"` })) {
      await client.workflow.getHandle(w.workflowId).terminate('test cleanup').catch(() => undefined);
    }
  });
  async function startProd(id: string, requestedBy?: string) {
    const handle = await client.workflow.start('restoreDatabase', { taskQueue: prodQueue, workflowId: `${id}-${Date.now()}`, args: [{ backup: path.basename(backup.path), requestedBy }] });
    await waitFor('the run to wait for approval', async () => (await handle.query(progressQuery)).awaitingApproval);
    return handle;
  }

  test('waits for approval, and a rejection ends it with nothing changed', async () => {
    const before = await withPg('credits', fingerprint);
    const dbsBefore = await databases();
    const handle = await startProd('restore-prod-reject');
    // Waiting: nothing happened yet.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect(await databases()).toEqual(dbsBefore);

    const r = await runCli(['reject', handle.workflowId, '--reason', 'wrong backup'], { RUNBOOK_IDENTITY: 'alice' });
    // The plan decided on is shown, with its SHA-256.
    expect(r.stderr).toMatch(new RegExp(`restore credits from ${path.basename(backup.path).replace(/\./g, '\\.')}:\\n  - restore database credits[\\s\\S]*SHA-256 ${backup.sha256}[\\s\\S]*plan [0-9a-f]{64}`));
    expect(r.stdout).toMatch(/rejected by alice .*\(plan [0-9a-f]{12}…\)/);
    const result = (await handle.result()) as RestoreDatabaseResult;
    expect(result.outcome).toBe('rejected');
    expect(result.approval).toMatchObject({ approved: false, by: 'alice', reason: 'wrong backup' });
    expect(await withPg('credits', fingerprint)).toEqual(before);
    expect(await databases()).toEqual(dbsBefore);
  });

  test('the starter cannot approve their own production run; a decision on another plan, or as someone else, is refused; another person completes it', async () => {
    const handle = await startProd('restore-prod-approve', 'alice');
    // --by is not an identity: a name typed on the command line that is not yours is refused.
    const asBob = await runCli(['approve', handle.workflowId, '--by', 'bob'], { RUNBOOK_IDENTITY: 'alice' });
    expect(asBob.code).toBe(2);
    expect(asBob.stderr).toMatch(/--by: decisions are recorded under your identity "alice".*found "bob"/);
    const self = await runCli(['approve', handle.workflowId], { RUNBOOK_IDENTITY: 'alice' });
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(/alice started this production run and cannot approve it/);
    const stalePlan = await runCli(['approve', handle.workflowId, '--plan', 'deadbeef'], { RUNBOOK_IDENTITY: 'bob' });
    expect(stalePlan.code).toBe(2);
    expect(stalePlan.stderr).toMatch(/--plan: the plan awaiting a decision is [0-9a-f]{64}, not deadbeef/);
    // An Update that carries another plan's hash is refused by the run itself.
    const forged = await handle.executeUpdate('approval', { args: [{ approved: true, by: 'bob', planHash: '0'.repeat(64) }] }).then(() => undefined, (e: { cause?: { message?: string } }) => e.cause?.message);
    expect(forged).toMatch(/the decision is for plan 000000000000…, but the plan awaiting a decision is/);
    expect((await handle.describe()).status.name).toBe('RUNNING');

    const ok = await runCli(['approve', handle.workflowId], { RUNBOOK_IDENTITY: 'bob' });
    expect(ok.code).toBe(0);
    const result = (await handle.result()) as RestoreDatabaseResult;
    expect(result.outcome).toBe('succeeded');
    expect(result.approval).toMatchObject({ approved: true, by: 'bob' });
    expect(result.approval!.planHash).toMatch(/^[0-9a-f]{64}$/);
    expect(result.tables).toEqual(backup.manifest?.tables);

    // A second decision on a finished run is refused.
    const late = await runCli(['approve', handle.workflowId], { RUNBOOK_IDENTITY: 'carol' });
    expect(late.code).toBe(2);
    expect(late.stderr).toMatch(/is not waiting for an approval/);
  });
});

test('a session on the live database that the restore may not end (a superuser\'s, like autovacuum) makes the swap wait, not fail', async () => {
  // Held by the cluster's superuser: the restore's role may not terminate it (nor autovacuum).
  const blocker = new PgClient({ connectionString: pgUrl('credits', 'postgres') });
  await blocker.connect();
  let released = false;
  const release = async (): Promise<void> => {
    if (!released) await blocker.end();
    released = true;
  };
  try {
    const handle = await client.workflow.start('restoreDatabase', { taskQueue: testTaskQueue, workflowId: `restore-blocked-${Date.now()}`, args: [{ backup: 'latest' }] });
    await waitFor('the swap to be under way', async () => ((await handle.query(progressQuery)).step === 'swap' ? true : undefined), 60_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect((await handle.describe()).status.name).toBe('RUNNING'); // waiting, not failed
    await release();
    const r = (await handle.result()) as RestoreDatabaseResult;
    expect(r.outcome).toBe('succeeded');
    const swap = (await activitySteps(handle)).find((s) => s.name === 'swapDatabases')!;
    expect(swap.attempt).toBe(1);
    expect(swap.ms).toBeGreaterThan(1500);
  } finally {
    await release();
  }
});
