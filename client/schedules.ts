// `runbook schedules apply|list`: the runbook's maintenance calendar as Temporal Schedules.
// apply is idempotent: each schedule carries a hash of its definition in its note, and a schedule
// whose hash matches is left alone.
import { createHash } from 'node:crypto';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import { parseClock } from '../common/durations';
import { validateRunbookInput } from '../common/runbook-inputs';
import { runbookWorkflows, type RunbookName as Runbook } from '../common/runbooks';
import { RunbookName, Target, Trigger } from '../common/search-attributes';
import { databaseTarget, type LoadedConfig } from '../config/load';

export interface ScheduleDefinition {
  scheduleId: string;
  runbook: string;
  target: string;
  workflowType: string;
  description: string;
  /** A daily time, or an interval in seconds. */
  hour?: number;
  minute?: number;
  /** Monthly on this day (with hour and minute). */
  dayOfMonth?: number;
  /** Weekly on this day (with hour and minute). */
  dayOfWeek?: 'SUNDAY' | 'MONDAY' | 'TUESDAY' | 'WEDNESDAY' | 'THURSDAY' | 'FRIDAY' | 'SATURDAY';
  everySeconds?: number;
  args: unknown[];
  /** The schedule keeps one long-lived run going (overlap "skip" makes each firing a no-op while
   * it runs): apply starts it at once instead of at the next firing. */
  keepsRunning?: boolean;
}

/** One schedule of a runbook: its id, workflow type and arguments follow from the runbook's name. */
function scheduleOf(
  runbook: Runbook,
  target: string,
  description: string,
  when: Pick<ScheduleDefinition, 'hour' | 'minute' | 'dayOfMonth' | 'dayOfWeek' | 'everySeconds'>,
  variant?: { name?: string; input: Record<string, unknown> },
): ScheduleDefinition {
  // The input every scheduled run gets, checked against the runbook's schema like any other.
  const input = validateRunbookInput(runbook, { trigger: 'schedule', requestedBy: 'schedule', ...variant?.input });
  return { scheduleId: `runbook-${runbook}${variant?.name ? `-${variant.name}` : ''}`, runbook, target, workflowType: runbookWorkflows[runbook], description, ...when, args: [input] };
}

/** The physical tier's backups: full weekly, differential daily, incremental every N minutes. */
function physicalSchedules(config: LoadedConfig): ScheduleDefinition[] {
  if (!config.physical.enabled) return [];
  const pb = config.physicalBackup;
  const tz = config.timezone;
  const stanza = config.physical.stanza;
  return [
    scheduleOf('physical-backup', stanza, `weekly full physical backup on ${pb.fullDay.toLowerCase()} at ${pb.fullTime} ${tz}`, { ...parseClock(pb.fullTime), dayOfWeek: pb.fullDay }, { name: 'full', input: { type: 'full' } }),
    scheduleOf('physical-backup', stanza, `daily differential physical backup at ${pb.differentialTime} ${tz}`, parseClock(pb.differentialTime), { name: 'diff', input: { type: 'diff' } }),
    scheduleOf('physical-backup', stanza, `incremental physical backup every ${pb.incrementalEveryMinutes} minutes`, { everySeconds: pb.incrementalEveryMinutes * 60 }, { name: 'incr', input: { type: 'incr' } }),
  ];
}

export function desiredSchedules(config: LoadedConfig): ScheduleDefinition[] {
  const tz = config.timezone;
  const reviewsAt = parseClock(config.reviews.time);
  return [
    scheduleOf('database-backup', databaseTarget(config).name, `daily database backup at ${config.backup.schedule} ${tz}, ${config.backup.retentionDays}-day retention`, parseClock(config.backup.schedule)),
    scheduleOf('dht-export', config.conductor.appId, `daily DHT export at ${config.dhtExport.schedule} ${tz}, ${config.dhtExport.retentionDays}-day retention`, parseClock(config.dhtExport.schedule)),
    scheduleOf('config-backup', 'configuration', `daily configuration backup at ${config.configBackup.schedule} ${tz}, ${config.configBackup.retentionDays}-day retention`, parseClock(config.configBackup.schedule)),
    scheduleOf('dr-drill', 'dr-drill', `monthly DR drill on day ${config.disasterRecovery.drillDayOfMonth} at ${config.disasterRecovery.drillTime} ${tz}`, {
      ...parseClock(config.disasterRecovery.drillTime),
      dayOfMonth: config.disasterRecovery.drillDayOfMonth,
    }),
    scheduleOf('log-rotation', 'logs', `daily log rotation at ${config.logRotation.schedule} ${tz}, ${config.logRotation.keep} rotated files kept`, parseClock(config.logRotation.schedule)),
    scheduleOf('metrics-cleanup', 'reports', `daily metrics cleanup at ${config.metricsCleanup.schedule} ${tz}, reports kept ${config.metricsCleanup.reportsRetentionDays} days`, parseClock(config.metricsCleanup.schedule)),
    scheduleOf('weekly-health-review', 'reports', `Monday health review at ${config.reviews.time} ${tz}`, { ...reviewsAt, dayOfWeek: 'MONDAY' }),
    scheduleOf('weekly-performance-review', 'reports', `Wednesday performance review at ${config.reviews.time} ${tz}`, { ...reviewsAt, dayOfWeek: 'WEDNESDAY' }),
    scheduleOf('weekly-capacity-report', 'reports', `Friday capacity report at ${config.reviews.time} ${tz}`, { ...reviewsAt, dayOfWeek: 'FRIDAY' }),
    ...(
      [
        ['monthly-threshold-review', 'alert-threshold review'],
        ['monthly-rate-limit-review', 'rate-limit review'],
        ['monthly-security-checklist', 'security checklist'],
      ] as const
    ).map(([runbook, what]) =>
      scheduleOf(runbook, 'reports', `monthly ${what} on day ${config.reviews.monthlyDay} at ${config.reviews.time} ${tz}`, { ...reviewsAt, dayOfMonth: config.reviews.monthlyDay }),
    ),
    ...physicalSchedules(config),
    // One checker run, checking every interval; the schedule restarts it within a minute if it
    // stopped (workflows/health-check.ts).
    {
      ...scheduleOf('health-check', 'credits-service', `KPI health checker checking every ${config.healthCheck.intervalSeconds} s of ${config.application.statusUrl} (one run; restarted within a minute if it stops)`, { everySeconds: 60 }, { input: { watch: true } }),
      keepsRunning: true,
    },
  ];
}

function definitionHash(d: ScheduleDefinition, config: LoadedConfig): string {
  const material = JSON.stringify({ d, tz: config.timezone, tq: config.temporal.taskQueue });
  return createHash('sha256').update(material).digest('hex').slice(0, 16);
}

function scheduleOptions(d: ScheduleDefinition, config: LoadedConfig): ScheduleOptions {
  const hash = definitionHash(d, config);
  return {
    scheduleId: d.scheduleId,
    spec:
      d.everySeconds !== undefined
        ? { intervals: [{ every: `${d.everySeconds}s` }] }
        : { calendars: [{ hour: d.hour, minute: d.minute, ...(d.dayOfMonth ? { dayOfMonth: d.dayOfMonth } : {}), ...(d.dayOfWeek ? { dayOfWeek: d.dayOfWeek } : {}), comment: d.description }], timezone: config.timezone },
    action: {
      type: 'startWorkflow',
      workflowType: d.workflowType,
      workflowId: d.runbook,
      taskQueue: config.temporal.taskQueue,
      args: d.args,
      typedSearchAttributes: [
        { key: RunbookName, value: d.runbook },
        { key: Trigger, value: 'schedule' },
        { key: Target, value: d.target },
      ],
      staticSummary: `${d.runbook} (scheduled)`,
      staticDetails: `Started by schedule \`${d.scheduleId}\`: ${d.description}.`,
    },
    policies: {
      // A backup still running at the next slot means something is wrong: do not pile up.
      overlap: ScheduleOverlapPolicy.SKIP,
      // A server that was down at 02:00 still takes the night's backup when it comes back; a
      // missed health check is simply superseded by the next one.
      catchupWindow: d.everySeconds !== undefined ? `${Math.max(10, d.everySeconds)}s` : '6 hours',
      pauseOnFailure: false,
    },
    state: { note: `managed by runbook schedules apply; definition ${hash}` },
  };
}

export type ApplyOutcome = 'created' | 'updated' | 'unchanged';

/** Waits until the server answers the schedule API (a server that just started serves workflows
 * before it serves schedules: `stack up` once failed with "Failed to describe schedule"). */
export async function scheduleApiReady(client: Client, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.schedule.getHandle('runbook-readiness-probe').describe();
      return;
    } catch (e) {
      if (e instanceof ScheduleNotFoundError) return;
      if (Date.now() > deadline) throw new Error(`the Temporal server does not answer the schedule API after ${timeoutMs / 1000} s: ${(e as Error).message}`, { cause: e });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export async function applySchedules(client: Client, config: LoadedConfig): Promise<Array<{ scheduleId: string; outcome: ApplyOutcome; description: string }>> {
  await scheduleApiReady(client);
  const results: Array<{ scheduleId: string; outcome: ApplyOutcome; description: string }> = [];
  for (const d of desiredSchedules(config)) {
    const options = scheduleOptions(d, config);
    const handle = client.schedule.getHandle(d.scheduleId);
    let note: string | undefined;
    let paused = false;
    let exists = true;
    try {
      const state = (await handle.describe()).state;
      note = state.note;
      paused = state.paused;
    } catch (e) {
      if (!(e instanceof ScheduleNotFoundError)) throw e;
      exists = false;
    }
    if (!exists) {
      await client.schedule.create(options);
      results.push({ scheduleId: d.scheduleId, outcome: 'created', description: d.description });
    } else if (note === options.state?.note) {
      // A paused schedule stays paused (someone paused it on purpose), but apply says so.
      results.push({ scheduleId: d.scheduleId, outcome: 'unchanged', description: paused ? `${d.description} (PAUSED: runbook schedules apply does not unpause)` : d.description });
    } else {
      await handle.update((prev) => ({
        ...prev,
        spec: options.spec,
        action: options.action,
        policies: { ...prev.policies, ...options.policies },
        state: { ...prev.state, note: options.state?.note },
      }));
      // (Pausing replaces the note that holds the definition hash: the first apply after a pause
      // writes it back, and the schedule stays paused.)
      results.push({ scheduleId: d.scheduleId, outcome: 'updated', description: paused ? `${d.description} (PAUSED: runbook schedules apply does not unpause)` : d.description });
    }
    // A long-lived run starts now (not at the schedule's next firing) unless it runs already or
    // its schedule is paused.
    if (d.keepsRunning && !paused) await handle.trigger(ScheduleOverlapPolicy.SKIP);
  }
  return results;
}

export interface ScheduleRow {
  scheduleId: string;
  runbook: string;
  paused: boolean;
  nextRuns: string[];
  lastRun?: string;
  note?: string;
}

export async function listSchedules(client: Client): Promise<ScheduleRow[]> {
  const rows: ScheduleRow[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith('runbook-')) continue;
    const d = await client.schedule.getHandle(s.scheduleId).describe();
    rows.push({
      scheduleId: s.scheduleId,
      runbook: s.scheduleId.slice('runbook-'.length),
      paused: d.state.paused,
      nextRuns: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
      lastRun: d.info.recentActions.at(-1)?.takenAt.toISOString(),
      note: d.state.note,
    });
  }
  return rows.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}
