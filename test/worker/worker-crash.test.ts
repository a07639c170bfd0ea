// A worker killed with SIGKILL in the middle of a backup: a new worker finishes the same run with
// exactly one verified backup and no temp files, and the killed worker's pg_dump does not linger.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import type { DatabaseBackupResult } from '../../common/runbooks';
import { createSchema, seedCredits } from '../../sandbox/credits-data';
import { runCommand } from '../../adapters/process';
import { testRoot } from '../support/env';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { pgUrl, temporalClient, waitFor, withPg } from '../support/stack';

const queue = 'runbooks-test-crash';
const dir = path.join(testRoot, 'crash-backups');
// zstd at level 19 on one thread makes the dump take seconds, long enough to kill it midway.
const env = {
  RUNBOOK_SET_database__url: pgUrl('credits_crash'),
  RUNBOOK_BACKUP_DIR: dir,
  RUNBOOK_SET_backup__level: '19',
  RUNBOOK_SET_backup__threads: '1',
};
let client: Client;
let close: () => Promise<void>;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  ({ client, close } = await temporalClient());
  await withPg('credits', async (c) => c.query('CREATE DATABASE credits_crash'));
  const pg = new PgClient({ connectionString: pgUrl('credits_crash') });
  await pg.connect();
  await createSchema(pg);
  await seedCredits(pg, { credits: 40_000 });
  await pg.end();
});
afterAll(async () => {
  for (const w of workers) await w.stop('SIGKILL');
  // As the superuser: autovacuum may be working on the freshly seeded database, and only a
  // superuser may end it.
  await withPg('postgres', async (c) => c.query('DROP DATABASE IF EXISTS credits_crash WITH (FORCE)'), 'postgres');
  await close();
});

test('a SIGKILLed worker mid-backup: another worker completes the run with one verified backup', async () => {
  const first = await startWorkerProcess({ taskQueue: queue, env });
  workers.push(first);
  const handle = await client.workflow.start('databaseBackup', {
    taskQueue: queue,
    workflowId: `crash-backup-${Date.now()}`,
    args: [{ heartbeatTimeoutSeconds: 3 }],
  });
  // Wait until the dump is streaming into its temp file, as the heartbeat reports.
  await waitFor('the dump to report progress', async () => {
    const d = await handle.describe();
    const pending = d.raw.pendingActivities?.[0];
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.includes('.tmp-')) : [];
    return pending && files.length > 0 && (pending.heartbeatDetails?.payloads?.length ?? 0) > 0;
  });
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));

  // The dead worker's pipeline dies with it (broken pipe), instead of writing on.
  await waitFor('pg_dump and zstd of the killed worker to exit', async () => {
    const ps = await runCommand(['ps', '-eo', 'args']);
    return !ps.stdout.split('\n').some((l) => l.includes('zstd -q -19 -T1') || (l.includes('pg_dump') && l.includes('credits_crash')));
  });

  const second = await startWorkerProcess({ taskQueue: queue, env });
  workers.push(second);
  const result = (await handle.result()) as DatabaseBackupResult;
  expect(result.outcome).toBe('succeeded');

  const files = readdirSync(dir).sort();
  expect(files).toEqual([path.basename(result.path), path.basename(result.path) + '.manifest.json']);
  const manifest = JSON.parse(readFileSync(result.path + '.manifest.json', 'utf8'));
  expect(manifest.verified).toBeDefined();
  expect(manifest.tables['public.credits']).toBe(40_000);

  // The history shows the dump was attempted more than once: the kill really hit it midway.
  const history = await handle.fetchHistory();
  const started = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
  const attempts = started.map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 1);
  expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);
  const count = await withPg('credits_crash', async (c) => Number((await c.query('SELECT count(*) AS n FROM credits')).rows[0].n));
  expect(count).toBe(40_000);
});
