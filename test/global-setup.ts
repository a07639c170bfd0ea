// Starts the test stack once for all suites: a PostgreSQL cluster with a small credits database,
// the Temporal dev server (with UI and search attributes), the workflow bundle, and one worker.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import path from 'node:path';
import { createSchema, seedCredits } from '../sandbox/credits-data';
import { startCluster, stopCluster } from '../sandbox/postgres-cluster';
import { stopManaged } from '../sandbox/processes';
import { seedConductorFromDatabase } from '../sandbox/conductor/seed';
import { serviceControl } from '../adapters/service-control';
import { loadConfig } from '../config/load';
import { conductorClient } from '../adapters/conductor';
import { startTemporalServer } from '../sandbox/temporal-server';
import { appDataDir, bundlePath, projectRoot, testConfigPath, testConfigYaml, testPorts, testRoot, testTaskQueue } from './support/env';
import { startWorkerProcess } from './support/worker-process';

export default async function globalSetup(): Promise<void> {
  const log = (l: string): void => void process.stderr.write(`[test stack] ${l}\n`);
  // Leftovers of an interrupted earlier run: stop them, then start clean.
  await stopManaged(testRoot, 'temporal').catch(() => undefined);
  await stopCluster({ dir: path.join(testRoot, 'postgres') }, 'immediate').catch(() => undefined);
  await stopConductor();
  rmSync(testRoot, { recursive: true, force: true });
  mkdirSync(testRoot, { recursive: true });
  writeFileSync(testConfigPath, testConfigYaml());

  log('PostgreSQL cluster');
  await startCluster({ dir: path.join(testRoot, 'postgres'), port: testPorts.postgres, role: 'zerotrustml', database: 'credits' });
  const pg = new PgClient({ connectionString: `postgres://zerotrustml@127.0.0.1:${testPorts.postgres}/credits` });
  await pg.connect();
  await createSchema(pg);
  await seedCredits(pg, { credits: 5000, nodes: 40 });
  await pg.end();

  log('conductor stand-in');
  const config = loadConfig({ file: testConfigPath, env: {} });
  await serviceControl(config.conductorService).start();
  const conductor = conductorClient(config);
  await conductor.ensureApp();
  const seedPg = new PgClient({ connectionString: `postgres://zerotrustml@127.0.0.1:${testPorts.postgres}/credits` });
  await seedPg.connect();
  await seedConductorFromDatabase(seedPg, conductor);
  await seedPg.end();
  await conductor.close();

  log('Temporal dev server');
  await startTemporalServer({ dataDir: testRoot, address: `127.0.0.1:${testPorts.temporal}`, uiPort: testPorts.ui, namespace: 'default', log });

  log('workflow bundle');
  const { code } = await bundleWorkflowCode({ workflowsPath: path.join(projectRoot, 'workflows', 'index.ts'), logger: quietLogger });
  writeFileSync(bundlePath, code);

  log('worker');
  const worker = await startWorkerProcess({ taskQueue: testTaskQueue });
  // The worker outlives this module: keep it in the global state for teardown.
  (globalThis as { __runbookWorker?: unknown }).__runbookWorker = worker;
  process.env.RUNBOOK_CONFIG = testConfigPath;
}

/** Stops a stand-in conductor and a simulator left by an earlier run (their pid files are in
 * their data directories). */
async function stopConductor(): Promise<void> {
  for (const pidFile of [path.join(testRoot, 'conductor', 'conductor.pid'), path.join(appDataDir, 'credits-service.pid')]) {
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8'));
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => void process.stderr.write(`[bundle] ${m}\n`),
  error: (m: string) => void process.stderr.write(`[bundle] ${m}\n`),
};
