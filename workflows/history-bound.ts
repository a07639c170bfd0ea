// When a long-lived run should continue as new. Alerts repeat as signals while they fire (one per
// health check or Alertmanager repeat), so an incident or a notification that stays open for days
// would otherwise grow its history towards Temporal's limits (a warning at 10,240 events, the run
// terminated at 51,200). Each such run checks this in its long waits and carries its state into
// the next run before the bound.
import { workflowInfo } from '@temporalio/workflow';

/** The bound when neither the configuration nor the input says. */
export const DEFAULT_HISTORY_EVENT_LIMIT = 10_000;

/** True when the history is within a tenth of `limit` (at most 1,000 events) of it, or the server
 * suggests continuing as new. The headroom is for what arrives before the run has closed: the
 * signals of the workflow task that saw the length (a burst of repeats comes in one task), and
 * the continue-as-new's own events. */
export function historyFull(limit: number | undefined): boolean {
  const bound = limit ?? DEFAULT_HISTORY_EVENT_LIMIT;
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= bound - Math.min(1000, Math.floor(bound / 10));
}
