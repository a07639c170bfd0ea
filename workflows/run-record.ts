// What every runbook does at its start and end: search attributes (runbook, trigger, target,
// outcome), current details for the UI, and a step log that the progress query returns.
import { setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { Outcome, RunbookName, Severity, Target, Trigger } from '../common/search-attributes';
import type { Outcome as OutcomeValue, TriggerKind } from '../common/search-attributes';
import { progressQuery, type RunProgress } from './approval';

export class RunRecord {
  readonly progress: RunProgress;

  constructor(
    readonly runbook: string,
    trigger: TriggerKind | undefined,
    severity: 'info' | 'warning' | 'critical' = 'info',
  ) {
    this.progress = { runbook, step: 'starting', steps: [], awaitingApproval: false };
    setHandler(progressQuery, () => this.progress);
    upsertSearchAttributes([
      { key: RunbookName, value: runbook },
      { key: Trigger, value: trigger ?? inferTrigger() },
      { key: Severity, value: severity },
      { key: Outcome, value: 'running' },
    ]);
  }

  target(name: string): void {
    upsertSearchAttributes([{ key: Target, value: name }]);
  }

  step(step: string, details?: string): void {
    this.progress.step = step;
    this.progress.steps.push({ step, at: new Date().toISOString() });
    setCurrentDetails(`**${this.runbook}**: ${step}${details ? `\n\n${details}` : ''}`);
  }

  finish(outcome: OutcomeValue, details?: string): void {
    const last = this.progress.steps[this.progress.steps.length - 1];
    if (last) last.outcome = outcome;
    this.progress.step = outcome;
    upsertSearchAttributes([{ key: Outcome, value: outcome }]);
    setCurrentDetails(`**${this.runbook}**: ${outcome}${details ? `\n\n${details}` : ''}`);
  }
}

/** Runs `body`; a failure is recorded as the run's outcome before it propagates. */
export async function recorded<T>(run: RunRecord, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (run.progress.step !== 'failed') run.finish('failed', failureMessage(err));
    throw err;
  }
}

export function failureMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  // An ActivityFailure says only "Activity task failed"; the reason is in its cause.
  while (e?.cause && /activity task failed/i.test(e.message ?? '')) e = e.cause;
  return e?.message ?? String(err);
}

/** Schedules start runs with TemporalScheduledById set; anything else without a trigger is manual. */
function inferTrigger(): TriggerKind {
  const attrs = workflowInfo().searchAttributes ?? {};
  return attrs['TemporalScheduledById'] ? 'schedule' : 'manual';
}

/** The scheduled time of a run started by a schedule, if it was. */
export function scheduledTime(): Date | undefined {
  const v = (workflowInfo().searchAttributes ?? {})['TemporalScheduledStartTime'];
  const first = Array.isArray(v) ? v[0] : v;
  if (first instanceof Date) return first;
  if (typeof first === 'string') return new Date(first);
  return undefined;
}
