// Runbook "alert-notification": an alert with no automatic runbook. It notifies at once (level 1)
// and escalates along the runbook's path while the alert fires: level 2 after 1 hour, level 3
// after 4 hours for critical alerts. Repeats of the alert join this run; a resolved notification
// ends it.
import { condition, proxyActivities, setHandler, workflowInfo, upsertSearchAttributes } from '@temporalio/workflow';
import { alertSignal, resolvedSignal } from '../common/alerts';
import type { RunbookInput } from '../common/runbook-inputs';
import { IncidentId } from '../common/search-attributes';
import type { Activities } from '../activities';
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
}

export async function alertNotification(raw: AlertNotificationInput): Promise<AlertNotificationResult> {
  const { run, input } = openRun('alert-notification', withDefaults(raw, { trigger: 'alert' }));
  let repeats = 0;
  let resolved = false;
  setHandler(alertSignal, () => void repeats++);
  setHandler(resolvedSignal, () => void (resolved = true));
  return recorded(run, async () => {
    const started = Date.now();
    run.target(input.alert.category);
    upsertSearchAttributes([{ key: IncidentId, value: input.alert.fingerprint }]);
    const [level2, level3] = input.escalateAfterSeconds ?? [3600, 4 * 3600];
    const levels: Array<{ level: number; afterSeconds: number }> = [
      { level: 1, afterSeconds: 0 },
      { level: 2, afterSeconds: level2 },
      ...(input.alert.severity === 'critical' ? [{ level: 3, afterSeconds: level3 }] : []),
    ];
    const escalations: Array<{ level: number; at: string }> = [];
    for (const l of levels) {
      const wait = l.afterSeconds * 1000 - (Date.now() - started);
      if (wait > 0 && (await condition(() => resolved, wait, { summary: `escalate to level ${l.level} if still firing` }))) break;
      if (resolved) break;
      run.step(`escalation level ${l.level}`, `${input.alert.name}: ${input.alert.summary}`);
      await quick.notify.executeWithOptions({ summary: `notify escalation level ${l.level}` }, [
        { level: l.level, alert: input.alert, workflowId: workflowInfo().workflowId, repeats },
      ]);
      escalations.push({ level: l.level, at: new Date().toISOString() });
    }
    run.step('waiting for the alert to resolve');
    await condition(() => resolved);
    run.finish('succeeded', `${input.alert.name} resolved after ${escalations.length} notification(s) and ${repeats} repeat(s)`);
    return { runbook: 'alert-notification', outcome: 'resolved', alert: input.alert.name, repeats, escalations, durationMs: Date.now() - started };
  });
}
