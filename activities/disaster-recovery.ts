// Disaster recovery and the DR drill: the prerequisites (latest verified database backup, DHT
// export and configuration backup, each with its age: the recovery point), provisioning through a
// hook, starting the application, and the final verification. The drill does the same recovery
// into an isolated environment (its own cluster on its own port, its own conductor on its own
// port and data directory), verifies it, measures it and tears it down; it never touches
// production.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { Failure } from '../common/failures';
import { DHT_MANIFEST_FORMAT, type DhtExportManifest } from '../common/dht-export';
import { runCommand } from '../worker/adapters/process';
import { Postgres } from '../worker/adapters/postgres';
import { serviceControl, type ServiceControl } from '../worker/adapters/service-control';
import { clusterServiceAt, standInService } from '../worker/config';
import { conductorClient } from '../worker/deps';
import { listBackups, listManifested } from './backup-files';
import { CONFIG_MANIFEST_FORMAT, type ConfigBackupManifest } from './config-backup';
import { createDhtActivities } from './dht';
import type { ActivityDeps } from './deps';
import { readStatusReport } from './status-report';
import { createRestoreDatabaseActivities } from './restore-database';

export interface RecoveryPoint {
  path: string;
  finishedAt: string;
  ageSeconds: number;
}

export interface DrPrerequisites {
  database: RecoveryPoint & { tables: Record<string, number> };
  dht: RecoveryPoint & { credits: number; contentHash: string };
  config?: RecoveryPoint & { files: number };
  problems: string[];
}

export interface DrillEnvironment {
  dir: string;
  postgresPort: number;
  conductorPort: number;
  database: string;
}


export function createDisasterRecoveryActivities(deps: ActivityDeps) {
  const cfg = deps.config;
  const now = (): Date => deps.now?.() ?? new Date();

  async function drPrerequisites(input: { requireConfig?: boolean } = {}): Promise<DrPrerequisites> {
    const t = now().getTime();
    const age = (iso: string): number => Math.round((t - Date.parse(iso)) / 1000);
    const problems: string[] = [];
    const db = (await listBackups(cfg.backupDirectory)).backups.find((b) => b.present && b.manifest.verified && b.manifest.database === deps.postgres.target.database);
    const dht = (await listManifested<DhtExportManifest>(cfg.dhtExportDirectory, DHT_MANIFEST_FORMAT)).backups.find((b) => b.present && b.manifest.verified);
    const conf = (await listManifested<ConfigBackupManifest>(cfg.configBackupDirectory, CONFIG_MANIFEST_FORMAT)).backups.find((b) => b.present && b.manifest.verified);
    if (!db) problems.push(`no verified database backup of ${deps.postgres.target.database} in ${cfg.backupDirectory}`);
    if (!dht) problems.push(`no verified DHT export in ${cfg.dhtExportDirectory}`);
    if (!conf && (input.requireConfig ?? cfg.disasterRecovery.requireConfigBackup)) problems.push(`no verified configuration backup in ${cfg.configBackupDirectory} (disasterRecovery.requireConfigBackup)`);
    if (problems.length) {
      throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `disaster recovery cannot start: ${problems.join('; ')}`, nonRetryable: true });
    }
    return {
      database: { path: db!.path, finishedAt: db!.manifest.finishedAt, ageSeconds: age(db!.manifest.finishedAt), tables: db!.manifest.tables },
      dht: { path: dht!.path, finishedAt: dht!.manifest.finishedAt, ageSeconds: age(dht!.manifest.finishedAt), credits: dht!.manifest.credits, contentHash: dht!.manifest.contentHash },
      config: conf ? { path: conf.path, finishedAt: conf.manifest.finishedAt, ageSeconds: age(conf.manifest.finishedAt), files: conf.manifest.files.length } : undefined,
      problems,
    };
  }

  /** The provisioning hook, or in the sandbox the database and conductor services' start. */
  async function provision(): Promise<{ how: string[] }> {
    const how: string[] = [];
    if (cfg.disasterRecovery.provision) {
      await runCommand(cfg.disasterRecovery.provision, { timeoutMs: 3_600_000 });
      how.push(`hook: ${cfg.disasterRecovery.provision.join(' ')}`);
      return { how };
    }
    if (!cfg.databaseService) throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: 'disasterRecovery.provision: expected a provisioning command (or a database.service to start), found neither', nonRetryable: true });
    await serviceControl(cfg.databaseService).start();
    how.push(`database: ${serviceControl(cfg.databaseService).describe()}`);
    await serviceControl(cfg.conductorService).start();
    how.push(`conductor: ${serviceControl(cfg.conductorService).describe()}`);
    return { how };
  }

  async function startApplication(): Promise<{ started: boolean; how: string }> {
    if (!cfg.applicationService) return { started: false, how: 'no application.service configured: start the application by hand' };
    const s = serviceControl(cfg.applicationService);
    if ((await s.isActive()) !== true) await s.start();
    return { started: true, how: s.describe() };
  }

  /** Credit totals equal to the backups' (before the application adds any), read on both stores. */
  async function verifyTotals(input: { dbCredits: number; dhtCredits: number }): Promise<{ matches: boolean; dbCredits: number; dhtCredits: number }> {
    const dbCredits = await deps.postgres.withClient(undefined, async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM credits')).rows[0]!.n));
    const dhtCredits = (await deps.conductor.getAllCredits(undefined, 1)).total;
    return { matches: dbCredits === input.dbCredits && dhtCredits === input.dhtCredits, dbCredits, dhtCredits };
  }

  /** The runbook's last step: the status report answers healthy (or degraded) with active nodes. */
  async function verifyStatusReport(input: { timeoutSeconds: number }): Promise<{ ok: boolean; systemStatus?: string; activeNodes?: number; details: string }> {
    const deadline = Date.now() + input.timeoutSeconds * 1000;
    let last = 'no answer';
    while (Date.now() < deadline) {
      const { report: r, error } = await readStatusReport(cfg, 3000);
      last = r ? `status ${r.system_status}, ${r.metrics.health.active_nodes} active nodes` : error!;
      if (r && r.metrics.health.active_nodes > 0) return { ok: true, systemStatus: r.system_status, activeNodes: r.metrics.health.active_nodes, details: last };
      await new Promise((r) => setTimeout(r, 500));
    }
    return { ok: false, details: `after ${input.timeoutSeconds} s: ${last}` };
  }

  // --- the drill's isolated environment ---

  function drillDeps(env: DrillEnvironment): ActivityDeps {
    const target = deps.postgres.target;
    const postgres = new Postgres({ host: '127.0.0.1', port: env.postgresPort, user: target.user, database: env.database, password: target.password }, deps.postgres.binDir);
    return { ...deps, postgres, conductor: conductorClient(cfg, `ws://127.0.0.1:${env.conductorPort}`) };
  }

  /** The drill's cluster and conductor, controlled like the sandbox's own. */
  const drillServices = (env: DrillEnvironment): { cluster: ServiceControl; conductor: ServiceControl } => ({
    cluster: serviceControl(clusterServiceAt({ dir: path.join(env.dir, 'postgres'), port: env.postgresPort, role: deps.postgres.target.user, database: env.database, binDir: cfg.database.binDir }), { timeoutMs: 300_000 }),
    conductor: serviceControl(standInService(path.join(env.dir, 'conductor'), `ws://127.0.0.1:${env.conductorPort}`)),
  });

  async function drillSettings(): Promise<DrillEnvironment> {
    return {
      dir: path.join(cfg.dataDir, 'dr-drill'),
      postgresPort: cfg.disasterRecovery.drillPostgresPort,
      conductorPort: cfg.disasterRecovery.drillConductorPort,
      database: deps.postgres.target.database,
    };
  }

  async function drillProvision(input: DrillEnvironment): Promise<{ how: string[] }> {
    if (input.postgresPort === deps.postgres.target.port || input.conductorPort === Number(new URL(cfg.conductor.adminUrl).port)) {
      throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: 'the drill environment must not share a port with production', nonRetryable: true });
    }
    await rm(input.dir, { recursive: true, force: true });
    await mkdir(input.dir, { recursive: true });
    const services = drillServices(input);
    await services.cluster.start();
    await services.conductor.start();
    return { how: [`PostgreSQL cluster ${path.join(input.dir, 'postgres')} on port ${input.postgresPort}`, `conductor stand-in ${path.join(input.dir, 'conductor')} on port ${input.conductorPort}`] };
  }

  /** Verifies the backup, restores it into the drill cluster, checks every table's rows against
   * the manifest. */
  async function drillRestoreDatabase(input: { env: DrillEnvironment; backup: string }): Promise<{ tables: number; rows: number; durationMs: number }> {
    const started = Date.now();
    const manifest = (await listBackups(cfg.backupDirectory)).backups.find((b) => b.path === input.backup)?.manifest;
    if (!manifest) throw ApplicationFailure.create({ type: Failure.BackupMissing, message: `${input.backup}: no manifest of ours`, nonRetryable: true });
    const restore = createRestoreDatabaseActivities(drillDeps(input.env));
    const source = { path: input.backup, scratch: input.env.database, compression: manifest.compression };
    try {
      await restore.verifyAndExpandBackup({ ...source, expand: true });
      await restore.restoreIntoScratch(source);
    } finally {
      await restore.discardExpandedBackup(source);
    }
    await restore.requireMatch({ database: input.env.database, tables: manifest.tables, what: 'the drill database' });
    return { tables: Object.keys(manifest.tables).length, rows: Object.values(manifest.tables).reduce((a, b) => a + b, 0), durationMs: Date.now() - started };
  }

  /** Installs the app in the drill conductor, imports the export, checks every credit. */
  async function drillRestoreDht(input: { env: DrillEnvironment; export: string }): Promise<{ credits: number; durationMs: number }> {
    const started = Date.now();
    const d = drillDeps(input.env);
    try {
      await d.conductor.ensureApp();
      const dht = createDhtActivities(d);
      await dht.importDht({ path: input.export });
      const check = await dht.checkDhtAgainstExport({ path: input.export });
      if (!check.matches) throw ApplicationFailure.create({ type: Failure.RestoreMismatch, message: `the drill DHT differs from the export: ${check.missing.length} missing, ${check.different.length} different`, nonRetryable: true });
      return { credits: check.present, durationMs: Date.now() - started };
    } finally {
      await d.conductor.close();
    }
  }

  async function drillTeardown(input: DrillEnvironment): Promise<{ removed: boolean }> {
    const services = drillServices(input);
    await services.conductor.stop().catch(() => undefined);
    await services.cluster.stop().catch(() => undefined);
    await rm(input.dir, { recursive: true, force: true });
    return { removed: !existsSync(input.dir) };
  }

  return { drPrerequisites, provision, drillSettings, startApplication, verifyTotals, verifyStatusReport, drillProvision, drillRestoreDatabase, drillRestoreDht, drillTeardown };
}
