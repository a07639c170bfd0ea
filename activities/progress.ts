// Heartbeats with progress details: the Temporal UI shows them on the pending activity, and a
// worker that stops heartbeating is noticed within the heartbeat timeout. Two parts: a step
// reports its progress when it has some (report), and the worker's heartbeat interceptor
// (worker/heartbeat-interceptor.ts) re-sends the last report on a clock for every activity that
// has a heartbeat timeout, so a step that waits on one slow call (a page from a slow conductor, a
// large table's count) still heartbeats in time, whatever its loop does.
import { Context } from '@temporalio/activity';

export interface Progress {
  phase: string;
  bytes?: number;
  totalBytes?: number;
  detail?: string;
}

function context(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (a script or a test)
  }
}

/** The last progress each running activity reported: what the interceptor's heartbeats carry. */
const lastReported = new WeakMap<Context, Progress>();

export function lastProgress(ctx: Context): Progress | undefined {
  return lastReported.get(ctx);
}

/** Heartbeats at most once a second (the interceptor fills the gaps); the last details are
 * always sent when `force` is set. */
export function progressReporter(): { report: (p: Progress, force?: boolean) => void; signal: AbortSignal | undefined } {
  const ctx = context();
  let last = 0;
  return {
    signal: ctx?.cancellationSignal,
    report(p: Progress, force = false) {
      if (!ctx) return;
      lastReported.set(ctx, p);
      const now = Date.now();
      if (!force && now - last < 1000) return;
      last = now;
      ctx.heartbeat(p);
    },
  };
}

export function currentWorkflowId(): string | undefined {
  return context()?.info.workflowExecution?.workflowId;
}

export function currentAttempt(): number {
  return context()?.info.attempt ?? 1;
}
