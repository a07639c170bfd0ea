// `runbook schedules apply|list`: the runbook's maintenance calendar as Temporal Schedules.
// apply is idempotent: each schedule carries a hash of its definition in its note, and a schedule
// whose hash matches is left alone.
import { createHash } from 'node:crypto';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import { parseClock } from '../common/durations';
import { RunbookName, Target, Trigger } from '../common/search-attributes';
import { databaseTarget, type LoadedConfig } from '../worker/config';

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
  dayOfWeek?: 'MONDAY' | 'WEDNESDAY' | 'FRIDAY';
  everySeconds?: number;
  args: unknown[];
}

export function desiredSchedules(config: LoadedConfig): ScheduleDefinition[] {
  return [
    {
      scheduleId: 'runbook-database-backup',
      runbook: 'database-backup',
      target: databaseTarget(config).name,
      workflowType: 'databaseBackup',
      description: `daily database backup at ${config.backup.schedule} ${config.timezone}, ${config.backup.retentionDays}-day retention`,
      ...parseClock(config.backup.schedule),
      args: [{ trigger: 'schedule' }],
    },
    {
      scheduleId: 'runbook-dht-export',
      runbook: 'dht-export',
      target: config.conductor.appId,
      workflowType: 'dhtExport',
      description: `daily DHT export at ${config.dhtExport.schedule} ${config.timezone}, ${config.dhtExport.retentionDays}-day retention`,
      ...parseClock(config.dhtExport.schedule),
      args: [{ trigger: 'schedule' }],
    },
    {
      scheduleId: 'runbook-config-backup',
      runbook: 'config-backup',
      target: 'configuration',
      workflowType: 'configBackup',
      description: `daily configuration backup at ${config.configBackup.schedule} ${config.timezone}, ${config.configBackup.retentionDays}-day retention`,
      ...parseClock(config.configBackup.schedule),
      args: [{ trigger: 'schedule' }],
    },
    {
      scheduleId: 'runbook-dr-drill',
      runbook: 'dr-drill',
      target: 'dr-drill',
      workflowType: 'drDrill',
      description: `monthly DR drill on day ${config.disasterRecovery.drillDayOfMonth} at ${config.disasterRecovery.drillTime} ${config.timezone}`,
      ...parseClock(config.disasterRecovery.drillTime),
      dayOfMonth: config.disasterRecovery.drillDayOfMonth,
      args: [{ trigger: 'schedule' }],
    },
    {
      scheduleId: 'runbook-log-rotation',
      runbook: 'log-rotation',
      target: 'logs',
      workflowType: 'logRotation',
      description: `daily log rotation at ${config.logRotation.schedule} ${config.timezone}, ${config.logRotation.keep} rotated files kept`,
      ...parseClock(config.logRotation.schedule),
      args: [{ trigger: 'schedule' }],
    },
    {
      scheduleId: 'runbook-metrics-cleanup',
      runbook: 'metrics-cleanup',
      target: 'reports',
      workflowType: 'metricsCleanup',
      description: `daily metrics cleanup at ${config.metricsCleanup.schedule} ${config.timezone}, reports kept ${config.metricsCleanup.reportsRetentionDays} days`,
      ...parseClock(config.metricsCleanup.schedule),
      args: [{ trigger: 'schedule' }],
    },
    ...(
      [
        ['weekly-health-review', 'weeklyHealthReview', 'MONDAY', 'Monday health review'],
        ['weekly-performance-review', 'weeklyPerformanceReview', 'WEDNESDAY', 'Wednesday performance review'],
        ['weekly-capacity-report', 'weeklyCapacityReport', 'FRIDAY', 'Friday capacity report'],
      ] as const
    ).map(([runbook, workflowType, dayOfWeek, what]) => ({
      scheduleId: `runbook-${runbook}`,
      runbook,
      target: 'reports',
      workflowType,
      description: `${what} at ${config.reviews.time} ${config.timezone}`,
      ...parseClock(config.reviews.time),
      dayOfWeek,
      args: [{ trigger: 'schedule' }],
    })),
    ...(
      [
        ['monthly-threshold-review', 'monthlyThresholdReview', 'alert-threshold review'],
        ['monthly-rate-limit-review', 'monthlyRateLimitReview', 'rate-limit review'],
        ['monthly-security-checklist', 'monthlySecurityChecklist', 'security checklist'],
      ] as const
    ).map(([runbook, workflowType, what]) => ({
      scheduleId: `runbook-${runbook}`,
      runbook,
      target: 'reports',
      workflowType,
      description: `monthly ${what} on day ${config.reviews.monthlyDay} at ${config.reviews.time} ${config.timezone}`,
      ...parseClock(config.reviews.time),
      dayOfMonth: config.reviews.monthlyDay,
      args: [{ trigger: 'schedule' }],
    })),
    {
      scheduleId: 'runbook-health-check',
      runbook: 'health-check',
      target: 'credits-service',
      workflowType: 'healthCheck',
      description: `KPI health check every ${config.healthCheck.intervalSeconds} s of ${config.application.statusUrl}`,
      everySeconds: config.healthCheck.intervalSeconds,
      args: [{ trigger: 'schedule' }],
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

export async function applySchedules(client: Client, config: LoadedConfig): Promise<Array<{ scheduleId: string; outcome: ApplyOutcome; description: string }>> {
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
