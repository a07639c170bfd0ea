// The worker process: `node --import tsx worker/main.ts` (or via `runbook worker`). Runs until
// SIGINT/SIGTERM, then lets running activities finish within the grace time.
import { Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { loadConfig, ConfigError } from '../config/load';
import { createWorker } from './create-worker';

export async function runWorker(): Promise<void> {
  const config = loadConfig();
  if (config.worker.metricsPort > 0) {
    Runtime.install({
      telemetryOptions: {
        logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) },
        metrics: { prometheus: { bindAddress: `127.0.0.1:${config.worker.metricsPort}` } },
      },
    });
  }
  const { worker, close } = await createWorker(config, { identity: `runbook-worker@${process.pid}` });
  console.log(`worker: task queue ${config.temporal.taskQueue} on ${config.temporal.address}${config.worker.metricsPort ? `, metrics on 127.0.0.1:${config.worker.metricsPort}/metrics` : ''}`);
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
      console.error(e instanceof ConfigError ? e.message : e);
      process.exit(1);
    },
  );
}
