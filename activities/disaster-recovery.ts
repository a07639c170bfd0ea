// Disaster recovery and the DR drill: the prerequisites (latest verified database backup, DHT
// export and configuration backup, each with its age: the recovery point), provisioning through a
// hook, starting the application, and the final verification. The drill does the same recovery
// into an isolated environment (its own cluster on its own port, its own conductor on its own
// port and data directory), verifies it, measures it and tears it down; it never touches
// production.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { MANIFEST_FORMAT, type BackupManifest } from '../common/backup-manifest';
import { Failure } from '../common/failures';
import { DHT_MANIFEST_FORMAT, type DhtExportManifest } from '../common/dht-export';
import { runCommand } from '../adapters/process';
import { pgCtlArgs, postgresServerDir } from '../adapters/postgres-tools';
import { redact } from '../adapters/secrets';
import { Postgres } from '../adapters/postgres';
import { serviceControl, type ServiceControl } from '../adapters/service-control';
import { clusterServiceAt, standInService } from '../config/load';
import { conductorClient } from '../adapters/conductor';
import { listBackups, listManifested, resolveReference } from './backup-files';
import { CONFIG_MANIFEST_FORMAT, type ConfigBackupManifest } from './config-backup';
import { createDhtActivities } from './dht';
import type { ActivityDeps } from './deps';
import { readStatusReport } from './status-report';
import { DRILL_MARKER, drillOwner, isDrillEnvironmentPath, ownsDrillEnvironment } from './drill-marker';
import { createRestoreDatabaseActivities } from './restore-database';

export interface RecoveryPoint {
  path: string;
  /** The file's name in its directory: how a restore input names it. */
  file: string;
  finishedAt: string;
  ageSeconds: number;
}

export interface DrPrerequisites {
  /** Missing only when asked for with `databaseOptional` (the physical tier recovers the database)
   * and none was found; `problems` says why. */
  database?: RecoveryPoint & { tables: Record<string, number> };
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



function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export function createDisasterRecoveryActivities(deps: ActivityDeps) {
  const cfg = deps.config;
  const now = (): Date => deps.now?.() ?? new Date();

  /** The recovery point: the newest verified, unflagged database backup (or the one named), the
   * newest verified DHT export (or the one named) and configuration backup, with their ages. */
  async function drPrerequisites(input: { requireConfig?: boolean; backup?: string; export?: string; databaseOptional?: boolean } = {}): Promise<DrPrerequisites> {
    const t = now().getTime();
    const age = (iso: string): number => Math.round((t - Date.parse(iso)) / 1000);
    const problems: string[] = [];
    const found = async <T>(what: Promise<T>): Promise<T | undefined> =>
      what.catch((e: unknown) => {
        problems.push((e as Error).message);
        return undefined;
      });
    const database = deps.postgres.target.database;
    // A named backup is taken even when flagged: naming it is the explicit choice.
    // Without a dump the physical tier may still recover the database: the caller decides.
    const optional: string[] = [];
    const db = await resolveReference<BackupManifest>({ dir: cfg.backupDirectory, format: MANIFEST_FORMAT, ref: input.backup, what: `database backup of ${database}`, ours: (m) => m.database === database || `a backup of database ${m.database}, not of ${database}`, allowFlagged: input.backup !== undefined }).catch((e: unknown) => {
      (input.databaseOptional ? optional : problems).push((e as Error).message);
      return undefined;
    });
    const appId = cfg.conductor.appId;
    const dht = await found(
      resolveReference<DhtExportManifest>({ dir: cfg.dhtExportDirectory, format: DHT_MANIFEST_FORMAT, ref: input.export, what: `DHT export of ${appId}`, ours: (m) => m.appId === appId || `an export of app ${m.appId}, not of ${appId}` }),
    );
    const conf = (await listManifested<ConfigBackupManifest>(cfg.configBackupDirectory, CONFIG_MANIFEST_FORMAT)).backups.find((b) => b.present && b.manifest.verified);
    if (!conf && (input.requireConfig ?? cfg.disasterRecovery.requireConfigBackup)) problems.push(`no verified configuration backup in ${cfg.configBackupDirectory} (disasterRecovery.requireConfigBackup)`);
    if (problems.length) {
      throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `disaster recovery cannot start: ${problems.join('; ')}`, nonRetryable: true });
    }
    return {
      database: db ? { path: db.path, file: db.file, finishedAt: db.manifest.finishedAt, ageSeconds: age(db.manifest.finishedAt), tables: db.manifest.tables } : undefined,
      dht: { path: dht!.path, file: dht!.file, finishedAt: dht!.manifest.finishedAt, ageSeconds: age(dht!.manifest.finishedAt), credits: dht!.manifest.credits, contentHash: dht!.manifest.contentHash },
      config: conf ? { path: conf.path, file: conf.file, finishedAt: conf.manifest.finishedAt, ageSeconds: age(conf.manifest.finishedAt), files: conf.manifest.files.length } : undefined,
      problems: optional,
    };
  }

  /** The provisioning hook, or in the sandbox the database and conductor services' start. */
  /** The infrastructure: the configured hook, or the sandbox's database and conductor services.
   * `database: false` when the physical tier restores the cluster: the restore puts the data
   * directory in place and starts the server itself (a server started here on a lost data
   * directory would be a new, empty cluster, set aside again by the switch). */
  async function provision(input: { database?: boolean } = {}): Promise<{ how: string[] }> {
    const how: string[] = [];
    if (cfg.disasterRecovery.provision) {
      await runCommand(cfg.disasterRecovery.provision, { timeoutMs: 3_600_000 });
      how.push(`hook: ${redact(cfg.disasterRecovery.provision.join(' '))}`);
      return { how };
    }
    if (!cfg.databaseService) throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: 'disasterRecovery.provision: expected a provisioning command (or a database.service to start), found neither', nonRetryable: true });
    if (input.database !== false) {
      await serviceControl(cfg.databaseService).start();
      how.push(`database: ${serviceControl(cfg.databaseService).describe()}`);
    } else {
      how.push('database: restored from the physical tier (restore-cluster starts it)');
    }
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
  /** The drill's cluster and conductor: the configured commands ({dir}, {port}, {database} and
   * {role} replaced within arguments), or, in the sandbox, the sandbox's own cluster and stand-in.
   * Never a sandbox part in production: the configuration requires the commands there. */
  const drillServices = (env: DrillEnvironment): { cluster: ServiceControl; conductor: ServiceControl } => {
    const configured = cfg.disasterRecovery.drill;
    if (configured) {
      const fill = (argv: string[], dir: string, port: number): string[] =>
        argv.map((a) => a.replaceAll('{dir}', dir).replaceAll('{port}', String(port)).replaceAll('{database}', env.database).replaceAll('{role}', deps.postgres.target.user));
      const spec = (s: { start: string[]; stop: string[] }, dir: string, port: number) => ({ type: 'command' as const, start: fill(s.start, dir, port), stop: fill(s.stop, dir, port) });
      return {
        cluster: serviceControl(spec(configured.database, path.join(env.dir, 'postgres'), env.postgresPort), { timeoutMs: 300_000 }),
        conductor: serviceControl(spec(configured.conductor, path.join(env.dir, 'conductor'), env.conductorPort)),
      };
    }
    if (cfg.production) throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: 'disasterRecovery.drill: expected the commands that start and stop the drill\'s cluster and conductor in a production configuration, found none', nonRetryable: true });
    return {
      cluster: serviceControl(clusterServiceAt({ dir: path.join(env.dir, 'postgres'), port: env.postgresPort, role: deps.postgres.target.user, database: env.database, binDir: cfg.database.binDir }), { timeoutMs: 300_000 }),
      conductor: serviceControl(standInService(path.join(env.dir, 'conductor'), `ws://127.0.0.1:${env.conductorPort}`)),
    };
  };

  /** The drill's environment for this run: a directory of its own under <dataDir>/dr-drill, named
   * after the run, and the configured (or given) scratch ports. */
  async function drillSettings(input: { postgresPort?: number; conductorPort?: number } = {}): Promise<DrillEnvironment> {
    const runId = Context.current().info.workflowExecution?.runId ?? `local-${process.pid}`;
    return {
      dir: path.join(cfg.dataDir, 'dr-drill', `run-${runId}`),
      postgresPort: input.postgresPort ?? cfg.disasterRecovery.drillPostgresPort,
      conductorPort: input.conductorPort ?? cfg.disasterRecovery.drillConductorPort,
      database: deps.postgres.target.database,
    };
  }

  const markerOf = (env: DrillEnvironment): string => path.join(env.dir, DRILL_MARKER);
  /** Whether the directory is this run's drill environment: it carries the mark this run wrote. */
  const ownsEnvironment = (env: DrillEnvironment): boolean => ownsDrillEnvironment(env.dir);

  /** `cluster: false` when the drill's cluster comes from the physical tier (the restore creates
   * and starts it in the environment's postgres directory). */
  async function drillProvision(input: DrillEnvironment & { cluster?: boolean }): Promise<{ how: string[] }> {
    const refuse = (message: string): never => {
      throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message, nonRetryable: true });
    };
    if (input.postgresPort === deps.postgres.target.port || input.conductorPort === Number(new URL(cfg.conductor.adminUrl).port) || input.postgresPort === input.conductorPort) {
      refuse(`the drill environment must not share a port with production or with itself (PostgreSQL ${input.postgresPort}, conductor ${input.conductorPort})`);
    }
    const base = path.join(cfg.dataDir, 'dr-drill');
    if (!isDrillEnvironmentPath(base, input.dir)) refuse(`the drill environment must be a directory of its own under ${base}, found ${input.dir}`);
    if (existsSync(input.dir) && !ownsEnvironment(input)) refuse(`${input.dir} exists and is not this run's drill environment: refusing to use it`);
    for (const port of [input.postgresPort, input.conductorPort]) {
      if (!(await portIsFree(port)) && !ownsEnvironment(input)) refuse(`port ${port} is in use: the drill needs it free for its own ${port === input.postgresPort ? 'cluster' : 'conductor'}`);
    }
    // Traversable, not listable, by others: the drill's PostgreSQL server runs as its own OS user
    // (never root) and must reach its data directory inside; that directory is its own, 0700.
    await mkdir(base, { recursive: true });
    await chmod(base, 0o711);
    if (!existsSync(input.dir)) {
      await mkdir(input.dir);
      await chmod(input.dir, 0o711);
      // The mark first: whatever happens after this, tear-down knows the directory is the drill's.
      writeFileSync(markerOf(input), JSON.stringify({ owner: drillOwner(), createdAt: new Date().toISOString() }) + '\n', { mode: 0o600, flag: 'wx' });
    }
    const services = drillServices(input);
    if (input.cluster !== false) await services.cluster.start();
    await services.conductor.start();
    return {
      how: [
        input.cluster !== false ? `PostgreSQL cluster ${path.join(input.dir, 'postgres')} on port ${input.postgresPort}` : `PostgreSQL cluster: restored from the physical tier into ${path.join(input.dir, 'postgres')}, port ${input.postgresPort}`,
        `conductor stand-in ${path.join(input.dir, 'conductor')} on port ${input.conductorPort}`,
      ],
    };
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

  /** Stops the drill's cluster and conductor and removes its directory: only when the directory
   * carries this run's mark. Anything else is left as it is and said so. */
  async function drillTeardown(input: DrillEnvironment): Promise<{ removed: boolean; detail: string }> {
    if (!existsSync(input.dir)) return { removed: true, detail: 'nothing was created' };
    if (!ownsEnvironment(input)) return { removed: false, detail: `${input.dir} does not carry this run's mark: left untouched` };
    const services = drillServices(input);
    await services.conductor.stop().catch(() => undefined);
    await services.cluster.stop().catch(() => undefined);
    // A cluster restored from the physical tier was started by pg_ctl, not by the configured
    // commands: still running, it is stopped the same way (as its directory's owner).
    const pgDir = path.join(input.dir, 'postgres');
    if (existsSync(path.join(pgDir, 'postmaster.pid'))) {
      const owner = statSync(pgDir);
      await runCommand(pgCtlArgs(await postgresServerDir(cfg.database.binDir), ['-D', pgDir, '-m', 'immediate', '-w', 'stop']), {
        ...(process.getuid?.() === 0 && owner.uid !== 0 ? { uid: owner.uid, gid: owner.gid } : {}),
        cwd: '/tmp',
        env: { ...process.env, HOME: '/tmp' },
        timeoutMs: 120_000,
      }).catch(() => undefined);
    }
    await rm(input.dir, { recursive: true, force: true });
    return { removed: !existsSync(input.dir), detail: `removed ${input.dir}` };
  }

  return { drPrerequisites, provision, drillSettings, startApplication, verifyTotals, verifyStatusReport, drillProvision, drillRestoreDatabase, drillRestoreDht, drillTeardown };
}
