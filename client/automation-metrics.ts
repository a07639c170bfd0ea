// Metrics on the automation itself, served by the receiver on GET /metrics beside its alert
// counters: for every runbook, when it last succeeded and last failed, whether its newest closed
// run failed, and how many runs failed in 24 hours (Temporal visibility); open incidents and how
// long each has been open, beside the configured final escalation delay; every schedule's last
// and next action and whether it is paused. deploy/prometheus/alerts.yml alerts on them: a failed
// or too old backup, a schedule that did not run, runs failing, an incident open past its
// escalation. Read at most every `everyMs` (visibility queries are not free), a failed read is a
// metric of its own, never an empty page.
import type { Client } from '@temporalio/client';
import { runbookWorkflows } from '../common/runbooks';
import type { LoadedConfig } from '../config/load';

export interface AutomationSample {
  runbooks: Array<{ runbook: string; lastSuccessAt?: number; lastFailureAt?: number; lastClosedFailed?: boolean; failed24h?: number }>;
  incidents: Array<{ runbook: string; workflowId: string; startedAt: number }>;
  schedules: Array<{ id: string; paused: boolean; lastActionAt?: number; nextActionAt?: number }>;
  escalationDeadlineSeconds: number;
  /** When this sample was read (seconds) and what could not be read. */
  readAt: number;
  errors: string[];
}

const INCIDENTS = [
  'incident-system-unresponsive',
  'incident-byzantine-detection-failure',
  'incident-data-corruption',
  'incident-high-latency',
  'incident-error-rate',
  'incident-low-healthy-nodes',
  'incident-rate-limit-violations',
  'incident-high-memory',
  'incident-high-detection-activity',
];

/** The newest closed runs of a runbook (visibility lists the newest first), with their outcome. */
async function closedRuns(client: Client, runbook: string, scan: number): Promise<Array<{ closeTime: number; status: string; outcome?: string }>> {
  const out: Array<{ closeTime: number; status: string; outcome?: string }> = [];
  for await (const w of client.workflow.list({ query: `RunbookName = "${runbook}" AND ExecutionStatus != "Running"`, pageSize: scan })) {
    const o = w.searchAttributes?.Outcome;
    out.push({ closeTime: w.closeTime?.getTime() ?? 0, status: w.status.name, outcome: Array.isArray(o) ? String(o[0]) : undefined });
    if (out.length >= scan) break;
  }
  return out.sort((a, b) => b.closeTime - a.closeTime);
}

export async function sampleAutomation(client: Client, config: LoadedConfig, now = Date.now()): Promise<AutomationSample> {
  const errors: string[] = [];
  const guard = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      errors.push(`${what}: ${(e as Error).message.split('\n')[0]}`);
      return undefined;
    }
  };
  const since = new Date(now - 86_400_000).toISOString();
  // One list (the newest closed runs) and one count per runbook.
  const runbooks = await Promise.all(
    Object.keys(runbookWorkflows).map(async (runbook) => {
      const failedQ = `RunbookName = "${runbook}" AND (ExecutionStatus = "Failed" OR ExecutionStatus = "Terminated" OR ExecutionStatus = "TimedOut" OR Outcome = "failed") AND StartTime >= "${since}"`;
      const [closed, count] = await Promise.all([guard(`${runbook} runs`, () => closedRuns(client, runbook, 50)), guard(`${runbook} failures in 24 h`, () => client.workflow.count(failedQ))]);
      // A dry-run, an escalation or a rejection is not a failure; a failed, terminated or timed-out
      // run is, and so is one that ended with the outcome "failed" (a failed drill, say).
      const isFailure = (r: { status: string; outcome?: string }): boolean => ['FAILED', 'TERMINATED', 'TIMED_OUT'].includes(r.status) || r.outcome === 'failed';
      const at = (r: { closeTime: number } | undefined): number | undefined => (r ? r.closeTime / 1000 : undefined);
      return {
        runbook,
        lastSuccessAt: at(closed?.find((r) => r.outcome === 'succeeded')),
        lastFailureAt: at(closed?.find(isFailure)),
        lastClosedFailed: closed?.length ? isFailure(closed[0]!) : undefined,
        failed24h: count?.count,
      };
    }),
  );
  const incidents: AutomationSample['incidents'] = [];
  await guard('open incidents', async () => {
    for await (const w of client.workflow.list({ query: `ExecutionStatus = "Running" AND RunbookName IN (${INCIDENTS.map((i) => `"${i}"`).join(', ')})` })) {
      const name = w.searchAttributes?.RunbookName;
      incidents.push({ runbook: Array.isArray(name) ? String(name[0]) : 'incident', workflowId: w.workflowId, startedAt: w.startTime.getTime() / 1000 });
      if (incidents.length >= 200) break;
    }
  });
  const schedules: AutomationSample['schedules'] = [];
  await guard('schedules', async () => {
    for await (const s of client.schedule.list()) {
      const recent = s.info.recentActions.map((a) => a.takenAt.getTime()).reduce((m, v) => Math.max(m, v), 0);
      const next = s.info.nextActionTimes.map((d) => d.getTime()).reduce((m, v) => Math.min(m, v), Infinity);
      schedules.push({ id: s.scheduleId, paused: s.state.paused, lastActionAt: recent ? recent / 1000 : undefined, nextActionAt: Number.isFinite(next) ? next / 1000 : undefined });
    }
  });
  return { runbooks, incidents, schedules, escalationDeadlineSeconds: config.escalation.level3AfterSeconds, readAt: now / 1000, errors };
}

const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The exposition text of one sample. Pure: tested on its own. */
export function renderAutomationMetrics(s: AutomationSample): string {
  const out: string[] = [];
  const metric = (name: string, help: string, samples: Array<[labels: string, value: number | undefined]>): void => {
    const present = samples.filter((x): x is [string, number] => x[1] !== undefined && Number.isFinite(x[1]));
    if (!present.length) return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...present.map(([l, v]) => `${name}${l} ${v}`));
  };
  const rb = (r: { runbook: string }): string => `{runbook="${label(r.runbook)}"}`;
  metric('zerotrustml_runbook_last_success_timestamp_seconds', 'when the newest successful run of the runbook ended', s.runbooks.map((r) => [rb(r), r.lastSuccessAt]));
  metric('zerotrustml_runbook_last_failure_timestamp_seconds', 'when the newest failed run of the runbook ended', s.runbooks.map((r) => [rb(r), r.lastFailureAt]));
  metric('zerotrustml_runbook_last_run_failed', '1 when the newest closed run of the runbook failed (or was terminated)', s.runbooks.map((r) => [rb(r), r.lastClosedFailed === undefined ? undefined : Number(r.lastClosedFailed)]));
  metric('zerotrustml_runbook_failed_runs_24h', 'runs of the runbook that failed in the last 24 hours', s.runbooks.map((r) => [rb(r), r.failed24h]));
  metric('zerotrustml_incidents_open', 'incidents open now', [['', s.incidents.length]]);
  metric(
    'zerotrustml_incident_open_seconds',
    'how long each open incident has been open',
    s.incidents.map((i) => [`{runbook="${label(i.runbook)}",workflow_id="${label(i.workflowId)}"}`, Math.max(0, Math.round(s.readAt - i.startedAt))]),
  );
  metric('zerotrustml_incident_escalation_deadline_seconds', 'the configured final escalation delay (escalation.level3AfterSeconds)', [['', s.escalationDeadlineSeconds]]);
  const sc = (x: { id: string }): string => `{schedule="${label(x.id)}"}`;
  metric('zerotrustml_schedule_last_action_timestamp_seconds', 'when the schedule last started a run', s.schedules.map((x) => [sc(x), x.lastActionAt]));
  metric('zerotrustml_schedule_next_action_timestamp_seconds', 'when the schedule starts its next run', s.schedules.map((x) => [sc(x), x.nextActionAt]));
  metric('zerotrustml_schedule_paused', '1 when the schedule is paused', s.schedules.map((x) => [sc(x), Number(x.paused)]));
  metric('zerotrustml_automation_read_errors', 'parts of these figures that could not be read from Temporal (the figure is then missing)', [['', s.errors.length]]);
  metric('zerotrustml_automation_read_timestamp_seconds', 'when these figures were read', [['', s.readAt]]);
  return `${out.join('\n')}\n`;
}

/** A cached reader: at most one visibility read per `everyMs`, scrapes in between share it. */
export function automationMetrics(client: Client, config: LoadedConfig, o: { everyMs?: number } = {}): () => Promise<string> {
  let cached: { at: number; text: string } | undefined;
  let inFlight: Promise<string> | undefined;
  return async () => {
    if (cached && Date.now() - cached.at < (o.everyMs ?? 15_000)) return cached.text;
    inFlight ??= sampleAutomation(client, config)
      .then((s) => {
        const text = renderAutomationMetrics(s);
        cached = { at: Date.now(), text };
        return text;
      })
      .finally(() => (inFlight = undefined));
    return inFlight;
  };
}
