// The guards of destructive work, as workflows. A target lock is a child run with the target's
// fixed workflow id: the server refuses a second one while it runs, and it ends when its holder
// releases it or when the holder's run closes in any way (parent-close policy TERMINATE), so a
// crashed or terminated holder never leaves a target locked. A restart budget is one long-lived
// run per service that counts automatic restarts in a sliding window and opens a circuit breaker
// when the budget is spent; only an operator closes it again.
import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { Failure } from '../common/failures';
import {
  budgetQuery,
  releaseLockSignal,
  resetBreakerUpdate,
  spendRestartUpdate,
  targetLockId,
  type BudgetDecision,
  type BudgetState,
} from '../common/guards';
import type { Activities } from '../activities';
import { shortStep } from './presets';

const quick = proxyActivities<Activities>(shortStep);

/** Held while it runs; nothing else. */
export async function targetLock(input: { target: string; holder: string }): Promise<{ target: string; holder: string }> {
  let released = false;
  setHandler(releaseLockSignal, () => void (released = true));
  await condition(() => released);
  return input;
}

export interface HeldLocks {
  targets: string[];
  release(): Promise<void>;
}

/** Takes the lock of every target, in order, or none: a target held by another run (other than
 * this run's own parent, which holds it for the whole recovery) refuses this run with the id of
 * the one that holds it, before anything was changed. */
export async function lockTargets(targets: string[]): Promise<HeldLocks> {
  const me = workflowInfo();
  const held: Array<ChildWorkflowHandle<typeof targetLock>> = [];
  // One release, however many callers: a run that releases early (while a read runs) and again in
  // its `finally` waits for the same lock ends.
  let releasing: Promise<void> | undefined;
  const release = (): Promise<void> => (releasing ??= releaseAll());
  const releaseAll = async (): Promise<void> => {
    await CancellationScope.nonCancellable(async () => {
      // Wait for each lock run to end: a holder that completed while its lock's completion was on
      // the way had its completion refused by the server (a failed workflow task, retried), which
      // cost a round trip and showed as a failure in the UI. Patched: runs recorded before did not.
      const waitForEnd = patched('lock-release-waits-for-end');
      for (const h of held.splice(0)) {
        await h.signal(releaseLockSignal).catch(() => undefined);
        if (waitForEnd) await h.result().catch(() => undefined);
      }
    });
  };
  try {
    for (const target of targets) {
      const workflowId = targetLockId(target);
      try {
        held.push(
          await startChild(targetLock, {
            workflowId,
            args: [{ target, holder: me.workflowId }],
            parentClosePolicy: ParentClosePolicy.TERMINATE,
            workflowIdReusePolicy: 'ALLOW_DUPLICATE',
            staticSummary: `lock on ${target}, held by ${me.workflowId}`,
          }),
        );
      } catch (e) {
        if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
        const holder = await quick.lockHolder.executeWithOptions({ summary: `who holds ${target}?` }, [{ lockId: workflowId }]);
        // The parent of this run holds it for the whole procedure this run is a step of.
        if (holder.holder !== undefined && holder.holder === me.parent?.workflowId) continue;
        throw ApplicationFailure.create({
          type: Failure.PreconditionFailed,
          message: `${target} is being changed by another run (${holder.holder ?? 'unknown'}): one destructive run per target at a time; nothing was changed. Wait for it or stop it, then start again.`,
          nonRetryable: true,
          details: [{ target, holder: holder.holder }],
        });
      }
    }
  } catch (e) {
    await release();
    throw e;
  }
  return { targets, release };
}

/** Histories stay bounded: the budget continues as new with its state after this many events. */
const MAX_HISTORY_EVENTS = 2000;

export async function restartBudget(input: { service: string; state?: BudgetState }): Promise<void> {
  const state: BudgetState = input.state ?? { service: input.service, restarts: [], resets: [] };
  setHandler(budgetQuery, () => state);
  setHandler(
    spendRestartUpdate,
    ({ by, action, max, windowSeconds }): BudgetDecision => {
      const now = Date.now();
      state.restarts = state.restarts.filter((r) => now - Date.parse(r.at) < windowSeconds * 1000);
      if (state.breaker) return { allowed: false, recent: state.restarts, max, windowSeconds, breaker: state.breaker };
      if (state.restarts.length >= max) {
        state.breaker = { openedAt: new Date(now).toISOString(), reason: `${state.restarts.length} automatic restarts of ${state.service} within ${windowSeconds} s (budget ${max}); ${by} asked for one more (${action})` };
        return { allowed: false, recent: state.restarts, max, windowSeconds, breaker: state.breaker };
      }
      state.restarts.push({ at: new Date(now).toISOString(), by, action });
      return { allowed: true, recent: state.restarts, max, windowSeconds };
    },
    {
      validator: ({ by, max, windowSeconds }) => {
        if (typeof by !== 'string' || !by) throw new Error('expected the run that restarts ("by")');
        if (!Number.isInteger(max) || max < 0 || !Number.isInteger(windowSeconds) || windowSeconds < 1) throw new Error('expected a whole budget and window');
      },
    },
  );
  setHandler(
    resetBreakerUpdate,
    ({ by, reason }) => {
      state.resets.push({ at: new Date().toISOString(), by, reason });
      state.resets = state.resets.slice(-20);
      state.breaker = undefined;
      state.restarts = [];
      return state;
    },
    {
      validator: ({ by, reason }) => {
        if (typeof by !== 'string' || !by.trim()) throw new Error('a reset must say who reset the breaker');
        if (typeof reason !== 'string' || !reason.trim()) throw new Error('a reset must say why (--reason)');
      },
    },
  );
  await condition(() => workflowInfo().historyLength > MAX_HISTORY_EVENTS || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await continueAsNew<typeof restartBudget>({ service: input.service, state });
}
