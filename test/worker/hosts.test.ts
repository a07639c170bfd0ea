// Host-pinned work: with hosts configured, each step that touches a host runs on that host's own
// task queue, served by `runbook worker --host NAME` there, and the history says which worker ran
// it; the runbooks themselves run on the shared queue. A host whose worker is down delays only its
// own steps, visibly: the step is scheduled on that host's queue and waits for it; the other
// hosts' steps go on.
import type { Client } from '@temporalio/client';
import type { DatabaseBackupResult, RestartConductorResult } from '../../common/runbooks';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { runCli, stepsOf, temporalClient } from '../support/stack';

const queue = 'runbooks-test-hosts';
const env = { RUNBOOK_SET_hosts: '{db1: {roles: [database, backups]}, cond1: {roles: [conductor]}, app1: {roles: [application]}}' };
let client: Client;
let close: () => Promise<void>;
let shared: WorkerProcess;
const hosts: Record<string, WorkerProcess> = {};

beforeAll(async () => {
  ({ client, close } = await temporalClient());
  shared = await startWorkerProcess({ taskQueue: queue, env });
  for (const host of ['db1', 'cond1', 'app1']) hosts[host] = await startWorkerProcess({ taskQueue: queue, env, host });
}, 180_000);
afterAll(async () => {
  await Promise.all([shared, ...Object.values(hosts)].map((w) => w?.stop()));
  await close();
});

const steps = stepsOf;

test('the backup runs on the database host, the conductor restart on the conductor host; the history says so', async () => {
  const backup = await client.workflow.start('databaseBackup', { taskQueue: queue, workflowId: `hosts-backup-${Date.now()}`, args: [{}] });
  expect(((await backup.result()) as DatabaseBackupResult).outcome).toBe('succeeded');
  for (const s of await steps(backup)) expect(s).toMatchObject({ queue: `${queue}@db1`, worker: expect.stringMatching(/^runbook-worker\[db1\]@/) });
  expect((await steps(backup)).map((s) => s.name)).toEqual(['dumpDatabase', 'applyBackupRetention']);

  const restart = await client.workflow.start('restartConductor', { taskQueue: queue, workflowId: `hosts-restart-${Date.now()}`, args: [{}] });
  expect(((await restart.result()) as RestartConductorResult).outcome).toBe('succeeded');
  const byName = Object.fromEntries((await steps(restart)).map((s) => [s.name, s]));
  for (const name of ['stopConductor', 'startConductorWithApp']) expect(byName[name]).toMatchObject({ queue: `${queue}@cond1`, worker: expect.stringMatching(/^runbook-worker\[cond1\]@/) });
  // What reads configuration or talks to the conductor's API stays on the shared queue.
  expect(byName.conductorLiveness).toMatchObject({ queue, worker: expect.stringMatching(/^runbook-worker@/) });
}, 180_000);

test('a host whose worker is down delays only its own steps, visibly; they run when it returns', async () => {
  await hosts.cond1!.stop();
  const restart = await client.workflow.start('restartConductor', { taskQueue: queue, workflowId: `hosts-down-${Date.now()}`, args: [{}] });
  // The other hosts' work goes on meanwhile.
  const backup = await client.workflow.execute('databaseBackup', { taskQueue: queue, workflowId: `hosts-backup-meanwhile-${Date.now()}`, args: [{}] });
  expect((backup as DatabaseBackupResult).outcome).toBe('succeeded');
  const d = await restart.describe();
  expect(d.status.name).toBe('RUNNING');
  const pending = d.raw.pendingActivities ?? [];
  expect(pending.map((p) => p.activityType?.name)).toEqual(['stopConductor']);
  expect((await restart.fetchHistory()).events?.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'stopConductor')?.activityTaskScheduledEventAttributes?.taskQueue?.name).toBe(`${queue}@cond1`);

  hosts.cond1 = await startWorkerProcess({ taskQueue: queue, env, host: 'cond1' });
  expect(((await restart.result()) as RestartConductorResult).outcome).toBe('succeeded');
}, 180_000);

test('runbook worker --host with a host that is not configured is refused, naming the configured ones', async () => {
  const r = await runCli(['worker', '--host', 'db9'], env);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/--host db9: expected one of the configured hosts \(db1, cond1, app1\)/);
});
