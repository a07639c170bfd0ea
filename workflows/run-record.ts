// What every runbook does at its start and end: search attributes (runbook, trigger, target,
// outcome), current details for the UI, and a step log that the progress query returns.
import { ApplicationFailure, ContinueAsNew, log, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { Failure } from '../common/failures';
import { InvalidRunbookInput, severities, triggerKinds, validateRunbookInput, type RunbookInputName, type ValidRunbookInput } from '../common/runbook-inputs';
import { Outcome, RunbookName, Severity, Target, Trigger } from '../common/search-attributes';
import type { Outcome as OutcomeValue, SeverityLevel, TriggerKind } from '../common/search-attributes';
import { progressQuery, type RunProgress } from './approval';

export class RunRecord {
  readonly progress: RunProgress;

  constructor(
    readonly runbook: string,
    trigger: TriggerKind | undefined,
    severity: 'info' | 'warning' | 'critical' = 'info',
    /** Who asked for the run (the starter's identity): recorded, and barred from approving it. */
    readonly requestedBy?: string,
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
    // A keyword search attribute must be a string: anything else fails the workflow task forever.
    upsertSearchAttributes([{ key: Target, value: String(name).slice(0, 200) }]);
  }

  step(step: string, details?: string): void {
    this.progress.step = step;
    this.progress.steps.push({ step, at: new Date().toISOString() });
    setCurrentDetails(`**${this.runbook}**: ${step}${details ? `\n\n${details}` : ''}`);
    // The worker's log line of the step (the SDK adds workflowId, runId and workflowType; not
    // written again when the run is replayed).
    log.info('step', { runbook: this.runbook, step });
  }

  finish(outcome: OutcomeValue, details?: string): void {
    const last = this.progress.steps[this.progress.steps.length - 1];
    if (last) last.outcome = outcome;
    this.progress.step = outcome;
    upsertSearchAttributes([{ key: Outcome, value: outcome }]);
    setCurrentDetails(`**${this.runbook}**: ${outcome}${details ? `\n\n${details}` : ''}`);
    log.info('finished', { runbook: this.runbook, outcome });
  }
}

/** The first step of every runbook: its input checked against the runbook's schema. A bad input
 * ends the run at once, before any activity is scheduled, as a failed run with a non-retryable
 * InvalidInput failure that names every bad field (never a workflow-task failure, which Temporal
 * would retry forever). */
export function openRun<N extends RunbookInputName>(runbook: N, raw: unknown, defaultSeverity?: 'info' | 'warning' | 'critical'): { run: RunRecord; input: ValidRunbookInput<N> } {
  let input: ValidRunbookInput<N>;
  try {
    input = validateRunbookInput(runbook, raw);
  } catch (e) {
    const bad = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
    const trigger = triggerKinds.find((t) => t === bad.trigger);
    const severity = severities.find((v) => v === bad.severity) ?? 'info';
    const run = new RunRecord(runbook, trigger, severity);
    const message = e instanceof InvalidRunbookInput ? e.message : `invalid input for ${runbook}: ${(e as Error).message}`;
    run.finish('failed', message);
    throw ApplicationFailure.create({ type: Failure.InvalidInput, message, nonRetryable: true, details: e instanceof InvalidRunbookInput ? [e.problems] : [] });
  }
  // An alert-started run carries the alert's severity unless the starter said otherwise.
  const common = input as { trigger?: TriggerKind; severity?: SeverityLevel; alert?: { severity: SeverityLevel } };
  const requestedBy = (input as { requestedBy?: string }).requestedBy;
  return { run: new RunRecord(runbook, common.trigger, common.severity ?? common.alert?.severity ?? defaultSeverity, requestedBy), input };
}

/** `raw` with `defaults` for the keys it leaves out, when it is an object; anything else as it is
 * (openRun refuses it with a message). */
export function withDefaults(raw: unknown, defaults: Record<string, unknown>): unknown {
  if (raw === undefined) return { ...defaults };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const out: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  for (const [k, v] of Object.entries(defaults)) if (out[k] === undefined) out[k] = v;
  return out;
}

/** Runs `body`; a failure is recorded as the run's outcome before it propagates. */
export async function recorded<T>(run: RunRecord, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    // Continuing as new is how a long run ends its history, not a failure.
    if (!(err instanceof ContinueAsNew) && run.progress.step !== 'failed') run.finish('failed', failureMessage(err));
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
  return scheduleId() ? 'schedule' : 'manual';
}

/** A search attribute the server set on this run (its first value). */
function serverAttribute(name: 'TemporalScheduledById' | 'TemporalScheduledStartTime'): unknown {
  const v = (workflowInfo().searchAttributes ?? {})[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The scheduled time of a run started by a schedule, if it was. */
export function scheduledTime(): Date | undefined {
  const first = serverAttribute('TemporalScheduledStartTime');
  if (first instanceof Date) return first;
  if (typeof first === 'string') return new Date(first);
  return undefined;
}

/** The schedule that started this run, if one did. */
export function scheduleId(): string | undefined {
  const first = serverAttribute('TemporalScheduledById');
  return typeof first === 'string' ? first : undefined;
}
