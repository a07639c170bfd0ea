// Runbook "health-check": the built-in alternative to Prometheus and Alertmanager. Two forms:
// - one check (a manual run, or a dry run): evaluate the KPI tables once; breaches start (or join)
//   the runbook they route to, recoveries resolve it. A dry run raises and resolves nothing.
// - the checker (`watch`, what the schedule runs): one long-lived run that checks every
//   healthCheck.intervalSeconds. Its history records the changes only (a breach, a change of
//   level, a recovery: each a step with the incident it started, joined or resolved), not every
//   check: 1,440 checks a day used to be 1,440 runs in the Web UI's list. It continues as new
//   before its history grows long, carrying what it knows of each alert; its schedule fires every
//   minute with overlap "skip", which restarts a checker that stopped (terminated, failed).
import { continueAsNew, patched, proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import { isBreach } from '../common/kpi';
import type { RunbookInput } from '../common/runbook-inputs';
import type { Activities } from '../activities';
import type { WatchChange, WatchState } from '../activities/health-check';
import { historyFull } from './history-bound';
import { shortStep } from './presets';
import { openRun, recorded, scheduleId } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

/** How long one watch step checks without a change before it reports back (the run's history
 * grows by one step an hour while all is well). */
const WATCH_STEP_SECONDS = 3600;

const watch = proxyActivities<Activities>({
  startToCloseTimeout: `${WATCH_STEP_SECONDS + 600}s`,
  // A dead worker is noticed within 30 s and the step goes on, from its last heartbeat, on
  // another worker; the checker never gives up on its own.
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});

/** A checker's history stays under this many events (about 150 changes a run). */
const CHECKER_HISTORY_LIMIT = 1000;

export interface HealthCheckResult {
  runbook: 'health-check';
  outcome: 'succeeded' | 'dry-run';
  reachable: boolean;
  systemStatus?: string;
  breaches: Array<{ name: string; level: string; value?: number; threshold?: number }>;
  started: string[];
  joined: string[];
  resolved: string[];
}

/** What a checker carries into its next run. */
export interface CheckerCarry {
  state: WatchState;
  /** The latest changes (at most 50), for the progress query and the run's details. */
  recent: WatchChange[];
  since: string;
  runs: number;
  /** The schedule that started the first run (its pause pauses the checks). */
  scheduleId?: string;
}

export async function healthCheck(raw: RunbookInput<'health-check'> = {}, carry?: CheckerCarry): Promise<HealthCheckResult> {
  const { run, input } = openRun('health-check', raw);
  return recorded(run, async () => {
    run.target('credits-service');
    if (input.watch && !input.dryRun) return checker(raw, carry, run);
    const health = await quick.evaluateHealth.executeWithOptions({ summary: 'read the status report and evaluate the KPI tables' }, []);
    const breaches = health.findings.filter((f) => isBreach(f.level));
    const summary = breaches.length ? breaches.map((b) => `- ${b.level}: ${b.label}`).join('\n') : 'every KPI within its thresholds';
    const result = { runbook: 'health-check' as const, reachable: health.reachable, systemStatus: health.systemStatus, breaches: breaches.map((b) => ({ name: b.name, level: b.level, value: b.value, threshold: b.threshold })) };
    // A dry run raises nothing: runs recorded before this check raised their alerts even then.
    if (input.dryRun && patched('health-check-dry-run-raises-nothing')) {
      run.finish('dry-run', `${summary}\n\nwould raise ${breaches.length} alert(s); nothing raised or resolved (dry run)`);
      return { ...result, outcome: 'dry-run', started: [], joined: [], resolved: [] };
    }
    const routed = await quick.raiseHealthAlerts.executeWithOptions({ summary: `raise ${breaches.length} alert(s), resolve recovered ones` }, [{ findings: health.findings }]);
    run.finish('succeeded', summary);
    return { ...result, outcome: 'succeeded', ...routed };
  });
}

async function checker(raw: RunbookInput<'health-check'>, carry: CheckerCarry | undefined, run: ReturnType<typeof openRun>['run']): Promise<never> {
  const c: CheckerCarry = carry ?? { state: { levels: {}, lastSent: {}, checks: 0 }, recent: [], since: new Date().toISOString(), runs: 0, scheduleId: scheduleId() };
  run.step('checking', `every check since ${c.since}; ${c.runs ? `continued as new ${c.runs} time(s)` : 'first run'}`);
  for (;;) {
    const r = await watch.watchHealth.executeWithOptions({ summary: 'check the KPI tables every interval until something changes' }, [{ state: c.state, maxSeconds: WATCH_STEP_SECONDS, scheduleId: c.scheduleId }]);
    c.state = r.state;
    for (const ch of r.changes) {
      // A step per change: the run's progress, its log line and its details say what happened.
      run.step(`${ch.kind}: ${ch.alert}`, `${ch.level}${ch.value !== undefined ? ` ${ch.value} (threshold ${ch.threshold})` : ''}; incident ${ch.routed}`);
      c.recent = [...c.recent, ch].slice(-50);
    }
    const now = r.paused ? 'paused (its schedule is paused)' : r.last.breaches.length ? r.last.breaches.map((b) => `- ${b}`).join('\n') : 'every KPI within its thresholds';
    setCurrentDetails(`**health-check** (checker, ${c.state.checks} checks since ${c.since})\n\nLast check ${r.last.at}:\n${now}\n\nRecent changes:\n${c.recent.slice(-10).map((x) => `- ${x.at} ${x.kind}: ${x.alert} (${x.level}; incident ${x.routed})`).join('\n') || '- none'}`);
    if (historyFull(CHECKER_HISTORY_LIMIT)) {
      return continueAsNew<typeof healthCheck>(raw, { ...c, runs: c.runs + 1 });
    }
  }
}
