// The built-in health check: reads the application's status report, evaluates the runbook's KPI
// tables, and raises or resolves alerts through the same routing as Alertmanager's, so both
// paths start the same runbook, once per incident.
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { Alert } from '../common/alerts';
import { evaluateKpis, figuresFromStatusReport, isBreach, kpiRules, type KpiLevel, type KpiName } from '../common/kpi';
import { alertRunId, routeAlert, type AlertCounters } from '../routing/alert-router';
import type { ActivityDeps } from './deps';
import { hostFigures } from './host-figures';
import { readStatusReport } from './status-report';

export interface HealthFinding {
  name: KpiName | 'statusReport';
  label: string;
  level: KpiLevel;
  category: string;
  value?: number;
  threshold?: number;
}

/** What the checker carries from one check to the next (and across retries and runs): each
 * alert's level and when its last repeat went out, by fingerprint. */
export interface WatchState {
  levels: Record<string, KpiLevel>;
  lastSent: Record<string, number>;
  checks: number;
}

/** A change the checker saw: what the run's history and the UI show. */
export interface WatchChange {
  at: string;
  alert: string;
  kind: 'breach' | 'level' | 'recovery';
  level: KpiLevel;
  value?: number;
  threshold?: number;
  routed: 'started' | 'joined' | 'resolved' | 'no-run';
}

export interface WatchResult {
  state: WatchState;
  changes: WatchChange[];
  /** The last check's outcome (for the run's details). */
  last: { at: string; reachable: boolean; systemStatus?: string; breaches: string[] };
  /** The checker's schedule was paused at the last look. */
  paused: boolean;
}

export function healthFingerprint(name: string): string {
  return 'hc' + createHash('sha256').update(`health-check:${name}`).digest('hex').slice(0, 16);
}

export function createHealthCheckActivities(deps: ActivityDeps) {
  async function evaluateHealth(): Promise<{ reachable: boolean; systemStatus?: string; findings: HealthFinding[]; problems?: string[] }> {
    const { report, error } = await readStatusReport(deps.config);
    if (!report) {
      return {
        reachable: false,
        findings: [{ name: 'statusReport', label: `Status report at ${deps.config.application.statusUrl} unreachable: ${error}`, level: 'critical', category: 'availability' }],
      };
    }
    const host = await hostFigures(deps, deps.config.healthCheck.timeoutSeconds * 1000);
    const findings = evaluateKpis(figuresFromStatusReport(report, host.figures), kpiRules(deps.config.kpi)).map((r) => ({
      name: r.name,
      label: r.label,
      level: r.level,
      category: r.table,
      value: r.value,
      threshold: r.threshold,
    }));
    return { reachable: true, systemStatus: report.system_status, problems: host.problems, findings: [{ name: 'statusReport' as const, label: 'Status report', level: 'ok' as const, category: 'availability' }, ...findings] };
  }

  /** The alert a finding raises (or resolves). */
  function alertOf(f: HealthFinding, firing: boolean): Alert {
    return {
      fingerprint: healthFingerprint(f.name),
      name: f.name === 'statusReport' ? 'CreditsServiceUnresponsive' : `KPI ${f.label}`,
      status: firing ? 'firing' : 'resolved',
      severity: f.level === 'critical' ? 'critical' : 'warning',
      category: f.category,
      summary: f.value === undefined ? f.label : `${f.label}: ${f.value} (threshold ${f.threshold})`,
      labels: { kpi: f.name },
      startsAt: new Date().toISOString(),
      source: 'health-check',
    };
  }

  /** The runs started by alerts that are open now: a KPI within its thresholds resolves only an
   * incident that is open (one visibility query instead of a signal per healthy KPI). */
  async function openAlertRuns(): Promise<Set<string>> {
    const open = new Set<string>();
    for await (const w of Context.current().client.workflow.list({ query: 'RunbookTrigger = "alert" AND ExecutionStatus = "Running"' })) open.add(w.workflowId);
    return open;
  }

  /** Breached KPIs raise (or repeat) their alert; KPIs back to ok resolve theirs. */
  async function raiseHealthAlerts(input: { findings: HealthFinding[] }): Promise<{ started: string[]; joined: string[]; resolved: string[] }> {
    const client = Context.current().client;
    const counters: AlertCounters = { received: 0, started: 0, joined: 0, resolved: 0, rejected: 0 };
    const out = { started: [] as string[], joined: [] as string[], resolved: [] as string[] };
    const open = await openAlertRuns();
    for (const f of input.findings) {
      if (f.level === 'unknown') continue;
      const firing = isBreach(f.level);
      const alert = alertOf(f, firing);
      if (!firing && !open.has(alertRunId(deps.config, alert))) continue;
      const outcome = await routeAlert(client, deps.config, alert, counters);
      if (outcome === 'started') out.started.push(alert.name);
      else if (outcome === 'joined') out.joined.push(alert.name);
      else if (outcome === 'resolved') out.resolved.push(alert.name);
    }
    return out;
  }

  /** The checker's step (health-check with watch): checks every healthCheck.intervalSeconds and
   * returns only when something changed (a KPI breached, recovered or changed level; the status
   * report lost or back) or after maxSeconds, so the run's history holds the changes and not every
   * check. A breach raises its alert at once; while it lasts its repeat goes out at most every
   * healthCheck.repeatSeconds (the incident only needs to know it still fires); a recovery
   * resolves it once. Heartbeats carry the state: a retry on another worker (this one died) goes
   * on from the last check instead of raising everything again. While the schedule that started
   * the checker is paused, it checks nothing. */
  async function watchHealth(input: { state?: WatchState; maxSeconds: number; scheduleId?: string }): Promise<WatchResult> {
    const ctx = Context.current();
    const client = ctx.client;
    const counters: AlertCounters = { received: 0, started: 0, joined: 0, resolved: 0, rejected: 0 };
    const intervalMs = deps.config.healthCheck.intervalSeconds * 1000;
    const repeatMs = deps.config.healthCheck.repeatSeconds * 1000;
    const resumed = (ctx.info.heartbeatDetails as WatchState | undefined) ?? input.state;
    const state: WatchState = resumed ? { levels: { ...resumed.levels }, lastSent: { ...resumed.lastSent }, checks: resumed.checks } : { levels: {}, lastSent: {}, checks: 0 };
    const changes: WatchChange[] = [];
    const deadline = Date.now() + input.maxSeconds * 1000;
    // The first check of a checker that has no state resolves what an earlier checker left open.
    let open: Set<string> | undefined = resumed ? undefined : await openAlertRuns();
    let last: WatchResult['last'] = { at: new Date().toISOString(), reachable: false, breaches: [] };
    let paused = false;
    while (Date.now() < deadline) {
      const next = Date.now() + intervalMs;
      paused = input.scheduleId !== undefined && (await client.schedule.getHandle(input.scheduleId).describe().then((d) => d.state.paused, () => false));
      if (!paused) {
        const health = await evaluateHealth();
        state.checks++;
        for (const f of health.findings) {
          if (f.level === 'unknown') continue;
          const fp = healthFingerprint(f.name);
          const firing = isBreach(f.level);
          const before = state.levels[fp] ?? 'ok';
          const alert = alertOf(f, firing);
          if (firing) {
            const due = before !== f.level || Date.now() - (state.lastSent[fp] ?? 0) >= repeatMs;
            if (!due) continue;
            const routed = await routeAlert(client, deps.config, alert, counters);
            state.lastSent[fp] = Date.now();
            // A repeat that found its incident closed starts a new one: a change too.
            if (before !== f.level || routed === 'started') changes.push({ at: new Date().toISOString(), alert: alert.name, kind: before === 'ok' || routed === 'started' ? 'breach' : 'level', level: f.level, value: f.value, threshold: f.threshold, routed });
          } else if (before !== 'ok' || open?.has(alertRunId(deps.config, alert))) {
            const routed = await routeAlert(client, deps.config, alert, counters);
            delete state.lastSent[fp];
            changes.push({ at: new Date().toISOString(), alert: alert.name, kind: 'recovery', level: f.level, value: f.value, threshold: f.threshold, routed });
          }
          state.levels[fp] = firing ? f.level : 'ok';
        }
        open = undefined;
        last = { at: new Date().toISOString(), reachable: health.reachable, systemStatus: health.systemStatus, breaches: health.findings.filter((f) => isBreach(f.level)).map((f) => `${f.level}: ${f.label}`) };
      }
      ctx.heartbeat(state);
      if (changes.length) break;
      // Heartbeats through the wait too: a long interval must not look like a dead worker, and a
      // cancelled or terminated checker learns of it at its next heartbeat.
      for (let left = next - Date.now(); left > 0; left = next - Date.now()) {
        await ctx.sleep(Math.min(left, 5000));
        ctx.heartbeat(state);
      }
    }
    return { state, changes, last, paused };
  }

  return { evaluateHealth, raiseHealthAlerts, watchHealth };
}
