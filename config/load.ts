// Loads the one configuration file plus environment overrides and validates it before anything
// starts. A bad value names its key, where it came from, what was expected and what was found.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, parseDocument } from 'yaml';
import { configSchema, type Config } from '../common/config-schema';
import { nodeProgram, projectRoot } from './project';

/** Thrown by loadConfig when the file or an override is not valid; the CLI prints only its message. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(message);
  }
}

export interface LoadedConfig extends Config {
  /** The file it came from, if any. */
  source: string | undefined;
  /** Absolute directory that relative paths were resolved against. */
  baseDir: string;
  backupDirectory: string;
  dhtExportDirectory: string;
  conductorDataDir: string;
  conductorAppBundle: string;
  conductorService: NonNullable<Config['conductor']['service']>;
  /** Undefined: the runbooks cannot stop or start the application (they say so and escalate). */
  reportsDirectory: string;
  configBackupDirectory: string;
  configBackupFiles: string[];
  logFiles: Array<{ path: string; pidFile?: string; expectCommand?: string; signal: 'SIGHUP' | 'SIGUSR1' | 'SIGUSR2'; reopen?: string[] }>;
  provisionNode: string[] | undefined;
  applicationService: NonNullable<Config['application']['service']> | undefined;
  databaseService: NonNullable<Config['database']['service']> | undefined;
  /** The physical tier, resolved (config.physicalBackup with its sandbox defaults). */
  physical: PhysicalTier;
}

export interface PhysicalTier {
  enabled: boolean;
  stanza: string;
  repository: string;
  /** Undefined when it is neither configured nor the sandbox's (restore-cluster refuses then). */
  dataDirectory: string | undefined;
  socketDirectory: string | undefined;
  /** pgBackRest's own configuration file, log and lock directories: written by this tool. */
  workDirectory: string;
  program: string | undefined;
  archiveTimeoutSeconds: number;
  processMax: number;
  compressLevel: number;
  retentionFull: number;
  restorePort: number;
  metricsPort: number;
  metricsAddress: string;
}

/** A status command that exits 0 while the process in the pid file runs: a shell test, not the
 * CLI, because starting node for a status costs most of a second and a restore asks it on its way
 * to the swap. A zombie ("Z" in /proc/<pid>/stat) is not running. */
export function pidFileStatus(pidFile: string): string[] {
  return ['sh', '-c', 'p=$(cat "$1" 2>/dev/null) && [ -r "/proc/$p/stat" ] && ! grep -q ") Z " "/proc/$p/stat"', 'status', pidFile];
}

/** The sandbox's simulator, controlled through its CLI (sandbox/credits-service/cli.ts). */
function simulatorService(config: Config, dataDir: string, source: string | undefined): NonNullable<Config['application']['service']> {
  const cli = nodeProgram('sandbox/credits-service/cli');
  const dir = path.join(dataDir, 'credits-service');
  const url = new URL(config.application.statusUrl);
  const port = url.port || '18000';
  return {
    type: 'command',
    // It listens where the configuration says it is (loopback in the sandbox's own configuration).
    start: [...cli, 'start', '--data-dir', dir, '--port', port, '--host', url.hostname, '--rate', String(config.application.eventsPerSecond), ...(source ? ['--config', source] : [])],
    stop: [...cli, 'stop', '--data-dir', dir],
    status: pidFileStatus(path.join(dir, 'credits-service.pid')),
  };
}

/** The sandbox's PostgreSQL cluster, controlled through sandbox/postgres-cli.ts. */
function clusterService(config: Config, dataDir: string): NonNullable<Config['database']['service']> {
  const u = new URL(config.database.url);
  return clusterServiceAt({
    dir: path.join(dataDir, 'postgres'),
    port: Number(u.port || 5432),
    role: decodeURIComponent(u.username) || 'postgres',
    database: decodeURIComponent(u.pathname.slice(1)),
    binDir: config.database.binDir,
    listen: u.hostname,
  });
}

/** A cluster of the sandbox's kind at a directory and port (the project's, or the DR drill's). */
export function clusterServiceAt(o: { dir: string; port: number; role: string; database: string; binDir?: string; listen?: string }): NonNullable<Config['database']['service']> {
  const cli = nodeProgram('sandbox/postgres-cli');
  const bin = o.binDir ? ['--bin-dir', o.binDir] : [];
  const listen = o.listen ? ['--listen', o.listen] : [];
  return {
    type: 'command',
    start: [...cli, 'start', '--dir', o.dir, '--port', String(o.port), '--role', o.role, '--database', o.database, ...listen, ...bin],
    stop: [...cli, 'stop', '--dir', o.dir, ...bin],
    status: [...cli, 'status', '--dir', o.dir, ...bin],
  };
}


/** What the simulator's command line contains: log rotation signals only a process that has it. */
// Either form: the simulator may have been started from the sources or from the compiled build.
export const SIMULATOR_COMMAND = path.join('sandbox', 'credits-service', 'cli.');

/** The stand-in conductor's control CLI, for a managed (sandbox) conductor. */
export function standInService(dataDir: string, adminUrl: string): NonNullable<Config['conductor']['service']> {
  const cli = nodeProgram('sandbox/conductor/cli');
  const url = new URL(adminUrl);
  const port = url.port || '8888';
  return {
    type: 'command',
    start: [...cli, 'start', '--data-dir', dataDir, '--admin-port', port, '--host', url.hostname],
    stop: [...cli, 'stop', '--data-dir', dataDir],
    clean: [...cli, 'clean', '--data-dir', dataDir],
  };
}

/** Settings whose defaults are the sandbox's, so a production configuration must give them. */
export const productionRequired: ReadonlyArray<readonly [string, string]> = [
  ['temporal.address', 'the Temporal frontend (host:port)'],
  ['database.url', 'the credits database (postgres://user@host:port/credits)'],
  ['database.service', 'how PostgreSQL is restarted (a systemd unit or commands)'],
  ['backup.directory', 'where database backups are kept'],
  ['dhtExport.directory', 'where DHT exports are kept'],
  ['conductor.adminUrl', "the conductor's admin interface (ws://host:port)"],
  ['conductor.service', 'how the conductor is stopped, started and wiped'],
  ['conductor.appBundle', "the app bundle (.happ) installed after a wipe"],
  ['application.statusUrl', "the application's status report URL"],
  ['application.service', 'how the application is stopped and started'],
  ['configBackup.files', 'the configuration files to back up'],
  ['disasterRecovery.drill', "how the DR drill starts and stops its scratch cluster and conductor"],
];

const PLACEHOLDER = /^<fill in:?\s*(.*)>$/s;

/** Every "<fill in: …>" string left in a template, with its key. */
function placeholders(value: unknown, at: string[] = []): Array<[string, string]> {
  if (typeof value === 'string') {
    const m = PLACEHOLDER.exec(value.trim());
    return m ? [[at.join('.'), m[1]!.trim() || 'a value']] : [];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => placeholders(v, [...at, String(i)]));
  if (value && typeof value === 'object') return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => placeholders(v, [...at, k]));
  return [];
}

/** Environment variables that set one key each. DATABASE_URL also means "an existing server". */
const envKeys: Record<string, string> = {
  DATABASE_URL: 'database.url',
  TEMPORAL_ADDRESS: 'temporal.address',
  TEMPORAL_NAMESPACE: 'temporal.namespace',
  TEMPORAL_CLI: 'temporal.cli',
  TEMPORAL_API_KEY: 'temporal.apiKey',
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: 'temporal.tls.caFile',
  TEMPORAL_TLS_CLIENT_CERT_PATH: 'temporal.tls.certFile',
  TEMPORAL_TLS_CLIENT_KEY_PATH: 'temporal.tls.keyFile',
  TEMPORAL_TLS_SERVER_NAME: 'temporal.tls.serverName',
  RUNBOOK_TASK_QUEUE: 'temporal.taskQueue',
  RUNBOOK_BUILD_ID: 'temporal.versioning.buildId',
  RUNBOOK_DATA_DIR: 'dataDir',
  RUNBOOK_BACKUP_DIR: 'backup.directory',
  RUNBOOK_DHT_EXPORT_DIR: 'dhtExport.directory',
  CONDUCTOR_ADMIN_URL: 'conductor.adminUrl',
  RUNBOOK_RECEIVER_TOKEN: 'receiver.token',
  RUNBOOK_TIMEZONE: 'timezone',
};
/** Any key: RUNBOOK_SET_backup__retentionDays=7 (the value is read as a YAML scalar). */
const genericPrefix = 'RUNBOOK_SET_';

export function defaultConfigPath(cwd = process.cwd()): string {
  return path.join(cwd, 'runbooks.yaml');
}

export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicit = options.file ?? env.RUNBOOK_CONFIG;
  const file = explicit ? path.resolve(cwd, explicit) : defaultConfigPath(cwd);
  const sources = new Map<string, string>();
  let raw: Record<string, unknown> = {};

  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8');
    const doc = parseDocument(text);
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      throw new ConfigError(`${file}: not valid YAML: ${e.message}`, [e.message]);
    }
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) {
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw new ConfigError(`${file}: expected a mapping of settings at the top level, found ${describe(value)}`, []);
      }
      raw = value as Record<string, unknown>;
    }
  } else if (explicit) {
    throw new ConfigError(`config file ${file} does not exist (given by ${options.file ? '--config' : 'RUNBOOK_CONFIG'})`, []);
  }

  for (const [name, key] of Object.entries(envKeys)) {
    const v = env[name];
    if (v !== undefined && v !== '') {
      setPath(raw, key, v);
      sources.set(key, `environment variable ${name}`);
    }
  }
  if (env.DATABASE_URL && !Object.keys(env).some((k) => k === `${genericPrefix}database__managed`)) {
    setPath(raw, 'database.managed', false);
    sources.set('database.managed', 'environment variable DATABASE_URL');
  }
  for (const [name, v] of Object.entries(env)) {
    if (!name.startsWith(genericPrefix) || v === undefined) continue;
    const key = name.slice(genericPrefix.length).split('__').join('.');
    setPath(raw, key, v === '' ? '' : (parseYaml(v) as unknown));
    sources.set(key, `environment variable ${name}`);
  }

  // A template from `runbook init --production` marks what must be filled in: each one left is a
  // problem of its own, named with what belongs there.
  const unfilled = placeholders(raw);
  if (unfilled.length) {
    const problems = unfilled.map(([key, what]) => `${key}: fill in ${what} (from ${sources.get(key) ?? file})`);
    throw new ConfigError(`the configuration is a template with ${unfilled.length} value(s) to fill in:\n  ${problems.join('\n  ')}`, problems);
  }
  // Production has no sandbox defaults: what the sandbox would have supplied must be said.
  if (raw.production === true) {
    const missing = productionRequired.filter(([key]) => getPath(raw, key.split('.')) === undefined);
    if (missing.length) {
      const problems = missing.map(([key, what]) => `${key}: expected ${what} in a production configuration, found nothing (the default is the sandbox's)`);
      throw new ConfigError(`invalid production configuration:\n  ${problems.join('\n  ')}`, problems);
    }
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = issue.path.join('.');
      const from = sources.get(key) ?? (existsSync(file) ? file : 'defaults');
      if (issue.code === 'unrecognized_keys') {
        const where = key ? `${key}.` : '';
        return issue.keys
          .map((k) => `${where + k}: not a known setting (from ${sources.get(where + k) ?? from})`)
          .join('\n  ');
      }
      const found = describe(getPath(raw, issue.path.map(String)));
      return `${key || '(top level)'}: ${issue.message.replace(/^Invalid input: /, '')}, found ${found} (from ${from})`;
    });
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`, problems);
  }
  const config = parsed.data;
  const baseDir = existsSync(file) ? path.dirname(file) : cwd;
  const dataDir = path.resolve(baseDir, config.dataDir);
  const conductorDataDir = path.resolve(baseDir, config.conductor.dataDir ?? path.join(dataDir, 'conductor'));
  let conductorService = config.conductor.service;
  if (!conductorService) {
    if (!config.conductor.managed) {
      throw new ConfigError('invalid configuration:\n  conductor.service: expected a systemd unit or start/stop commands for a conductor that is not managed by the sandbox, found nothing', [
        'conductor.service: required when conductor.managed is false',
      ]);
    }
    conductorService = standInService(conductorDataDir, config.conductor.adminUrl);
  }
  const source = existsSync(file) ? file : undefined;
  const app = config.application;
  const applicationService =
    app.service ?? (app.start && app.stop ? { type: 'command' as const, start: app.start, stop: app.stop } : app.managed ? simulatorService(config, dataDir, source) : undefined);
  const databaseService = config.database.service ?? (config.database.managed ? clusterService(config, dataDir) : undefined);
  const pb = config.physicalBackup;
  const sandboxCluster = config.database.managed;
  const physical: PhysicalTier = {
    enabled: pb.enabled ?? sandboxCluster,
    stanza: pb.stanza,
    repository: path.resolve(baseDir, pb.repository ?? path.join(dataDir, 'backups', 'pgbackrest')),
    dataDirectory: pb.dataDirectory ? path.resolve(baseDir, pb.dataDirectory) : sandboxCluster ? path.join(dataDir, 'postgres') : undefined,
    socketDirectory: pb.socketDirectory ? path.resolve(baseDir, pb.socketDirectory) : sandboxCluster ? path.join(dataDir, 'postgres-socket') : undefined,
    workDirectory: path.join(dataDir, 'pgbackrest'),
    program: pb.program,
    archiveTimeoutSeconds: pb.archiveTimeoutSeconds,
    processMax: pb.processMax,
    compressLevel: pb.compressLevel,
    retentionFull: pb.retentionFull,
    restorePort: pb.restorePort,
    metricsPort: pb.metricsPort,
    metricsAddress: pb.metricsAddress,
  };
  if (physical.enabled && !physical.dataDirectory) {
    throw new ConfigError('invalid configuration:\n  physicalBackup.dataDirectory: expected the data directory of the PostgreSQL server on the database host (pgBackRest backs it up and restores into a directory beside it), found nothing', [
      'physicalBackup.dataDirectory: required when physicalBackup.enabled is true and the database is not the sandbox\'s',
    ]);
  }
  return {
    physical,
    ...config,
    dataDir,
    source,
    applicationService,
    databaseService,
    reportsDirectory: path.resolve(baseDir, config.incident.reportsDirectory ?? path.join(dataDir, 'reports')),
    logFiles: (
      config.logRotation.files ??
      (app.managed
        ? ['app.log', 'monitor.log'].map((n) => ({ path: path.join(dataDir, 'credits-service', n), pidFile: path.join(dataDir, 'credits-service', 'credits-service.pid'), expectCommand: SIMULATOR_COMMAND, signal: 'SIGHUP' as const }))
        : [])
    ).map((f) => ({ ...f, path: path.resolve(baseDir, f.path), pidFile: f.pidFile ? path.resolve(baseDir, f.pidFile) : undefined })),
    provisionNode:
      config.scaling.provisionNode ??
      (app.managed
        ? [...nodeProgram('sandbox/credits-service/cli'), 'join', '--data-dir', path.join(dataDir, 'credits-service'), '--node-id', '{nodeId}', ...(source ? ['--config', source] : [])]
        : undefined),
    configBackupDirectory: path.resolve(baseDir, config.configBackup.directory ?? path.join(dataDir, 'backups', 'config')),
    // The sandbox's configuration: this file and what it generates for monitoring.
    configBackupFiles: (config.configBackup.files ?? [...(source ? [source] : []), path.join(dataDir, 'monitoring', 'prometheus.yml'), path.join(dataDir, 'monitoring', 'alertmanager.yml')]).map((f) =>
      path.resolve(baseDir, f.replace(/^~(?=\/)/, process.env.HOME ?? '~')),
    ),
    baseDir,
    backupDirectory: path.resolve(baseDir, config.backup.directory ?? path.join(dataDir, 'backups', 'postgres')),
    dhtExportDirectory: path.resolve(baseDir, config.dhtExport.directory ?? path.join(dataDir, 'backups', 'dht')),
    conductorDataDir,
    conductorAppBundle: path.resolve(baseDir, config.conductor.appBundle ?? path.join(projectRoot, 'sandbox', 'conductor', 'zerotrustml.happ.json')),
    conductorService,
  };
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `a list ${JSON.stringify(value)}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function getPath(target: unknown, parts: string[]): unknown {
  let node = target;
  for (const part of parts) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** Database name and connection parts of the configured URL. */
export function databaseTarget(config: Config): { url: URL; name: string; user: string; host: string; port: number } {
  const url = new URL(config.database.url);
  return {
    url,
    name: decodeURIComponent(url.pathname.slice(1)),
    user: decodeURIComponent(url.username) || 'postgres',
    host: url.hostname,
    port: Number(url.port || 5432),
  };
}
