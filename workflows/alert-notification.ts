// Runbook "alert-notification": an alert with no automatic runbook. It notifies at once (level 1)
// and escalates along the runbook's path while the alert fires: level 2 after 1 hour, level 3
// after 4 hours for critical alerts; an INFO alert is notified and never escalated. Repeats of the
// alert join this run; a resolved notification ends it. An alert that fires for days repeats
// thousands of times: before the history reaches its bound the run continues as new, carrying its
// repeats, escalations and start (history-bound.ts).
import { allHandlersFinished, condition, continueAsNew, patched, proxyActivities, setHandler, workflowInfo, upsertSearchAttributes } from '@temporalio/workflow';
import { alertSignal, resolvedSignal } from '../common/alerts';
import type { RunbookInput } from '../common/runbook-inputs';
import { IncidentId } from '../common/search-attributes';
import type { Activities } from '../activities';
import { historyFull } from './history-bound';
import { shortStep } from './presets';
import { openRun, recorded, withDefaults } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

export type AlertNotificationInput = RunbookInput<'alert-notification'>;

export interface AlertNotificationResult {
  runbook: 'alert-notification';
  outcome: 'resolved';
  alert: string;
  repeats: number;
  escalations: Array<{ level: number; at: string }>;
  durationMs: number;
  /** How many times the run's history was continued as new. */
  continuedAsNew?: number;
}

/** What a notification carries into its next run when it continues as new. */
export interface AlertNotificationCarry {
  startedMs: number;
  repeats: number;
  escalations: Array<{ level: number; at: string }>;
  continuedAsNew: number;
}

export async function alertNotification(raw: AlertNotificationInput, carry?: AlertNotificationCarry): Promise<AlertNotificationResult> {
  const { run, input } = openRun('alert-notification', withDefaults(raw, { trigger: 'alert' }));
  let repeats = carry?.repeats ?? 0;
  let resolved = false;
  // signalWithStart delivers the starting alert as a signal too: it is not a repeat.
  let startSignalSeen = carry !== undefined;
  setHandler(alertSignal, (a) => {
    if (!startSignalSeen && (a as { fingerprint?: unknown } | undefined)?.fingerprint === input.alert.fingerprint) startSignalSeen = true;
    else repeats++;
  });
  setHandler(resolvedSignal, () => void (resolved = true));
  return recorded(run, async () => {
    const started = carry?.startedMs ?? Date.now();
    const escalations: Array<{ level: number; at: string }> = carry?.escalations ?? [];
    const full = () => historyFull(input.historyEventLimit);
    const next = async (): Promise<never> => {
      await condition(allHandlersFinished);
      return continueAsNew<typeof alertNotification>(raw, { startedMs: started, repeats, escalations, continuedAsNew: (carry?.continuedAsNew ?? 0) + 1 });
    };
    run.target(input.alert.category);
    upsertSearchAttributes([{ key: IncidentId, value: input.alert.fingerprint }]);
    if (carry) run.step('continued as new', `${carry.continuedAsNew} time(s); ${repeats} repeat(s) and ${escalations.length} notification(s) so far`);
    const [level2, level3] = input.escalateAfterSeconds ?? [3600, 4 * 3600];
    // The runbook's severities: INFO needs no action (notified, never escalated), WARNING is
    // escalated to level 2, CRITICAL to level 3. Runs started before INFO stopped at level 1 keep
    // escalating as they did (the patch keeps their histories valid).
    const infoOnly = input.alert.severity === 'info' && patched('info-alerts-not-escalated');
    const levels: Array<{ level: number; afterSeconds: number }> = [
      { level: 1, afterSeconds: 0 },
      ...(infoOnly ? [] : [{ level: 2, afterSeconds: level2 }]),
      ...(input.alert.severity === 'critical' ? [{ level: 3, afterSeconds: level3 }] : []),
    ];
    for (const l of levels) {
      if (escalations.some((e) => e.level === l.level)) continue; // notified in an earlier run
      const wait = l.afterSeconds * 1000 - (Date.now() - started);
      if (wait > 0 && (await condition(() => resolved || full(), wait, { summary: `escalate to level ${l.level} if still firing` }))) {
        if (resolved) break;
        return next();
      }
      if (resolved) break;
      run.step(`escalation level ${l.level}`, `${input.alert.name}: ${input.alert.summary}`);
      await quick.notify.executeWithOptions({ summary: `notify escalation level ${l.level}` }, [
        { level: l.level, alert: input.alert, workflowId: workflowInfo().workflowId, repeats },
      ]);
      escalations.push({ level: l.level, at: new Date().toISOString() });
    }
    if (!resolved) {
      run.step('waiting for the alert to resolve');
      await condition(() => resolved || full());
      if (!resolved) return next();
    }
    const continued = carry ? `; continued as new ${carry.continuedAsNew} time(s)` : '';
    run.finish('succeeded', `${input.alert.name} resolved after ${escalations.length} notification(s) and ${repeats} repeat(s)${continued}`);
    return {
      runbook: 'alert-notification',
      outcome: 'resolved',
      alert: input.alert.name,
      repeats,
      escalations,
      durationMs: Date.now() - started,
      ...(carry ? { continuedAsNew: carry.continuedAsNew } : {}),
    };
  });
}
