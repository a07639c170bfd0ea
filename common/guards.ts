// The messages of the two guards that bound what automation may do to a target: the target lock
// (one destructive run per target at a time) and the restart budget (at most N automatic
// restarts of a service per window, then a circuit breaker that an operator resets). Defined here
// so activities and the CLI can use them without importing workflow code. Pure.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** The lock's workflow id: one per target ("database:credits", "conductor:zerotrustml", ...). */
export function targetLockId(target: string): string {
  return `lock-${target.replace(/[^A-Za-z0-9_.:@-]/g, '_')}`;
}

/** The holder is done: the lock run ends. */
export const releaseLockSignal = defineSignal('release');

export interface RestartRecord {
  at: string;
  /** The run that restarted it. */
  by: string;
  action: string;
}

export interface BudgetDecision {
  allowed: boolean;
  /** Restarts counted in the window, this one included when allowed. */
  recent: RestartRecord[];
  max: number;
  windowSeconds: number;
  /** Set when the breaker is open: since when and why. */
  breaker?: { openedAt: string; reason: string };
}

export interface BudgetState {
  service: string;
  restarts: RestartRecord[];
  breaker?: { openedAt: string; reason: string };
  resets: Array<{ at: string; by: string; reason: string }>;
}

export const spendRestartUpdate = defineUpdate<BudgetDecision, [{ by: string; action: string; max: number; windowSeconds: number }]>('spendRestart');
export const resetBreakerUpdate = defineUpdate<BudgetState, [{ by: string; reason: string }]>('resetBreaker');
export const budgetQuery = defineQuery<BudgetState>('budget');

export function restartBudgetId(service: string): string {
  return `restart-budget-${service.replace(/[^A-Za-z0-9_.:@-]/g, '_')}`;
}
