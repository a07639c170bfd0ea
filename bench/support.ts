// Shared by the benchmarks: a bench stack of its own (PostgreSQL cluster, Temporal dev server,
// an in-process worker) on ports that neither `npm start` nor the tests use, and timing helpers.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { startCluster, stopCluster } from '../sandbox/postgres-cluster';
import { stopManaged } from '../sandbox/processes';
import { startTemporalServer } from '../sandbox/temporal-server';
import { loadConfig, type LoadedConfig } from '../worker/config';
import { runCommand } from '../worker/adapters/process';

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
  return {
    config,
    client,
    stop: async () => {
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
