// The approval of a destructive step: an Update carrying who decided and which plan they decided
// on, so the decision, its author and what it approved are in the run's history, and a query for
// the run's live progress (with the plan awaiting a decision, which `runbook approve` shows).
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { identityPattern } from '../common/formats';
import type { Approval } from '../common/runbooks';

export interface ApprovalDecision {
  approved: boolean;
  by: string;
  reason?: string;
  /** SHA-256 of the plan the decider saw: a decision on another plan is refused. */
  planHash: string;
}

export const approvalUpdate = defineUpdate<Approval & { remaining: number }, [ApprovalDecision]>('approval');

/** What a run waiting for an approval shows and will accept. */
export interface PendingApproval {
  what: string;
  plan: string[];
  planHash: string;
  /** Who started the run: they may not approve their own production run. */
  requestedBy?: string;
  production: boolean;
  /** Distinct approvals needed (the two-person rule: 2). */
  required: number;
  /** Only these may decide, when configured. */
  approvers?: string[];
  decisions: Approval[];
}

export interface RunProgress {
  runbook: string;
  step: string;
  steps: Array<{ step: string; at: string; outcome?: string }>;
  awaitingApproval: boolean;
  approval?: PendingApproval;
}

export const progressQuery = defineQuery<RunProgress>('progress');

/** Validator: a decision is accepted only while one is awaited, from a named identity allowed to
 * decide, on the plan that is pending, once per person. */
export function validateDecision(decision: ApprovalDecision, pending: PendingApproval | undefined): void {
  if (!pending) throw new Error('this run is not waiting for an approval');
  if (typeof decision?.by !== 'string' || !identityPattern.test(decision.by)) {
    throw new Error(`an approval must say who decided: expected an identity (letters, digits, . _ @ + -), found ${JSON.stringify(decision?.by)}`);
  }
  if (typeof decision.approved !== 'boolean') throw new Error('expected "approved" to be true or false');
  if (decision.reason !== undefined && (typeof decision.reason !== 'string' || decision.reason.length > 1000)) throw new Error('expected a reason of at most 1000 characters');
  if (typeof decision.planHash !== 'string' || decision.planHash !== pending.planHash) {
    throw new Error(`the decision is for plan ${String(decision.planHash).slice(0, 12)}…, but the plan awaiting a decision is ${pending.planHash.slice(0, 12)}…: look at the plan again (runbook approve shows it)`);
  }
  if (pending.approvers && !pending.approvers.includes(decision.by)) {
    throw new Error(`${decision.by} is not an approver (approvals.approvers: ${pending.approvers.join(', ')})`);
  }
  if (decision.approved && pending.production && pending.requestedBy && decision.by === pending.requestedBy) {
    throw new Error(`${decision.by} started this production run and cannot approve it: another person must`);
  }
  if (pending.decisions.some((d) => d.by === decision.by)) throw new Error(`${decision.by} has already decided on this plan`);
}
