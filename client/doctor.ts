// `runbook doctor [--host NAME] [--cluster]`: what this machine needs for the work it will do, and
// where each thing was found. With --host, the needs of that host's roles (a backups host needs
// the PostgreSQL client tools and the compressor, never the server binaries; a conductor host the
// conductor's service control; ...). Without, everything a single machine runs, plus the sandbox's
// own parts (the Temporal CLI, built if missing, so .ci/run and a new machine pay that cost once,
// visibly; the server binaries of a managed cluster; Prometheus and Alertmanager). --cluster also
// finds or builds the Temporal server for the sandbox's cluster mode.
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { PgBackRest } from '../adapters/pgbackrest';
import { postgresServerDir, postgresToolsDir } from '../adapters/postgres-tools';
import { runCommand, which } from '../adapters/process';
import { hostRoles, type HostRole } from '../common/config-schema';
import { databaseTarget, type LoadedConfig } from '../config/load';
import { findMonitoring } from '../sandbox/monitoring';
import { postgresBinDir } from '../sandbox/postgres-cluster';
import { findTemporalCli } from '../sandbox/temporal-cli';
import { findTemporalServer } from '../sandbox/temporal-cluster';
import { findTemporalUi } from '../sandbox/temporal-ui';
import { UsageError } from './errors';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

type ServiceSpec = NonNullable<LoadedConfig['applicationService']>;

/** A service spec's program can run here: systemctl for a unit, the first argument of a command. */
async function serviceCheck(name: string, spec: ServiceSpec | undefined, required: boolean): Promise<Check> {
  if (!spec) return { name, ok: !required, detail: required ? 'not configured' : 'not configured (the runbooks say so and escalate instead of acting)' };
  const program = spec.type === 'systemd' ? 'systemctl' : spec.start[0]!;
  const found = program.includes('/') ? (existsSync(program) ? program : undefined) : await which(program);
  return { name, ok: found !== undefined, detail: found ? `${spec.type === 'systemd' ? `systemd unit ${spec.unit}` : 'commands'} (${found})` : `${program} not found here` };
}

function writable(dir: string): string | undefined {
  // The directory, or its nearest existing parent (it is created on first use).
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(d)) {
      try {
        accessSync(d, constants.W_OK);
        return undefined;
      } catch {
        return `${d} is not writable`;
      }
    }
    if (path.dirname(d) === d) return `no existing parent of ${dir}`;
  }
}

/** The physical tier runs on the database host: pgBackRest, pg_ctl for the restored copy it
 * checks before a switch, and the data directory it backs up. */
async function physicalChecks(config: LoadedConfig): Promise<Check[]> {
  const checks: Check[] = [];
  try {
    // Found as the runbooks find it (PgBackRest.program), so the check and the work agree.
    const program = await new PgBackRest(config.physical, databaseTarget(config).port).program();
    const { stdout } = await runCommand([program, 'version']);
    checks.push({ name: 'database: pgbackrest (physicalBackup)', ok: true, detail: `${program}: ${stdout.trim()}` });
  } catch (e) {
    checks.push({ name: 'database: pgbackrest (physicalBackup)', ok: false, detail: `${(e as Error).message} (or physicalBackup.enabled: false)` });
  }
  try {
    checks.push({ name: 'database: pg_ctl (restore-cluster)', ok: true, detail: path.join(await postgresServerDir(config.database.binDir), 'pg_ctl') });
  } catch (e) {
    checks.push({ name: 'database: pg_ctl (restore-cluster)', ok: false, detail: (e as Error).message });
  }
  const dir = config.physical.dataDirectory;
  // The sandbox's cluster is made by `stack up`; another server's directory must be there.
  const ok = dir !== undefined && (existsSync(dir) || config.database.managed);
  checks.push({ name: 'database: data directory (physicalBackup)', ok, detail: dir === undefined ? 'physicalBackup.dataDirectory is not set' : existsSync(dir) ? dir : `${dir} ${ok ? '(made by stack up)' : 'does not exist'}` });
  return checks;
}

async function roleChecks(config: LoadedConfig, role: HostRole): Promise<Check[]> {
  const checks: Check[] = [];
  if (role === 'backups') {
    try {
      const bin = await postgresToolsDir(config.database.binDir);
      const { stdout } = await runCommand([path.join(bin, 'pg_dump'), '--version']);
      checks.push({ name: 'backups: PostgreSQL client tools', ok: true, detail: `${bin}: ${stdout.trim()} (pg_dump, pg_restore, psql)` });
    } catch (e) {
      checks.push({ name: 'backups: PostgreSQL client tools', ok: false, detail: (e as Error).message });
    }
    const compressor = config.backup.compression === 'none' ? undefined : config.backup.compression;
    if (compressor) {
      const found = await which(compressor);
      checks.push({ name: `backups: ${compressor}`, ok: found !== undefined, detail: found ?? `not on PATH (backup.compression is ${compressor}; install the ${compressor} package)` });
    }
    for (const program of ['tar', 'tail']) {
      const found = await which(program);
      checks.push({ name: `backups: ${program}`, ok: found !== undefined, detail: found ?? 'not on PATH' });
    }
    for (const [what, dir] of [['backup directory', config.backupDirectory], ['DHT export directory', config.dhtExportDirectory], ['config backup directory', config.configBackupDirectory]] as const) {
      const problem = writable(dir);
      checks.push({ name: `backups: ${what}`, ok: problem === undefined, detail: problem ?? dir });
    }
  }
  if (role === 'database') {
    checks.push(await serviceCheck('database: service control', config.databaseService, false));
    if (config.physical.enabled) checks.push(...(await physicalChecks(config)));
  }
  if (role === 'conductor') {
    const check = await serviceCheck('conductor: service control', config.conductorService, true);
    checks.push({ ...check, detail: `${check.detail}${config.conductorService.type === 'systemd' || config.conductorService.clean ? '' : '; no clean command: a wipe is refused'}` });
  }
  if (role === 'application') {
    checks.push(await serviceCheck('application: service control', config.applicationService, false));
    for (const f of config.logFiles) {
      const problem = writable(path.dirname(f.path));
      checks.push({ name: `application: log ${f.path}`, ok: problem === undefined, detail: problem ?? (f.reopen ? 'reopened by a command' : f.pidFile ? `signalled through ${f.pidFile} (only a process running ${f.expectCommand})` : 'no writer configured') });
    }
  }
  return checks;
}

export async function doctor(config: LoadedConfig, o: { build: boolean; host?: string; cluster?: boolean }): Promise<Check[]> {
  if (o.host !== undefined && !Object.prototype.hasOwnProperty.call(config.hosts, o.host)) {
    throw new UsageError(`--host ${o.host}: expected one of the configured hosts (${Object.keys(config.hosts).join(', ') || 'none: set hosts in the configuration'})`);
  }
  const roles: readonly HostRole[] = o.host !== undefined ? config.hosts[o.host]!.roles : hostRoles;
  const checks: Check[] = [];
  for (const role of roles) checks.push(...(await roleChecks(config, role)));
  if (o.host !== undefined || config.production) return checks;

  // The sandbox's own parts.
  try {
    const cli = await findTemporalCli({ configured: config.temporal.cli, build: o.build });
    const { stdout } = await runCommand([cli.path, '--version']);
    checks.push({ name: 'sandbox: temporal CLI', ok: true, detail: `${cli.path} (${cli.source}): ${stdout.trim()}` });
  } catch (e) {
    checks.push({ name: 'sandbox: temporal CLI', ok: false, detail: (e as Error).message });
  }
  if (config.database.managed) {
    try {
      const bin = await postgresBinDir(config.database.binDir);
      checks.push({ name: 'sandbox: PostgreSQL server binaries', ok: true, detail: bin });
    } catch (e) {
      checks.push({ name: 'sandbox: PostgreSQL server binaries', ok: false, detail: (e as Error).message });
    }
  }
  if (o.cluster) {
    try {
      const b = await findTemporalServer({ build: o.build });
      checks.push({ name: 'sandbox: Temporal server (cluster mode)', ok: true, detail: `${b.server}, ${b.sql}` });
    } catch (e) {
      checks.push({ name: 'sandbox: Temporal server (cluster mode)', ok: false, detail: (e as Error).message });
    }
    try {
      checks.push({ name: 'sandbox: Temporal Web UI server (cluster mode)', ok: true, detail: await findTemporalUi({ build: o.build }) });
    } catch (e) {
      checks.push({ name: 'sandbox: Temporal Web UI server (cluster mode)', ok: false, detail: (e as Error).message });
    }
  }
  // Optional: without them the sandbox relies on the built-in health check alone.
  const mon = findMonitoring();
  checks.push({
    name: 'sandbox: Prometheus + Alertmanager',
    ok: true,
    detail: mon.prometheus && mon.alertmanager ? `${mon.prometheus}, ${mon.alertmanager}` : 'not installed (optional: apt-get install prometheus prometheus-alertmanager); the built-in health check still runs',
  });
  return checks;
}
