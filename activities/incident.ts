// What the incident runbooks do to the outside world: their settings, the diagnosis of an
// unresponsive system (status report, conductor, database, application, host load, memory, disk),
// service restarts through service control, freeing what is safe, verification that credits are
// issued again, and the post-mortem file.
import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Failure } from '../common/failures';
import { serviceControl } from '../adapters/service-control';
import type { ActivityDeps } from './deps';
import { createPhysicalBackupActivities } from './physical-backup';
import { hostOfQueue } from '../common/config-schema';
import { removeUnownedTemps } from './backup-files';
import { saveReport } from './report-files';
import { readStatusReport } from './status-report';

export type SystemCause = 'database-down' | 'database-error' | 'conductor-down' | 'application-hung' | 'application-down' | 'resources-exhausted' | 'healthy';

export interface Diagnosis {
  cause: SystemCause;
  statusReport: { reachable: boolean; ms: number; error?: string; systemStatus?: string; p99ResponseMs?: number; eventsPerMinute?: number };
  conductor: { alive: boolean; error?: string };
  /** down: the server refused or did not answer the connection; error: it answered with an error
   * (authentication, too many connections, starting up), which a restart does not cure. */
  database: { reachable: boolean; error?: string; kind?: 'down' | 'error' };
  /** The figures the judgement used: of the worst host when hosts were read, else of this one. */
  host: HostResources;
  /** Each host's figures, read on that host (the workflow reads them on each role's queue). */
  hosts?: HostResources[];
  findings: string[];
}

/** Load, memory and disk of one host, read by that host's worker. */
export interface HostResources {
  /** The host's name in the configuration (from the task queue it was read on), or this machine's. */
  host: string;
  /** The roles it was read for (application, database, conductor). */
  roles?: string[];
  load1PerCpu: number;
  memoryAvailableRatio: number;
  diskFreeRatio: number;
}

export interface IncidentSettings {
  escalateAfterSeconds: [number, number];
  levels: string[];
  production: boolean;
  verifyTimeoutSeconds: number;
  approvalTimeoutSeconds: number;
  alertResolveWaitSeconds: number;
  /** An open incident continues as new before its history reaches this many events (absent in
   * histories recorded before it existed). */
  historyEventLimit?: number;
  reportsDirectory: string;
  automaticRestore: boolean;
  /** Absent in histories recorded before it existed. */
  detectionWatchSeconds?: number;
  /** Absent in histories recorded before it existed. */
  acknowledgeWithinSeconds?: number;
  pogqThreshold: number;
  services: { application: string | undefined; database: string | undefined };
}

/** Whether a database error means the server is down: the connection was refused or timed out.
 * Anything the server itself answered (authentication failed, too many connections, starting up)
 * is an error that restarting PostgreSQL would not cure and could make worse. */
export function isConnectionFailure(e: unknown): boolean {
  const err = e as { code?: string; message?: string; cause?: unknown; errors?: unknown[] } | undefined;
  if (!err) return false;
  if (['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(err.code ?? '')) return true;
  if (/connection timeout|timeout expired|timed out/i.test(err.message ?? '') && !/^\d/.test(err.code ?? '')) return true;
  // Node reports a refused dual-stack connect as an AggregateError of the attempts.
  if (Array.isArray(err.errors) && err.errors.length > 0 && err.errors.every(isConnectionFailure)) return true;
  return err.cause !== undefined && err.cause !== e ? isConnectionFailure(err.cause) : false;
}

/** Thresholds of "resources exhausted": under 5% memory available or disk free. */
const EXHAUSTED = 0.05;

function memoryAvailableRatio(): number {
  try {
    const info = readFileSync('/proc/meminfo', 'utf8');
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
    const r = kb('MemAvailable') / kb('MemTotal');
    if (Number.isFinite(r)) return r;
  } catch {
    // not Linux
  }
  return os.freemem() / os.totalmem();
}

export function createIncidentActivities(deps: ActivityDeps) {
  const cfg = deps.config;

  async function incidentSettings(): Promise<IncidentSettings> {
    const describe = (spec: typeof cfg.applicationService): string | undefined => (spec ? serviceControl(spec).describe() : undefined);
    return {
      escalateAfterSeconds: [cfg.escalation.level2AfterSeconds, cfg.escalation.level3AfterSeconds],
      levels: cfg.escalation.levels,
      production: cfg.database.production,
      verifyTimeoutSeconds: cfg.incident.verifyTimeoutSeconds,
      approvalTimeoutSeconds: cfg.incident.approvalTimeoutSeconds,
      alertResolveWaitSeconds: cfg.incident.alertResolveWaitSeconds,
      historyEventLimit: cfg.incident.historyEventLimit,
      reportsDirectory: cfg.reportsDirectory,
      automaticRestore: cfg.incident.automaticRestore,
      detectionWatchSeconds: cfg.incident.detectionWatchSeconds,
      acknowledgeWithinSeconds: cfg.escalation.acknowledgeWithinSeconds,
      pogqThreshold: cfg.byzantine.pogqThreshold,
      services: { application: describe(cfg.applicationService), database: describe(cfg.databaseService) },
    };
  }

  async function readStatus(timeoutMs: number): Promise<Diagnosis['statusReport']> {
    const { report: r, ms, error } = await readStatusReport(cfg, timeoutMs);
    if (!r) return { reachable: false, ms, error };
    return { reachable: true, ms, systemStatus: r.system_status, p99ResponseMs: r.metrics.performance.p99_response_ms, eventsPerMinute: r.metrics.throughput.events_per_minute };
  }

  /** This host's load, memory and disk (the least free of the data and backup directories). */
  async function hostResources(input: { roles?: string[] } = {}): Promise<HostResources> {
    let diskFreeRatio = 1;
    for (const dir of [cfg.dataDir, cfg.backupDirectory]) {
      try {
        const st = await statfs(dir);
        diskFreeRatio = Math.min(diskFreeRatio, st.bavail / st.blocks);
      } catch {
        // unknown (not there on this host): not counted as exhausted
      }
    }
    // A host's worker polls its host's queue: that names the host as the configuration does.
    let host = os.hostname();
    try {
      host = hostOfQueue(Context.current().info.taskQueue) ?? host;
    } catch {
      // called outside an activity (tests)
    }
    return {
      host,
      ...(input.roles ? { roles: input.roles } : {}),
      load1PerCpu: Math.round((os.loadavg()[0]! / os.cpus().length) * 100) / 100,
      memoryAvailableRatio: Math.round(memoryAvailableRatio() * 1000) / 1000,
      diskFreeRatio: Math.round(diskFreeRatio * 1000) / 1000,
    };
  }

  async function diagnoseSystem(input: { hosts?: HostResources[] } = {}): Promise<Diagnosis> {
    const timeoutMs = cfg.healthCheck.timeoutSeconds * 1000;
    const [statusReport, live, database] = await Promise.all([
      readStatus(timeoutMs),
      deps.conductor.liveness(),
      deps.postgres
        .withClient(undefined, async (c) => void (await c.query('SELECT 1')))
        .then(() => ({ reachable: true }))
        .catch((e: unknown) => ({ reachable: false, error: (e as Error).message, kind: isConnectionFailure(e) ? ('down' as const) : ('error' as const) })),
    ]);
    // The figures of the hosts that run the services when the workflow read them there; else this
    // worker's own (one host runs everything). Exhaustion is judged on the worst of them.
    const hosts = input.hosts?.length ? input.hosts : [await hostResources()];
    const headroom = (h: HostResources): number => Math.min(h.memoryAvailableRatio, h.diskFreeRatio);
    const host = hosts.reduce((worst, h) => (headroom(h) < headroom(worst) ? h : worst));
    const describeHost = (h: HostResources): string =>
      `host ${h.host}${h.roles?.length ? ` (${h.roles.join(', ')})` : ''}: load ${h.load1PerCpu} per CPU, ${(h.memoryAvailableRatio * 100).toFixed(1)}% memory available, ${(h.diskFreeRatio * 100).toFixed(1)}% disk free`;
    const findings = [
      statusReport.reachable
        ? `status report answered in ${statusReport.ms} ms: ${statusReport.systemStatus} (p99 ${statusReport.p99ResponseMs} ms, ${statusReport.eventsPerMinute} events/min)`
        : `status report at ${cfg.application.statusUrl} did not answer: ${statusReport.error}`,
      live.alive ? `conductor at ${cfg.conductor.adminUrl} answers (app ${live.appEnabled ? 'enabled' : 'NOT enabled'})` : `conductor at ${cfg.conductor.adminUrl} does not answer: ${live.error ?? 'no answer'}`,
      database.reachable
        ? 'database answers'
        : (database as { kind?: string }).kind === 'down'
          ? `database does not accept connections: ${(database as { error?: string }).error}`
          : `database answers with an error (not a restart's to cure): ${(database as { error?: string }).error}`,
      ...hosts.map(describeHost),
    ];
    // The order is the dependency order: the application needs the database and the conductor.
    const cause: SystemCause = !database.reachable
      ? (database as { kind?: string }).kind === 'down'
        ? 'database-down'
        : 'database-error'
      : !live.alive || !live.appEnabled
        ? 'conductor-down'
        : !statusReport.reachable
          ? /no answer within/.test(statusReport.error ?? '')
            ? 'application-hung'
            : 'application-down'
          : host.memoryAvailableRatio < EXHAUSTED || host.diskFreeRatio < EXHAUSTED
            ? 'resources-exhausted'
            : 'healthy';
    return { cause, statusReport, conductor: { alive: live.alive && live.appEnabled, error: live.error }, database, host, ...(input.hosts?.length ? { hosts } : {}), findings };
  }

  /** Restart through service control; a hung process gets SIGKILL after its stop grace time. */
  async function restartService(input: { service: 'application' | 'database' }): Promise<{ restarted: boolean; how: string }> {
    const spec = input.service === 'application' ? cfg.applicationService : cfg.databaseService;
    if (!spec) return { restarted: false, how: `no ${input.service}.service is configured: it cannot be restarted from here` };
    const control = serviceControl(spec);
    try {
      await control.stop();
      await control.start();
    } catch (e) {
      throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `restart ${input.service} (${control.describe()}): ${(e as Error).message}` });
    }
    // A restarted server applies archive_timeout only once its checkpointer wakes: a checkpoint
    // wakes it (best effort: the restart itself succeeded).
    if (input.service === 'database' && cfg.physical.enabled) await createPhysicalBackupActivities(deps).wakeCheckpointer().catch(() => undefined);
    return { restarted: true, how: control.describe() };
  }

  /** Frees only what is ours and safe: temp files of interrupted backups and exports, never one
   * that a running step may still own (tempInUse: its pid alive, or written to lately). The
   * runbook's "drop caches" is left out: it frees nothing the kernel would not free itself. */
  async function freeResources(): Promise<{ freedBytes: number; removed: string[]; inUse: string[] }> {
    const out = { freedBytes: 0, removed: [] as string[], inUse: [] as string[] };
    for (const dir of [cfg.backupDirectory, cfg.dhtExportDirectory]) {
      const r = await removeUnownedTemps(dir);
      out.freedBytes += r.freedBytes;
      out.removed.push(...r.removed);
      out.inUse.push(...r.inUse);
    }
    return out;
  }

  /** Responsive again: the status report answers, the conductor and the database answer, and new
   * credits arrive in the database, within the timeout. The report's own status is recorded but
   * not required: its KPIs look back over the monitor's 60-minute window, which still holds the
   * outage's errors long after the system recovered (the alert's resolution says when it clears). */
  async function verifyRecovered(input: { timeoutSeconds: number }): Promise<{ healthy: boolean; newCredits: number; systemStatus?: string; details: string }> {
    const since = new Date();
    const deadline = Date.now() + input.timeoutSeconds * 1000;
    let last = 'not checked';
    let status: Diagnosis['statusReport'] | undefined;
    let newCredits = 0;
    while (Date.now() < deadline) {
      status = await readStatus(Math.min(5000, cfg.healthCheck.timeoutSeconds * 1000));
      const live = await deps.conductor.liveness();
      newCredits = await deps.postgres
        .withClient(undefined, async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM credits WHERE created_at > $1', [since])).rows[0]!.n))
        .catch(() => -1);
      last = [
        status.reachable ? `status report answers (${status.systemStatus}${status.systemStatus === 'healthy' ? '' : ': its 60-minute window may still hold the outage'})` : `status report unreachable (${status.error})`,
        live.alive && live.appEnabled ? 'conductor answers' : `conductor: ${live.error ?? 'app not enabled'}`,
        newCredits < 0 ? 'database unreachable' : `${newCredits} new credits`,
      ].join(', ');
      if (status.reachable && live.alive && live.appEnabled && newCredits > 0) return { healthy: true, newCredits, systemStatus: status.systemStatus, details: last };
      await new Promise((r) => setTimeout(r, 500));
    }
    return { healthy: false, newCredits, systemStatus: status?.systemStatus, details: `after ${input.timeoutSeconds} s: ${last}` };
  }

  async function writeReport(input: { name: string; markdown: string }): Promise<{ path: string }> {
    return { path: await saveReport(cfg.reportsDirectory, input.name, input.markdown) };
  }

  return { incidentSettings, hostResources, diagnoseSystem, restartService, freeResources, verifyRecovered, writeReport };
}
