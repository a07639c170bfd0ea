// Heartbeats with progress details: the Temporal UI shows them on the pending activity, and a
// worker that stops heartbeating is noticed within the heartbeat timeout.
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

/** Heartbeats at most once a second; the last details are always sent when `force` is set. */
export function progressReporter(): { report: (p: Progress, force?: boolean) => void; signal: AbortSignal | undefined } {
  const ctx = context();
  let last = 0;
  return {
    signal: ctx?.cancellationSignal,
    report(p: Progress, force = false) {
      const now = Date.now();
      if (!ctx || (!force && now - last < 1000)) return;
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
