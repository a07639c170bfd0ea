// Stuck-run controls: `runbook cancel|terminate <id>` and `runbook retry <id> [--from-step NAME]`,
// each under the operator's identity and with a reason, both written into the run's history
// (the cancel request's cause, the termination's reason, the reset's reason), where `runbook
// audit` and the Web UI show them. Cancel is the gentle one: the run's clean-up steps (a restored
// copy removed, the application started again, locks released) still run. Terminate stops it
// where it stands. Retry resets the run to a step: Temporal replays the history up to the
// workflow task that scheduled it and runs everything from there again, as a new run of the same
// workflow id.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { UsageError } from './errors';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const EventType = temporal.api.enums.v1.EventType;

export interface ControlRecord {
  action: 'cancel' | 'terminate' | 'reset';
  by: string;
  reason: string;
  at: string;
}

/** The identity the controls are sent under: what the history shows as who did it. */
const identityOf = (by: string): string => `${by} (runbook cli)`;

async function latestRun(client: Client, workflowId: string): Promise<{ runId: string; status: string; history: HistoryEvent[] }> {
  const handle = client.workflow.getHandle(workflowId);
  const d = await handle.describe();
  const history = (await client.workflow.getHandle(workflowId, d.runId).fetchHistory()).events ?? [];
  return { runId: d.runId, status: d.status.name, history };
}

/** The run a cancel or terminate is for: the latest, and only while it runs. */
async function runningRun(client: Client, workflowId: string, verb: string): Promise<string> {
  const { runId, status } = await latestRun(client, workflowId);
  if (status !== 'RUNNING') throw new UsageError(`${workflowId} is not running (${status.toLowerCase()}): nothing to ${verb}`);
  return runId;
}

export async function cancelRun(client: Client, workflowId: string, o: { by: string; reason: string }): Promise<{ runId: string }> {
  const runId = await runningRun(client, workflowId, 'cancel');
  await client.workflowService.requestCancelWorkflowExecution({
    namespace: client.options.namespace,
    workflowExecution: { workflowId, runId },
    identity: identityOf(o.by),
    requestId: randomUUID(),
    reason: o.reason,
  });
  return { runId };
}

export async function terminateRun(client: Client, workflowId: string, o: { by: string; reason: string }): Promise<{ runId: string }> {
  const runId = await runningRun(client, workflowId, 'terminate');
  await client.workflowService.terminateWorkflowExecution({
    namespace: client.options.namespace,
    workflowExecution: { workflowId, runId },
    identity: identityOf(o.by),
    reason: o.reason,
  });
  return { runId };
}

/** A step of a run: an activity it scheduled, with the workflow task that scheduled it. */
export interface RunStep {
  /** The activity's type (e.g. restoreClusterCopy). */
  activity: string;
  /** The summary the runbook gave it (what the Web UI shows). */
  summary?: string;
  scheduledEventId: number;
  /** The WorkflowTaskCompleted event whose commands scheduled it: the reset point. */
  workflowTaskCompletedEventId: number;
}

function summaryOf(e: HistoryEvent): string | undefined {
  const p = e.userMetadata?.summary;
  if (!p?.data) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(p.data).toString('utf8'));
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Every activity a run scheduled, in order, each with the workflow task it came from. */
export function runSteps(events: HistoryEvent[]): RunStep[] {
  const steps: RunStep[] = [];
  let lastCompleted = 0;
  for (const e of events) {
    const id = Number(e.eventId ?? 0);
    if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) lastCompleted = id;
    const a = e.activityTaskScheduledEventAttributes;
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && a && lastCompleted > 0) {
      steps.push({ activity: a.activityType?.name ?? '?', summary: summaryOf(e), scheduledEventId: id, workflowTaskCompletedEventId: lastCompleted });
    }
  }
  return steps;
}

/** Where a retry starts: the first workflow task (the whole run again), or the workflow task that
 * scheduled the first step whose activity type is NAME, else whose summary contains NAME. */
export function resetPoint(events: HistoryEvent[], fromStep?: string): { eventId: number; step: string } {
  if (fromStep === undefined) {
    const first = events.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    if (!first) throw new UsageError('the run has no completed workflow task to start again from');
    return { eventId: Number(first.eventId), step: 'the start' };
  }
  const steps = runSteps(events);
  const wanted = fromStep.toLowerCase();
  const match = steps.find((s) => s.activity.toLowerCase() === wanted) ?? steps.find((s) => s.summary?.toLowerCase().includes(wanted));
  if (!match) {
    const known = [...new Set(steps.map((s) => s.activity))];
    throw new UsageError(`--from-step: no step of this run is "${fromStep}"; expected one of: ${known.join(', ') || 'none (the run scheduled no step)'}`);
  }
  return { eventId: match.workflowTaskCompletedEventId, step: `${match.activity}${match.summary ? ` (${match.summary})` : ''}` };
}

/** Resets the run to a step (or its start); the new run carries the reason and the identity.
 * A running run is reset too (its current run ends): the operator said so explicitly. */
export async function retryRun(client: Client, workflowId: string, o: { by: string; reason: string; fromStep?: string }): Promise<{ oldRunId: string; runId: string; step: string }> {
  const { runId, history } = await latestRun(client, workflowId);
  const point = resetPoint(history, o.fromStep);
  // The event id as the history gave it (an int64 the request wants in the same form).
  const eventId = history.find((e) => Number(e.eventId) === point.eventId)?.eventId;
  const request = temporal.api.workflowservice.v1.ResetWorkflowExecutionRequest.create({
    namespace: client.options.namespace,
    workflowExecution: { workflowId, runId },
    // The reset's record in the new run (a failed workflow task) carries the server's identity,
    // not the caller's: the operator goes into the reason, where the audit reads it back.
    reason: `${o.reason} [by ${o.by}]`,
    workflowTaskFinishEventId: eventId,
    requestId: randomUUID(),
    identity: identityOf(o.by),
  });
  const r = await client.workflowService.resetWorkflowExecution(request);
  return { oldRunId: runId, runId: r.runId ?? '', step: point.step };
}

/** The controls recorded in a run's history: cancel requests, termination, and (in a run made by
 * a reset) the reset. */
export function controlsOf(events: HistoryEvent[]): ControlRecord[] {
  const out: ControlRecord[] = [];
  const by = (identity: string | null | undefined): string => (identity ?? '').replace(/ \(runbook cli\)$/, '') || 'unknown';
  for (const e of events) {
    const at = new Date(Number(e.eventTime?.seconds ?? 0) * 1000).toISOString();
    const c = e.workflowExecutionCancelRequestedEventAttributes;
    if (c) out.push({ action: 'cancel', by: by(c.identity), reason: c.cause ?? '', at });
    const t = e.workflowExecutionTerminatedEventAttributes;
    if (t) out.push({ action: 'terminate', by: by(t.identity), reason: t.reason ?? '', at });
    const f = e.workflowTaskFailedEventAttributes;
    if (f && f.cause === temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW) {
      const m = /^([\s\S]*) \[by ([^\]]+)\]$/.exec(f.failure?.message ?? '');
      out.push({ action: 'reset', by: m ? m[2]! : by(f.identity), reason: m ? m[1]! : (f.failure?.message ?? ''), at });
    }
  }
  return out;
}
