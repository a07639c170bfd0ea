// The worker process: `node --import tsx worker/main.ts` (or via `runbook worker [--host NAME]`).
// Without a host it serves the shared task queue (every runbook, and every step whose role has no
// host); with one (or RUNBOOK_HOST), that host's own queue, with the steps that touch the host.
// Runs until SIGINT/SIGTERM, then lets running activities finish within the grace time.
import os from 'node:os';
import { Runtime } from '@temporalio/worker';
import { hostQueue } from '../common/config-schema';
import { loadConfig, ConfigError } from '../config/load';
import { createWorker } from './create-worker';
import { installRuntime, jsonLogger } from './logging';

export async function runWorker(o: { host?: string } = {}): Promise<void> {
  const config = loadConfig();
  const host = o.host ?? (process.env.RUNBOOK_HOST || undefined);
  if (host !== undefined && !Object.prototype.hasOwnProperty.call(config.hosts, host)) {
    throw new ConfigError(`--host ${host}: expected one of the configured hosts (${Object.keys(config.hosts).join(', ') || 'none: set hosts in the configuration'})`, []);
  }
  installRuntime(config);
  // The identity is what the history shows as the worker of each step: host role, machine, pid.
  const identity = `runbook-worker${host ? `[${host}]` : ''}@${os.hostname()}:${process.pid}`;
  const { worker, close } = await createWorker(config, { identity, host });
  const queue = host ? hostQueue(config.temporal.taskQueue, host) : config.temporal.taskQueue;
  Runtime.instance().logger.info('worker started', { identity, taskQueue: queue, temporal: config.temporal.address, ...(config.worker.metricsPort ? { metrics: `127.0.0.1:${config.worker.metricsPort}/metrics` } : {}) });
  try {
    await worker.run();
  } finally {
    await close();
  }
}

if (require.main === module) {
  runWorker().then(
    () => process.exit(0),
    (e: unknown) => {
      jsonLogger.error(e instanceof ConfigError ? e.message : 'worker failed', e instanceof ConfigError ? {} : { error: e as Error });
      process.exit(1);
    },
  );
}
