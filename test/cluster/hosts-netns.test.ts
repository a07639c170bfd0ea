// Three simulated hosts, each in a network namespace of its own with its own address (test/support/
// netns.ts), and the Temporal cluster outside them, on the bridge:
//   db    PostgreSQL + a worker (roles database, backups)
//   cond  the conductor stand-in + a worker (role conductor)
//   app   the credits simulator + a worker (role application)
// The runbooks themselves run on a worker in the test's own namespace (the shared queue).
// - the backup runs on the database host's worker, the conductor restart on the conductor host's,
//   read from the history's worker identities;
// - the conductor host's worker SIGKILLed in the middle of restore-dht: the run waits (its step
//   pending on that host's queue), resumes when the worker returns, and every credit is there once;
// - the conductor host's link goes down in the middle of a DHT export (the database host's worker
//   reads the conductor over the network): the step times out, is retried, and the run completes
//   when the link returns, with one export of every credit;
// - diagnosis reads each host's load, memory and disk on that host, and names a host whose worker
//   is down instead of waiting for it.
// The cluster's own kill-and-restart is in cluster.test.ts.
import { rmSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { conductorClient } from '../../adapters/conductor';
import { runCommand } from '../../adapters/process';
import type { IncidentResult } from '../../common/incident';
import type { DatabaseBackupResult, DhtExportResult, RestartConductorResult, RestoreDhtResult } from '../../common/runbooks';
import { loadConfig, type LoadedConfig } from '../../config/load';
import { seedConductorFromDatabase } from '../../sandbox/conductor/seed';
import { createSchema, hasSchema, seedCredits } from '../../sandbox/credits-data';
import { findTemporalServer, startTemporalCluster, stopTemporalCluster } from '../../sandbox/temporal-cluster';
import { testRoot } from '../support/env';
import { createNetwork, inHost, removeNetwork, setLink, type SimulatedNetwork } from '../support/netns';
import { runCli, stepsOf, waitFor, waitForFrontend } from '../support/stack';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

const names = ['db', 'cond', 'app'];
const root = path.join(testRoot, 'netns');
const configPath = path.join(root, 'runbooks.yaml');
const queue = 'runbooks-test-netns';
const ports = { clusterPg: 55451, frontend: 27420, pg: 55452, conductor: 28952, app: 29252 };
let net: SimulatedNetwork;
let config: LoadedConfig;
let address: string;
let connection: Connection;
let client: Client;
let shared: WorkerProcess | undefined;
const workers: Record<string, WorkerProcess | undefined> = {};

function configYaml(n: SimulatedNetwork): string {
  const h = n.hosts;
  return [
    `dataDir: ${path.join(root, 'data')}`,
    'temporal:',
    `  address: ${n.gateway}:${ports.frontend}`,
    `  taskQueue: ${queue}`,
    'database:',
    `  url: postgres://zerotrustml@${h.db!.address}:${ports.pg}/credits`,
    '  managed: true',
    'conductor:',
    `  adminUrl: ws://${h.cond!.address}:${ports.conductor}`,
    '  timeoutSeconds: 3',
    '  readyTimeoutSeconds: 30',
    'application:',
    `  statusUrl: http://${h.app!.address}:${ports.app}/status`,
    '  managed: true',
    '  eventsPerSecond: 2',
    // Small pages: the export is long enough to pull a cable in the middle of it.
    'dhtExport:',
    '  pageSize: 25',
    'monitoring:',
    '  managed: false',
    'remediation:',
    '  restartBudget:',
    '    max: 1000',
    'worker:',
    '  metricsPort: 0',
    'hosts:',
    '  db: {roles: [database, backups]}',
    '  cond: {roles: [conductor]}',
    '  app: {roles: [application]}',
    '',
  ].join('\n');
}

const server = (): { address: string } => ({ address });

/** A pending activity a worker has picked up (PENDING_ACTIVITY_STATE_STARTED). */
const isStarted = (state: unknown): boolean => state === 2 || state === 'PENDING_ACTIVITY_STATE_STARTED';

async function hostWorker(name: string): Promise<WorkerProcess> {
  return startWorkerProcess({ taskQueue: queue, configPath, host: name, server: server(), wrap: inHost(net.hosts[name]!, []) });
}

const steps = stepsOf;

/** Every credit id the conductor holds, read from the test's namespace over the bridge. */
async function conductorCreditIds(): Promise<string[]> {
  const c = conductorClient(config);
  try {
    const ids: string[] = [];
    for await (const credit of c.allCredits(1000)) ids.push(credit.credit_id);
    return ids;
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  const binaries = await findTemporalServer({ build: true });
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  net = createNetwork(names);
  writeFileSync(configPath, configYaml(net));
  config = loadConfig({ file: configPath, env: {} });

  // The cluster listens on the bridge only: reachable from the hosts, from nowhere else.
  ({ address } = await startTemporalCluster({ dir: path.join(root, 'temporal-cluster'), pgPort: ports.clusterPg, frontendPort: ports.frontend, bindIP: net.gateway, binaries, log: () => undefined }));
  await waitForFrontend('the cluster frontend to answer on the bridge', { address });
  const setup = await runCli(['setup-namespace', '--retention-days', '1'], { RUNBOOK_CONFIG: configPath });
  if (setup.code !== 0) throw new Error(`setup-namespace failed: ${setup.stderr}`);
  connection = await Connection.connect(server());
  client = new Client({ connection, namespace: 'default' });

  // Each host's service starts inside its namespace with the commands the configuration gives.
  await runCommand(inHost(net.hosts.db!, config.databaseService!.type === 'command' ? config.databaseService!.start : []), { timeoutMs: 120_000 });
  const pg = new PgClient({ connectionString: config.database.url });
  await pg.connect();
  try {
    if (!(await hasSchema(pg))) {
      await createSchema(pg);
      await seedCredits(pg, { credits: 3000 });
    }
  } finally {
    await pg.end();
  }
  if (config.conductorService.type !== 'command') throw new Error('expected the stand-in as commands');
  await runCommand(inHost(net.hosts.cond!, config.conductorService.start), { timeoutMs: 60_000 });
  const conductor = conductorClient(config);
  try {
    await conductor.ensureApp();
    const seed = new PgClient({ connectionString: config.database.url });
    await seed.connect();
    try {
      await seedConductorFromDatabase(seed, conductor);
    } finally {
      await seed.end();
    }
  } finally {
    await conductor.close();
  }
  if (config.applicationService?.type !== 'command') throw new Error('expected the simulator as commands');
  await runCommand(inHost(net.hosts.app!, config.applicationService.start), { timeoutMs: 60_000 });

  shared = await startWorkerProcess({ taskQueue: queue, configPath, server: server() });
  for (const name of names) workers[name] = await hostWorker(name);
}, 900_000);

afterAll(async () => {
  for (const w of [shared, ...Object.values(workers)]) await w?.stop();
  await connection?.close();
  if (config) {
    for (const [name, svc] of [['app', config.applicationService], ['cond', config.conductorService], ['db', config.databaseService]] as const) {
      if (net && svc?.type === 'command') await runCommand(inHost(net.hosts[name]!, svc.stop), { timeoutMs: 60_000 }).catch(() => undefined);
    }
  }
  await stopTemporalCluster(path.join(root, 'temporal-cluster'));
  removeNetwork(names);
}, 120_000);

test('each host answers only on its own address: the services are not on the test namespace\'s loopback', async () => {
  const r = await fetch(`http://127.0.0.1:${ports.app}/health`).then(
    () => 'answered',
    () => 'refused',
  );
  expect(r).toBe('refused');
  expect((await fetch(`http://${net.hosts.app!.address}:${ports.app}/health`)).status).toBe(200);
});

test('the backup runs on the database host, the conductor restart on the conductor host; the history says so', async () => {
  const backup = await client.workflow.start('databaseBackup', { taskQueue: queue, workflowId: `netns-backup-${Date.now()}`, args: [{ trigger: 'manual' }] });
  expect(((await backup.result()) as DatabaseBackupResult).outcome).toBe('succeeded');
  for (const s of await steps(backup)) expect(s).toMatchObject({ queue: `${queue}@db`, worker: expect.stringMatching(/^runbook-worker\[db\]@/) });

  const restart = await client.workflow.start('restartConductor', { taskQueue: queue, workflowId: `netns-restart-${Date.now()}`, args: [{ trigger: 'manual' }] });
  expect(((await restart.result()) as RestartConductorResult).outcome).toBe('succeeded');
  const byName = Object.fromEntries((await steps(restart)).map((s) => [s.name, s]));
  for (const name of ['stopConductor', 'startConductorWithApp']) expect(byName[name]).toMatchObject({ queue: `${queue}@cond`, worker: expect.stringMatching(/^runbook-worker\[cond\]@/) });
  // The restarted stand-in was started by the conductor host's worker, so it listens there again.
  expect((await conductorCreditIds()).length).toBeGreaterThanOrEqual(3000);
}, 300_000);

test('the conductor host\'s worker SIGKILLed before restore-dht reaches its conductor steps: the run waits on that host, resumes when it returns, every credit once', async () => {
  const exp = (await client.workflow.execute('dhtExport', { taskQueue: queue, workflowId: `netns-export-${Date.now()}`, args: [{ trigger: 'manual', key: '20320101_000000' }] })) as DhtExportResult;
  expect(exp.outcome).toBe('succeeded');
  // Killed before the run starts: killed once the run was under way, the conductor steps could
  // all have finished before the kill landed (a race CI lost), and the test would prove nothing.
  await workers.cond!.stop('SIGKILL');
  workers.cond = undefined;
  const restore = await client.workflow.start('restoreDht', { taskQueue: queue, workflowId: `netns-restore-${Date.now()}`, args: [{ trigger: 'manual', export: '20320101_000000' }] });
  const pending = await waitFor(
    'a conductor step to wait on the conductor host\'s queue',
    async () => {
      const history = (await restore.fetchHistory()).events ?? [];
      const onCond = new Set(history.filter((e) => e.activityTaskScheduledEventAttributes?.taskQueue?.name === `${queue}@cond`).map((e) => e.activityTaskScheduledEventAttributes?.activityId));
      const d = await restore.describe();
      const waiting = (d.raw.pendingActivities ?? []).filter((a) => onCond.has(a.activityId));
      return d.status.name === 'RUNNING' && waiting.length > 0 ? waiting : undefined;
    },
    60_000,
  );
  // The steps before it ran on the other hosts: the export was verified on the database host.
  expect((await steps(restore)).some((s) => s.name === 'verifyDhtExport' && s.queue === `${queue}@db`)).toBe(true);
  expect(pending.length).toBeGreaterThan(0);
  await new Promise((r) => setTimeout(r, 3000));
  expect((await restore.describe()).status.name).toBe('RUNNING');

  workers.cond = await hostWorker('cond');
  const r = (await restore.result()) as RestoreDhtResult;
  expect(r.outcome).toBe('succeeded');
  expect(r.check?.matches).toBe(true);
  const ids = await conductorCreditIds();
  expect(new Set(ids).size).toBe(ids.length);
  expect(ids.length).toBeGreaterThanOrEqual(exp.credits);
  const byName = await steps(restore);
  expect(byName.filter((s) => s.queue === `${queue}@cond`).every((s) => /^runbook-worker\[cond\]@/.test(s.worker))).toBe(true);
}, 300_000);

test('diagnosis reads each host\'s load, memory and disk on that host; a host whose worker is down is named, and the diagnosis goes on', async () => {
  const run = async (): Promise<{ plan: string[]; handle: WorkflowHandle }> => {
    const handle = await client.workflow.start('incidentSystemUnresponsive', { taskQueue: queue, workflowId: `netns-diagnose-${Date.now()}`, args: [{ trigger: 'manual', dryRun: true }] });
    const r = (await handle.result()) as IncidentResult;
    expect(r.outcome).toBe('dry-run');
    return { plan: r.plan ?? [], handle };
  };
  const all = await run();
  for (const [host, role] of [['db', 'database'], ['cond', 'conductor'], ['app', 'application']]) {
    expect(all.plan).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^host ${host} \\(${role}\\): load [0-9.]+ per CPU, [0-9.]+% memory available, [0-9.]+% disk free$`))]));
  }
  const reads = (await steps(all.handle)).filter((s) => s.name === 'hostResources');
  expect(reads.map((s) => s.queue).sort()).toEqual([`${queue}@app`, `${queue}@cond`, `${queue}@db`]);
  for (const s of reads) expect(s.worker).toMatch(new RegExp(`^runbook-worker\\[${s.queue.split('@')[1]}\\]@`));

  // The latency troubleshooting reads the application's and the database's hosts the same way.
  const latency = (await client.workflow.execute('troubleshootHighLatency', { taskQueue: queue, workflowId: `netns-latency-${Date.now()}`, args: [{ trigger: 'manual' }] })) as { findings: string[] };
  expect(latency.findings).toEqual(expect.arrayContaining([expect.stringMatching(/^system resources of host app \(application\): load/), expect.stringMatching(/^system resources of host db \(database\): load/)]));

  await workers.app!.stop();
  workers.app = undefined;
  try {
    const without = await run();
    expect(without.plan).toEqual(expect.arrayContaining([expect.stringMatching(/^the application host's figures were not read \(queue runbooks-test-netns@app\): .*/), expect.stringMatching(/^host db \(database\)/)]));
  } finally {
    workers.app = await hostWorker('app');
  }
}, 180_000);

test('the conductor host\'s link goes down in the middle of a DHT export: the step times out, is retried, and the run completes once the link returns, with one export', async () => {
  const key = '20320102_000000';
  const handle = await client.workflow.start('dhtExport', { taskQueue: queue, workflowId: `netns-link-${Date.now()}`, args: [{ trigger: 'manual', key }] });
  await waitFor('the export step to run', async () => (await handle.describe()).raw.pendingActivities?.some((p) => p.activityType?.name === 'exportDht' && isStarted(p.state)) || undefined, 60_000);
  setLink(net.hosts.cond!, 'down');
  try {
    // Down long enough for the conductor call to time out (3 s) and the step to fail at least once.
    await waitFor(
      'the export step to fail against the unreachable conductor',
      async () => ((await handle.describe()).raw.pendingActivities ?? []).some((p) => p.activityType?.name === 'exportDht' && (p.attempt ?? 1) >= 2) || undefined,
      90_000,
    );
  } finally {
    setLink(net.hosts.cond!, 'up');
  }
  const r = (await handle.result()) as DhtExportResult;
  expect(r.outcome).toBe('succeeded');
  // The simulator keeps writing: the export holds at least the seeded credits, at most what is there now.
  const ids = await conductorCreditIds();
  expect(new Set(ids).size).toBe(ids.length);
  expect(r.credits).toBeGreaterThanOrEqual(3000);
  expect(r.credits).toBeLessThanOrEqual(ids.length);
  // One export file (and its manifest) for the slot; no leftovers of the failed attempts.
  const files = (await runCommand(['ls', '-1', config.dhtExportDirectory])).stdout.split('\n').filter((f) => f.includes(key));
  expect(files.sort()).toEqual([path.basename(r.path), `${path.basename(r.path)}.manifest.json`].sort());
  // The history records the attempt that completed: a later one than the first.
  const done = (await steps(handle)).filter((s) => s.name === 'exportDht');
  expect(done).toHaveLength(1);
  expect(done[0]!.attempt).toBeGreaterThanOrEqual(2);
  expect(done[0]!.worker).toMatch(/^runbook-worker\[db\]@/);
}, 300_000);
