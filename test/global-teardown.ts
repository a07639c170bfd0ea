// Stops what global-setup started. KEEP_TEST_STACK=1 leaves the data for a post-mortem.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { stopCluster } from '../sandbox/postgres-cluster';
import { stopManaged } from '../sandbox/processes';
import { serviceControl } from '../adapters/service-control';
import { loadConfig } from '../config/load';
import { testConfigPath, testRoot } from './support/env';
import type { WorkerProcess } from './support/worker-process';

export default async function globalTeardown(): Promise<void> {
  const worker = (globalThis as { __runbookWorker?: WorkerProcess }).__runbookWorker;
  await worker?.stop();
  await stopManaged(testRoot, 'temporal');
  const config = loadConfig({ file: testConfigPath, env: {} });
  if (config.applicationService) await serviceControl(config.applicationService).stop().catch(() => undefined);
  await serviceControl(config.conductorService)
    .stop()
    .catch(() => undefined);
  await stopCluster({ dir: path.join(testRoot, 'postgres') });
  if (!process.env.KEEP_TEST_STACK) rmSync(testRoot, { recursive: true, force: true });
}
