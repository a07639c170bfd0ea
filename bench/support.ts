// Shared by the benchmarks: a bench stack of its own (PostgreSQL cluster, Temporal dev server,
// an in-process worker) on ports that neither `npm start` nor the tests use, and timing helpers.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { startCluster, stopCluster } from '../sandbox/postgres-cluster';
import { stopManaged } from '../sandbox/processes';
import { startTemporalServer } from '../sandbox/temporal-server';
import { createWorker } from '../worker/create-worker';
import { loadConfig, type LoadedConfig } from '../worker/config';
import { runCommand } from '../worker/adapters/process';

export const benchRoot = process.env.RUNBOOK_BENCH_ROOT ?? path.join(os.tmpdir(), 'zerotrustml-runbooks-bench');
export const benchPorts = { temporal: 37233, ui: 38233, postgres: 55434, conductor: 38888 };

export interface BenchStack {
  config: LoadedConfig;
  client: Client;
  worker: Worker;
  stop: () => Promise<void>;
}

export async function startBenchStack(): Promise<BenchStack> {
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
      '  timeoutSeconds: 120',
      'dhtExport:',
      `  directory: ${path.join(benchRoot, 'dht-exports')}`,
      '  pageSize: 5000',
      'worker:',
      '  metricsPort: 0',
      '',
    ].join('\n'),
  );
  const config = loadConfig({ file: configPath, env: {} });
  await startCluster({ dir: path.join(benchRoot, 'postgres'), port: benchPorts.postgres, role: 'zerotrustml', database: 'credits' });
  await startTemporalServer({ dataDir: benchRoot, address: config.temporal.address, uiPort: benchPorts.ui, namespace: 'default', headless: true });
  const { worker, close: closeWorker } = await createWorker(config);
  const running = worker.run();
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: 'default' });
  return {
    config,
    client,
    worker,
    stop: async () => {
      worker.shutdown();
      await running.catch(() => undefined);
      await closeWorker();
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
