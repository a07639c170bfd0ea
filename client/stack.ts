// `runbook stack up|down|status` and `npm start`: the sandbox a new user gets with one command:
// the Temporal dev server with its UI, a PostgreSQL cluster with a credits database, the worker,
// and the schedules.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { createSchema, hasSchema, seedCredits } from '../sandbox/credits-data';
import { isRunning as pgIsRunning, startCluster, stopCluster } from '../sandbox/postgres-cluster';
import { isAlive, readPid, startBackground, stopManaged } from '../sandbox/processes';
import { clusterDown, clusterUp } from './temporal-cluster';
import { isServing, splitAddress, startTemporalServer } from '../sandbox/temporal-server';
import { findMonitoring, startMonitoring, stopMonitoring } from '../sandbox/monitoring';
import { databaseTarget, type LoadedConfig } from '../config/load';
import { seedConductorFromDatabase } from '../sandbox/conductor/seed';
import { runCommand } from '../adapters/process';
import { serviceControl } from '../adapters/service-control';
import { conductorClient } from '../adapters/conductor';
import { applySchedules } from './schedules';
import { connectClient } from './temporal';
import type { Client } from '@temporalio/client';
import type { DatabaseArchivingResult } from '../common/runbooks';
import { Postgres } from '../adapters/postgres';
import { redactUrl } from '../adapters/secrets';
import { nodeProgram, projectRoot } from '../config/project';


export const creditsServiceCli = nodeProgram('sandbox/credits-service/cli');

export function creditsServiceDir(config: LoadedConfig): string {
  return path.join(config.dataDir, 'credits-service');
}

export function clusterDir(config: LoadedConfig): string {
  return path.join(config.dataDir, 'postgres');
}

export interface StackStatus {
  temporal: { address: string; serving: boolean; uiUrl: string };
  conductor: { adminUrl: string; alive: boolean; appEnabled: boolean; managed: boolean; dataDir?: string };
  postgres: { managed: boolean; url: string; running: boolean; dir?: string };
  worker: { pid?: number; running: boolean; log: string };
  receiver: { url: string; running: boolean };
  monitoring: { prometheusUrl?: string; alertmanagerUrl?: string; running: boolean; note?: string };
}

/** The receiver's bearer token: configured, or (sandbox) generated once and kept in dataDir. */
export function receiverToken(config: LoadedConfig): string {
  if (config.receiver.token) return config.receiver.token;
  const file = path.join(config.dataDir, 'receiver.token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(config.dataDir, { recursive: true });
  const token = randomBytes(24).toString('hex');
  writeFileSync(file, token, { mode: 0o600 });
  return token;
}

export async function stackStatus(config: LoadedConfig): Promise<StackStatus> {
  const [host] = splitAddress(config.temporal.address);
  const workerPid = readPid(config.dataDir, 'worker');
  const target = databaseTarget(config);
  const conductor = conductorClient(config);
  const live = await conductor.liveness();
  await conductor.close();
  return {
    conductor: { adminUrl: config.conductor.adminUrl, alive: live.alive, appEnabled: live.appEnabled, managed: config.conductor.managed, dataDir: config.conductor.managed ? config.conductorDataDir : undefined },
    temporal: { address: config.temporal.address, serving: await isServing(config.temporal.address, config.temporal.namespace), uiUrl: `http://${host}:${config.temporal.uiPort}` },
    postgres: config.database.managed
      ? { managed: true, url: redactUrl(config.database.url), running: await pgIsRunning({ dir: clusterDir(config), binDir: config.database.binDir }), dir: clusterDir(config) }
      : { managed: false, url: redactUrl(config.database.url), running: await canConnect(target.url.toString()) },
    worker: { pid: workerPid, running: workerPid !== undefined && isAlive(workerPid), log: path.join(config.dataDir, 'run', 'worker.log') },
    receiver: { url: `http://127.0.0.1:${config.receiver.port}/alertmanager`, running: readPid(config.dataDir, 'receiver') !== undefined },
    monitoring: monitoringStatus(config),
  };
}

function monitoringStatus(config: LoadedConfig): StackStatus['monitoring'] {
  if (!config.monitoring.managed) return { running: false, note: 'monitoring.managed is false' };
  const bins = findMonitoring();
  if (!bins.prometheus || !bins.alertmanager) return { running: false, note: 'Prometheus/Alertmanager not installed (apt-get install prometheus prometheus-alertmanager); the built-in health check still runs' };
  return {
    prometheusUrl: `http://127.0.0.1:${config.monitoring.prometheusPort}`,
    alertmanagerUrl: `http://127.0.0.1:${config.monitoring.alertmanagerPort}`,
    running: readPid(config.dataDir, 'prometheus') !== undefined && readPid(config.dataDir, 'alertmanager') !== undefined,
  };
}

async function canConnect(url: string): Promise<boolean> {
  const c = new PgClient(Postgres.fromUrl(url, '').clientConfig(undefined, 3000));
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Thrown by stackUp when a part cannot start: what was missing, and that what it started was
 * stopped again. */
export class StackUpFailed extends Error {
  override readonly name = 'StackUpFailed';
}

export async function stackUp(config: LoadedConfig, o: { seedCredits?: number; log?: (l: string) => void } = {}): Promise<StackStatus> {
  const log = o.log ?? ((l: string) => console.log(l));
  if (config.production) {
    throw new StackUpFailed('stack up runs the sandbox; this is a production configuration (production: true). In production the worker and the receiver run as services on their hosts: see deploy/README.md');
  }
  // What this call started, stopped again (newest first) if a later part fails: a failed start
  // leaves nothing running behind.
  const started: Array<[string, () => Promise<unknown>]> = [];
  try {
    return await startParts(config, o, log, started);
  } catch (e) {
    for (const [name, stop] of started.reverse()) {
      await stop().then(
        () => log(`${name}: stopped again`),
        (err: unknown) => log(`${name}: could not be stopped: ${(err as Error).message}`),
      );
    }
    throw new StackUpFailed(`stack up failed, and stopped what it had started: ${(e as Error).message}`, { cause: e });
  }
}

async function startParts(config: LoadedConfig, o: { seedCredits?: number }, log: (l: string) => void, started: Array<[string, () => Promise<unknown>]>): Promise<StackStatus> {
  const target = databaseTarget(config);

  if (config.database.managed) {
    log(`postgres: starting the project's cluster in ${clusterDir(config)} on port ${target.port}`);
    const wasRunning = await pgIsRunning({ dir: clusterDir(config), binDir: config.database.binDir });
    await startCluster({ dir: clusterDir(config), port: target.port, binDir: config.database.binDir, role: target.user, database: target.name, listen: target.host });
    if (!wasRunning) started.push(['postgres', () => stopCluster({ dir: clusterDir(config), binDir: config.database.binDir })]);
  } else {
    log(`postgres: using the existing server at ${target.host}:${target.port} (DATABASE_URL / database.managed=false)`);
  }
  const pg = new PgClient(Postgres.fromUrl(config.database.url, '').clientConfig());
  await pg.connect().catch((e: unknown) => {
    throw new Error(`cannot connect to the database ${target.name} at ${target.host}:${target.port}: ${(e as Error).message}`);
  });
  let schema: boolean;
  try {
    schema = await hasSchema(pg);
    if (config.database.managed && !schema) {
      const n = o.seedCredits ?? 20_000;
      log(`postgres: creating the credits schema and ${n} generated credits`);
      await createSchema(pg);
      await seedCredits(pg, { credits: n });
      schema = true;
    }
  } finally {
    await pg.end();
  }
  // The product works on any database; only the sandbox's simulator and conductor seeding need
  // the sandbox's credits schema.
  if (!schema && config.application.managed) {
    throw new Error(
      `the database ${target.name} at ${target.host}:${target.port} has no credits schema (no table "credits"), which the sandbox's simulator needs. ` +
        'The runbooks themselves do not: set application.managed: false to run them against this database, or use the sandbox\'s own database (unset DATABASE_URL)',
    );
  }

  const conductor = conductorClient(config);
  try {
    if (config.conductor.managed) {
      log(`conductor: starting the stand-in on ${config.conductor.adminUrl} (data in ${config.conductorDataDir})`);
      const wasAlive = (await conductor.liveness()).alive;
      await runCommand(config.conductorService.type === 'command' ? config.conductorService.start : ['systemctl', 'start', config.conductorService.unit]);
      if (!wasAlive) started.push(['conductor', () => serviceControl(config.conductorService).stop()]);
    }
    const app = await conductor.ensureApp();
    if (app.installed) log(`conductor: installed app ${config.conductor.appId}`);
    const page = await conductor.getAllCredits(undefined, 1);
    if (config.conductor.managed && page.total === 0 && schema) {
      const pgSeed = new PgClient(Postgres.fromUrl(config.database.url, '').clientConfig());
      await pgSeed.connect();
      try {
        log(`conductor: seeding the DHT with ${await seedConductorFromDatabase(pgSeed, conductor)} credits from the database`);
      } finally {
        await pgSeed.end();
      }
    }
  } finally {
    await conductor.close();
  }

  if (config.application.managed && config.applicationService) {
    log(`credits service: starting the simulator (${config.application.statusUrl})`);
    const app = serviceControl(config.applicationService);
    const wasActive = await app.isActive();
    await app.start();
    if (wasActive !== true) started.push(['credits service', () => app.stop()]);
  }

  if (config.temporal.server === 'cluster') {
    await startClusterMode(config, log, started);
  } else {
    await startDevServer(config, log, started);
  }

  if (readPid(config.dataDir, 'worker') === undefined) {
    log('worker: starting');
    const env = { ...process.env };
    if (config.source) env.RUNBOOK_CONFIG = config.source;
    startBackground(config.dataDir, 'worker', nodeProgram('worker/main'), { env, cwd: projectRoot });
    started.push(['worker', () => stopManaged(config.dataDir, 'worker', { signal: 'SIGTERM', graceMs: 15_000 })]);
  } else {
    log('worker: already running, reused');
  }

  // The receiver (Alertmanager's webhook target) runs as its own process, like in production.
  const token = receiverToken(config);
  if (readPid(config.dataDir, 'receiver') === undefined) {
    log(`receiver: starting on 127.0.0.1:${config.receiver.port}`);
    const env: NodeJS.ProcessEnv = { ...process.env, RUNBOOK_RECEIVER_TOKEN: token };
    if (config.source) env.RUNBOOK_CONFIG = config.source;
    startBackground(config.dataDir, 'receiver', [...nodeProgram('client/cli'), 'receiver'], { env, cwd: projectRoot });
    started.push(['receiver', () => stopManaged(config.dataDir, 'receiver', { signal: 'SIGTERM', graceMs: 5_000 })]);
  }

  const mon = monitoringStatus(config);
  if (mon.prometheusUrl && config.application.managed) {
    log(`monitoring: starting Prometheus (${mon.prometheusUrl}) and Alertmanager (${mon.alertmanagerUrl})`);
    await startMonitoring({
      dataDir: config.dataDir,
      prometheusPort: config.monitoring.prometheusPort,
      alertmanagerPort: config.monitoring.alertmanagerPort,
      scrapeTarget: new URL(config.application.metricsUrl ?? config.application.statusUrl).host,
      jobs: [
        { job: 'zerotrustml-receiver', target: `127.0.0.1:${config.receiver.port}` },
        ...(config.worker.metricsPort > 0 ? [{ job: 'zerotrustml-worker', target: `127.0.0.1:${config.worker.metricsPort}` }] : []),
        ...(config.physical.enabled && config.physical.metricsPort > 0 ? [{ job: 'zerotrustml-physical-tier', target: `127.0.0.1:${config.physical.metricsPort}` }] : []),
      ],
      receiverUrl: `http://127.0.0.1:${config.receiver.port}/alertmanager`,
      token,
      scrapeIntervalSeconds: config.monitoring.scrapeIntervalSeconds,
      evaluationIntervalSeconds: config.monitoring.evaluationIntervalSeconds,
      groupWaitSeconds: config.monitoring.groupWaitSeconds,
      repeatIntervalSeconds: config.monitoring.repeatIntervalSeconds,
      log,
    });
  } else if (mon.note) {
    log(`monitoring: not started (${mon.note})`);
  }

  const { client, close } = await connectClient(config);
  try {
    for (const r of await applySchedules(client, config)) log(`schedule ${r.scheduleId}: ${r.outcome} (${r.description})`);
    if (config.physical.enabled && config.database.managed) await physicalTier(client, config, log);
  } finally {
    await close();
  }
  return stackStatus(config);
}

/** The sandbox's cluster archives by default: the database-archiving runbook (a no-op once done;
 * the first time it restarts the cluster for archive_mode), then a physical backup in the
 * background so restore-cluster has something to start from. A missing pgbackrest is said, not
 * fatal: everything else of the sandbox works without the physical tier. */
async function physicalTier(client: Client, config: LoadedConfig, log: (l: string) => void): Promise<void> {
  const args = [{ trigger: 'manual', requestedBy: 'stack-up' }];
  try {
    const r = (await client.workflow.execute('databaseArchiving', { taskQueue: config.temporal.taskQueue, workflowId: `database-archiving-stack-up-${Date.now()}`, args })) as DatabaseArchivingResult;
    log(`physical tier: WAL archiving to ${config.physical.repository} (stanza ${r.stanza}; ${r.changed.length ? `set ${r.changed.join(', ')}${r.restarted ? ', PostgreSQL restarted' : ''}` : 'already set up'})`);
  } catch (e) {
    // The innermost cause: "Activity task failed" says nothing, the pgBackRest message does.
    let f = e as { cause?: unknown; message?: string };
    while (f.cause) f = f.cause;
    const cause = f.message ?? (e as Error).message;
    log(`physical tier: NOT set up (${cause}); the logical backups work without it. Fix it and run \`runbook run database-archiving --wait\``);
    return;
  }
  const h = await client.workflow.start('physicalBackup', { taskQueue: config.temporal.taskQueue, workflowId: `physical-backup-stack-up-${Date.now()}`, args });
  log(`physical tier: a physical backup started (${h.workflowId}); restore-cluster restores to any second after it`);
}

async function startDevServer(config: LoadedConfig, log: (l: string) => void, started: Array<[string, () => Promise<unknown>]>): Promise<void> {
  log(`temporal: starting the dev server on ${config.temporal.address} (UI port ${config.temporal.uiPort})`);
  const temporal = await startTemporalServer({
    dataDir: config.dataDir,
    address: config.temporal.address,
    uiPort: config.temporal.uiPort,
    namespace: config.temporal.namespace,
    cli: config.temporal.cli,
    log,
  });
  if (temporal.reused) log('temporal: already running, reused');
  else started.push(['temporal', () => stopManaged(config.dataDir, 'temporal', { signal: 'SIGTERM', graceMs: 15_000 })]);
  if (temporal.inProcess) {
    log('temporal: running inside this process (SDK download): it stops when this command ends');
    inProcessServers.push(temporal.inProcess);
  }
}

/** The Temporal server itself with PostgreSQL persistence of its own (production's shape), and
 * its Web UI server: client/temporal-cluster.ts, as `runbook temporal-cluster up` runs it. */
async function startClusterMode(config: LoadedConfig, log: (l: string) => void, started: Array<[string, () => Promise<unknown>]>): Promise<void> {
  started.push(...(await clusterUp(config, { log })).started);
}

/** Servers that live in this process (the SDK-downloaded dev server): stopped by stackDown. */
const inProcessServers: Array<{ stop: () => Promise<void> }> = [];

export function hasInProcessServers(): boolean {
  return inProcessServers.length > 0;
}

export async function stackDown(config: LoadedConfig, log: (l: string) => void = (l) => console.log(l)): Promise<void> {
  for (const s of inProcessServers.splice(0)) await s.stop();
  for (const name of await stopMonitoring(config.dataDir)) log(`${name}: stopped`);
  if (await stopManaged(config.dataDir, 'receiver', { signal: 'SIGTERM', graceMs: 5_000 })) log('receiver: stopped');
  if (await stopManaged(config.dataDir, 'worker', { signal: 'SIGTERM', graceMs: 15_000 })) log('worker: stopped');
  if (await stopManaged(config.dataDir, 'temporal', { signal: 'SIGTERM', graceMs: 15_000 })) log('temporal: stopped');
  await clusterDown(config, { log });
  if (config.application.managed && config.applicationService) {
    await serviceControl(config.applicationService)
      .stop()
      .catch((e: unknown) => log(`credits service: ${(e as Error).message}`));
    log('credits service: stopped');
  }
  if (config.conductor.managed && config.conductorService.type === 'command') {
    await runCommand(config.conductorService.stop).catch((e: unknown) => log(`conductor: ${(e as Error).message}`));
    log('conductor: stopped');
  }
  if (config.database.managed && existsSync(clusterDir(config))) {
    await stopCluster({ dir: clusterDir(config), binDir: config.database.binDir });
    log('postgres: stopped');
  }
}

export function formatStatus(s: StackStatus): string {
  const mark = (ok: boolean): string => (ok ? 'up  ' : 'down');
  return [
    `${mark(s.temporal.serving)}  temporal  ${s.temporal.address}  UI ${s.temporal.uiUrl}`,
    `${mark(s.postgres.running)}  postgres  ${s.postgres.url}${s.postgres.managed ? `  (cluster ${s.postgres.dir})` : '  (existing server)'}`,
    `${mark(s.conductor.alive)}  conductor ${s.conductor.adminUrl}${s.conductor.alive ? `  app ${s.conductor.appEnabled ? 'enabled' : 'NOT enabled'}` : ''}${s.conductor.managed ? `  (stand-in, data ${s.conductor.dataDir})` : ''}`,
    `${mark(s.worker.running)}  worker    ${s.worker.pid ? `pid ${s.worker.pid}` : 'not running'}  log ${s.worker.log}`,
    `${mark(s.receiver.running)}  receiver  ${s.receiver.url}`,
    s.monitoring.prometheusUrl
      ? `${mark(s.monitoring.running)}  monitor   Prometheus ${s.monitoring.prometheusUrl}  Alertmanager ${s.monitoring.alertmanagerUrl}`
      : `----  monitor   ${s.monitoring.note ?? ''}`,
  ].join('\n');
}
