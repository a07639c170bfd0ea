// Named timeout and retry presets for activities, so no workflow scatters literals.
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { nonRetryable } from '../common/failures';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: nonRetryable };

/** Reads and small changes: seconds. */
export const shortStep: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { ...retry, maximumAttempts: 5 },
};

/** Reads of the worker's own configuration: milliseconds, run inside the workflow task (a local
 * activity), which saves a round trip through the server before the work starts. */
export const configRead: LocalActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { ...retry, maximumAttempts: 5 },
};

/** Dumps, restores and full reads: long, heartbeating, so a dead worker is noticed in seconds
 * and the step is retried on another one. */
export function longTransfer(heartbeatTimeoutSeconds = 30): ActivityOptions {
  return {
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: `${heartbeatTimeoutSeconds}s`,
    retry: { ...retry, maximumAttempts: 4 },
  };
}

/** A preset with a longer timeout and another number of attempts, keeping the rest of its retry
 * policy (the non-retryable failure types above all: an inline `retry` would drop them). */
export function extend(preset: ActivityOptions, o: { startToCloseTimeout?: ActivityOptions['startToCloseTimeout']; maximumAttempts?: number }): ActivityOptions {
  return {
    ...preset,
    ...(o.startToCloseTimeout ? { startToCloseTimeout: o.startToCloseTimeout } : {}),
    retry: { ...preset.retry, ...(o.maximumAttempts ? { maximumAttempts: o.maximumAttempts } : {}) },
  };
}
