// Shared by the benchmarks: a bench stack of its own (PostgreSQL cluster, Temporal dev server,
// an in-process worker) on ports that neither `npm start` nor the tests use, and timing helpers.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { startCluster, stopCluster } from '../sandbox/postgres-cluster';
import { stopManaged } from '../sandbox/processes';
import { stopMonitoring } from '../sandbox/monitoring';
import { startTemporalServer } from '../sandbox/temporal-server';
import { loadConfig, type LoadedConfig } from '../config/load';
import { runCommand } from '../adapters/process';
import { Client as PgClient } from 'pg';
import { createSchema, hasSchema, seedCredits } from '../sandbox/credits-data';
import { seedConductorFromDatabase } from '../sandbox/conductor/seed';
import { serviceControl, type ServiceControl } from '../adapters/service-control';
import { conductorClient } from '../adapters/conductor';

export const benchRoot = process.env.RUNBOOK_BENCH_ROOT ?? path.join(os.tmpdir(), 'zerotrustml-runbooks-bench');
export const benchPorts = { temporal: 37233, ui: 38233, postgres: 55434, conductor: 38888 };

export interface BenchStack {
  config: LoadedConfig;
  client: Client;
  stop: () => Promise<void>;
}

async function waitForPollers(connection: Connection, taskQueue: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const r = await connection.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, taskQueueType: 2 });
    if ((r.pollers?.length ?? 0) > 0) return;
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`no worker polled ${taskQueue} within 120 s`);
}

export async function startBenchStack(o: { extraYaml?: string[]; conductorTimeoutSeconds?: number } = {}): Promise<BenchStack> {
  mkdirSync(benchRoot, { recursive: true });
  const configPath = path.join(benchRoot, 'runbooks.yaml');
  writeFileSync(
    configPath,
    [
      `dataDir: ${benchRoot}`,
      'temporal:',
      `  address: 127.0.0.1:${benchPorts.temporal}`,
      `  uiPort: ${benchPorts.ui}`,
      '  taskQueue: runbooks-bench',
      'database:',
      `  url: postgres://zerotrustml@127.0.0.1:${benchPorts.postgres}/credits`,
      'backup:',
      `  directory: ${path.join(benchRoot, 'backups')}`,
      'conductor:',
      `  adminUrl: ws://127.0.0.1:${benchPorts.conductor}`,
      `  dataDir: ${path.join(benchRoot, 'conductor')}`,
      `  timeoutSeconds: ${o.conductorTimeoutSeconds ?? 120}`,
      'dhtExport:',
      `  directory: ${path.join(benchRoot, 'dht-exports')}`,
      '  pageSize: 5000',
      'worker:',
      '  metricsPort: 0',
      ...(o.extraYaml ?? []),
      '',
    ].join('\n'),
  );
  const config = loadConfig({ file: configPath, env: {} });
  await startCluster({ dir: path.join(benchRoot, 'postgres'), port: benchPorts.postgres, role: 'zerotrustml', database: 'credits' });
  await startTemporalServer({ dataDir: benchRoot, address: config.temporal.address, uiPort: benchPorts.ui, namespace: 'default', headless: true });
  // The worker runs as its own process, as in production (worker/main.ts), not inside the bench.
  const workerProcess = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'worker', 'main.ts')], {
    env: { ...process.env, RUNBOOK_CONFIG: configPath },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((r) => workerProcess.once('exit', r));
  const connection = await Connection.connect({ address: config.temporal.address });
  await waitForPollers(connection, config.temporal.taskQueue);
  const client = new Client({ connection, namespace: 'default' });
  // The bench's Temporal data outlives a bench: a run an interrupted bench left open (an incident
  // waiting for its alert, say) would be joined instead of a new one started, and spoil the timing.
  for await (const w of client.workflow.list({ query: 'ExecutionStatus = "Running"' })) {
    await client.workflow.getHandle(w.workflowId, w.runId).terminate('bench start: left over from an earlier bench').catch(() => undefined);
  }
  return {
    config,
    client,
    // Everything a bench may have started goes too, also what a runbook restarted during it (the
    // application, the conductor, Prometheus and Alertmanager): nothing outlives the bench.
    stop: async () => {
      if (config.applicationService) await serviceControl(config.applicationService).stop().catch(() => undefined);
      await serviceControl(config.conductorService).stop().catch(() => undefined);
      await stopMonitoring(benchRoot);
      workerProcess.kill('SIGTERM');
      await exited;
      await connection.close();
      await stopManaged(benchRoot, 'temporal');
      await stopCluster({ dir: path.join(benchRoot, 'postgres') });
    },
  };
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, value };
}

/** Runs a shell pipeline the way the runbook's manual procedure does (it is a shell script). */
export async function sh(script: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return (await timed(() => runCommand(['bash', '-o', 'pipefail', '-c', script], { env }))).ms;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function secs(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it gives a value (errors count as "not yet"). */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Generates credits until the database is at least `minMb` (it keeps what earlier runs made). */
export async function ensureDatabaseSize(pg: PgClient, minMb: number): Promise<number> {
  if (!(await hasSchema(pg))) await createSchema(pg);
  const size = async (): Promise<number> => Number((await pg.query<{ s: string }>(`SELECT pg_database_size('credits') AS s`)).rows[0]!.s);
  while ((await size()) < minMb * 1024 * 1024) {
    process.stderr.write(`generating credits (database is ${((await size()) / 1048576).toFixed(0)} MB, want ${minMb} MB)…\n`);
    await seedCredits(pg, { credits: 200_000 });
  }
  return size();
}

/** The sandbox's data for the detection and recovery benches: a small credits database when there
 * is none, the conductor started with the app, and at least `minDhtCredits` on the DHT (seeded
 * from the database). Returns the conductor's service control and how many credits it holds. */
export async function prepareSandboxData(config: LoadedConfig, o: { minDhtCredits?: number; minMb?: number } = {}): Promise<{ conductorService: ServiceControl; dhtCredits: number; dbBytes: number }> {
  const pg = new PgClient({ connectionString: config.database.url });
  await pg.connect();
  try {
    let dbBytes: number;
    if (o.minMb !== undefined) {
      dbBytes = await ensureDatabaseSize(pg, o.minMb);
    } else {
      if (!(await hasSchema(pg))) {
        await createSchema(pg);
        await seedCredits(pg, { credits: 2000, nodes: 40 });
      }
      dbBytes = Number((await pg.query<{ s: string }>(`SELECT pg_database_size('credits') AS s`)).rows[0]!.s);
    }
    const conductorService = serviceControl(config.conductorService);
    await conductorService.start();
    const conductor = conductorClient(config);
    try {
      await conductor.ensureApp();
      const want = o.minDhtCredits ?? 1;
      if ((await conductor.getAllCredits(undefined, 1)).total < want) {
        process.stderr.write(`seeding the DHT from the database…\n`);
        await seedConductorFromDatabase(pg, conductor, o.minDhtCredits === undefined ? {} : { limit: o.minDhtCredits });
      }
      return { conductorService, dhtCredits: (await conductor.getAllCredits(undefined, 1)).total, dbBytes };
    } finally {
      await conductor.close();
    }
  } finally {
    await pg.end();
  }
}
