// bench/cluster: the production topology against the sandbox's, in one run on the same data.
//   dev      the Temporal dev server (SQLite) and one worker that runs everything (the sandbox);
//   cluster  the Temporal server with PostgreSQL persistence of its own, a worker for the shared
//            queue and one per host (database+backups, conductor, application), so every step
//            that touches a host crosses to that host's queue.
// For each: database-backup and restart-conductor (the conductor incident's remedy) several times,
// and the orchestration overhead of each run read from its history: the run's wall time minus the
// time covered by its activities (started to completed) and timers, as a share of the
// activities' own time. Then 1,000 concurrent health-check runs: throughput and the
// schedule-to-start latency of their workflow and activity tasks.
// Goal: overhead on the cluster topology under 10% of the activities' own time.
//
// Usage: npm run bench:cluster [-- --reps 5 --runs 1000 --min-mb 400]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { setupNamespace } from '../../client/setup-namespace';
import { serviceControl } from '../../adapters/service-control';
import { loadConfig } from '../../config/load';
import { findTemporalServer, startTemporalCluster, stopTemporalCluster } from '../../sandbox/temporal-cluster';
import { benchRoot, median, prepareSandboxData, startBenchStack, until } from '../support';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const reps = arg('reps', 5);
const runs = arg('runs', 1000);
const minMb = arg('min-mb', 400); // the size bench/backup and bench/dr use
const appPort = 38101;
// The cluster's ports stay under 32768: the server stores its services' ports as smallint.
const cluster = { pg: 55481, frontend: 27460 };

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

interface RunFigures {
  wallMs: number;
  activityMs: number;
  overheadMs: number;
}

/** A run's wall time, its activities' own time, and what is left: the length of the union of
 * the activity and timer intervals is subtracted from the wall time (parallel steps overlap). */
async function figures(handle: WorkflowHandle): Promise<RunFigures> {
  const events = (await handle.fetchHistory()).events ?? [];
  const at = (e: (typeof events)[number]): number => ms(e.eventTime);
  const started = new Map<string, number>();
  const timers = new Map<string, number>();
  const busy: Array<[number, number]> = [];
  let activityMs = 0;
  for (const e of events) {
    if (e.activityTaskStartedEventAttributes) started.set(String(e.activityTaskStartedEventAttributes.scheduledEventId), at(e));
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
    if (done) {
      const s = started.get(String(done.scheduledEventId));
      if (s !== undefined) {
        busy.push([s, at(e)]);
        activityMs += at(e) - s;
      }
    }
    if (e.timerStartedEventAttributes) timers.set(String(e.eventId), at(e));
    if (e.timerFiredEventAttributes) {
      const s = timers.get(String(e.timerFiredEventAttributes.startedEventId));
      if (s !== undefined) busy.push([s, at(e)]);
    }
  }
  busy.sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let end = -Infinity;
  for (const [s, f] of busy) {
    if (f <= end) continue;
    covered += f - Math.max(s, end);
    end = f;
  }
  const wallMs = at(events[events.length - 1]!) - at(events[0]!);
  return { wallMs, activityMs, overheadMs: wallMs - covered };
}

/** Schedule-to-start of every workflow task and activity task in a run. */
async function scheduleToStart(handle: WorkflowHandle): Promise<number[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map<string, number>();
  const out: number[] = [];
  for (const e of events) {
    if (e.workflowTaskScheduledEventAttributes || e.activityTaskScheduledEventAttributes) scheduled.set(String(e.eventId), ms(e.eventTime));
    const s = e.workflowTaskStartedEventAttributes ?? e.activityTaskStartedEventAttributes;
    if (s) {
      const t = scheduled.get(String(s.scheduledEventId));
      if (t !== undefined) out.push(ms(e.eventTime) - t);
    }
  }
  return out;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function runbooks(client: Client, taskQueue: string, label: string): Promise<Record<string, RunFigures[]>> {
  const out: Record<string, RunFigures[]> = { 'database-backup': [], 'restart-conductor': [] };
  for (let i = 0; i < reps; i++) {
    const key = `2040${String(label === 'dev' ? 1 : 2).padStart(2, '0')}${String(i + 1).padStart(2, '0')}_000000`;
    const backup = await client.workflow.start('databaseBackup', { taskQueue, workflowId: `bench-cluster-${label}-backup-${Date.now()}`, args: [{ trigger: 'manual', key }] });
    if ((await backup.result() as { reused?: boolean }).reused) throw new Error(`slot ${key} was reused, not dumped: the measurement would be of nothing`);
    out['database-backup']!.push(await figures(backup));
    const restart = await client.workflow.start('restartConductor', { taskQueue, workflowId: `bench-cluster-${label}-restart-${Date.now()}`, args: [{ trigger: 'manual' }] });
    await restart.result();
    out['restart-conductor']!.push(await figures(restart));
    process.stderr.write(`${label}: rep ${i + 1}/${reps}\n`);
  }
  return out;
}

async function healthChecks(client: Client, taskQueue: string, label: string): Promise<{ runs: number; seconds: number; perSecond: number; s2sP50: number; s2sP99: number }> {
  const handles: WorkflowHandle[] = [];
  const t0 = Date.now();
  // Started as fast as the client can, 50 requests in flight.
  for (let i = 0; i < runs; i += 50) {
    handles.push(...(await Promise.all(Array.from({ length: Math.min(50, runs - i) }, (_, j) => client.workflow.start('healthCheck', { taskQueue, workflowId: `bench-cluster-${label}-hc-${t0}-${i + j}`, args: [{ trigger: 'manual' }] })))));
  }
  await Promise.all(handles.map((h) => h.result()));
  const seconds = (Date.now() - t0) / 1000;
  const s2s: number[] = [];
  for (let i = 0; i < handles.length; i += 50) for (const xs of await Promise.all(handles.slice(i, i + 50).map(scheduleToStart))) s2s.push(...xs);
  return { runs, seconds, perSecond: runs / seconds, s2sP50: pct(s2s, 50), s2sP99: pct(s2s, 99) };
}

function summary(rs: RunFigures[]): { wallMs: number; activityMs: number; overheadMs: number; overheadShare: number } {
  const wallMs = median(rs.map((r) => r.wallMs));
  const activityMs = median(rs.map((r) => r.activityMs));
  const overheadMs = median(rs.map((r) => r.overheadMs));
  return { wallMs, activityMs, overheadMs, overheadShare: overheadMs / activityMs };
}

async function main(): Promise<void> {
  const appYaml = ['application:', `  statusUrl: http://127.0.0.1:${appPort}/status`, '  managed: true', '  eventsPerSecond: 5', 'remediation:', '  restartBudget:', '    max: 1000'];
  // A slot key with a verified backup is reused, not dumped again: every run needs its own slot.
  rmSync(path.join(benchRoot, 'backups'), { recursive: true, force: true });
  const stack = await startBenchStack({ conductorTimeoutSeconds: 30, extraYaml: appYaml });
  const children: ChildProcess[] = [];
  const clusterDir = path.join(benchRoot, 'temporal-cluster');
  let clusterConnection: Connection | undefined;
  try {
    const { config, client } = stack;
    await prepareSandboxData(config, { minMb });
    const app = serviceControl(config.applicationService!);
    await app.start();

    // The cluster topology: the server with PostgreSQL persistence, namespace and attributes set
    // up, then a shared worker and one worker per host, each its own process.
    const binaries = await findTemporalServer({});
    const c = await startTemporalCluster({ dir: clusterDir, pgPort: cluster.pg, frontendPort: cluster.frontend, binaries, log: (l) => process.stderr.write(`${l}\n`) });
    clusterConnection = await until('the cluster frontend', async () => {
      const conn = await Connection.connect({ address: c.address, connectTimeout: 2000 });
      await setupNamespace(conn, { namespace: 'default', retentionDays: 1 });
      return conn;
    }, 180_000, 1000);
    const clusterClient = new Client({ connection: clusterConnection, namespace: 'default' });
    const clusterConfigPath = path.join(benchRoot, 'runbooks-cluster.yaml');
    mkdirSync(benchRoot, { recursive: true });
    // The same configuration with the cluster's address and the hosts named.
    const base = loadConfig({ file: path.join(benchRoot, 'runbooks.yaml'), env: {} });
    writeFileSync(
      clusterConfigPath,
      readFileSync(path.join(benchRoot, 'runbooks.yaml'), 'utf8').replace(`address: ${base.temporal.address}`, `address: ${c.address}`) +
        ['hosts:', '  db: {roles: [database, backups]}', '  cond: {roles: [conductor]}', '  app: {roles: [application]}', ''].join('\n'),
    );
    const queue = base.temporal.taskQueue;
    for (const host of [undefined, 'db', 'cond', 'app']) {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', '..', 'worker', 'main.ts')], {
        env: { ...process.env, RUNBOOK_CONFIG: clusterConfigPath, ...(host ? { RUNBOOK_HOST: host } : {}) },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(child);
      const tq = host ? `${queue}@${host}` : queue;
      await until(`a worker polling ${tq}`, async () => {
        const r = await clusterConnection!.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: tq }, taskQueueType: 2 });
        return (r.pollers?.length ?? 0) > 0 ? true : undefined;
      }, 120_000, 250);
    }

    // Warm-up (first webpack bundle use, first connections), then the measured runs, alternating.
    for (const [label, cl] of [['dev', client], ['cluster', clusterClient]] as const) {
      await cl.workflow.execute('databaseBackup', { taskQueue: queue, workflowId: `bench-cluster-${label}-warmup-${Date.now()}`, args: [{ trigger: 'manual', key: `20391231_00000${label === 'dev' ? 1 : 2}` }] });
    }
    const dev = await runbooks(client, queue, 'dev');
    const onCluster = await runbooks(clusterClient, queue, 'cluster');
    const hcDev = await healthChecks(client, queue, 'dev');
    const hcCluster = await healthChecks(clusterClient, queue, 'cluster');

    const table: Array<Record<string, string | number>> = [];
    for (const runbook of Object.keys(dev)) {
      const d = summary(dev[runbook]!);
      const k = summary(onCluster[runbook]!);
      table.push({
        runbook,
        'dev wall s': +(d.wallMs / 1000).toFixed(2),
        'cluster wall s': +(k.wallMs / 1000).toFixed(2),
        'activities s (dev / cluster)': `${(d.activityMs / 1000).toFixed(2)} / ${(k.activityMs / 1000).toFixed(2)}`,
        'overhead dev': `${(d.overheadShare * 100).toFixed(1)}%`,
        'overhead cluster': `${(k.overheadShare * 100).toFixed(1)}%`,
        'cluster/dev wall': +(k.wallMs / d.wallMs).toFixed(2),
        goal: k.overheadShare < 0.1 ? 'met (<10%)' : 'MISSED (>=10%)',
      });
    }
    console.log(`\nbench/cluster: ${reps} runs each, database ${minMb}+ MB, medians`);
    console.table(table);
    console.log(`\n${runs} concurrent health-check runs:`);
    console.table([
      { topology: 'dev', 'runs/s': +hcDev.perSecond.toFixed(1), 'seconds': +hcDev.seconds.toFixed(1), 'schedule-to-start p50 ms': +hcDev.s2sP50.toFixed(0), 'p99 ms': +hcDev.s2sP99.toFixed(0) },
      { topology: 'cluster', 'runs/s': +hcCluster.perSecond.toFixed(1), 'seconds': +hcCluster.seconds.toFixed(1), 'schedule-to-start p50 ms': +hcCluster.s2sP50.toFixed(0), 'p99 ms': +hcCluster.s2sP99.toFixed(0) },
    ]);
    console.log(`cluster/dev throughput: ${(hcCluster.perSecond / hcDev.perSecond).toFixed(2)}`);
    writeFileSync(
      path.join(__dirname, '..', 'results', 'cluster.json'),
      JSON.stringify({ at: new Date().toISOString(), reps, minMb, runbooks: { dev: Object.fromEntries(Object.entries(dev).map(([k, v]) => [k, summary(v)])), cluster: Object.fromEntries(Object.entries(onCluster).map(([k, v]) => [k, summary(v)])) }, healthChecks: { dev: hcDev, cluster: hcCluster } }, null, 2) + '\n',
    );
    await app.stop();
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)))));
    await clusterConnection?.close();
    await stopTemporalCluster(clusterDir);
    await stack.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
