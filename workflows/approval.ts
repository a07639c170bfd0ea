// The approval of a destructive step on a production target: an Update carrying who decided, so
// the decision and its author are in the run's history, and a query for the run's live progress.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Approval } from '../common/runbooks';

export interface ApprovalDecision {
  approved: boolean;
  by: string;
  reason?: string;
}

export const approvalUpdate = defineUpdate<Approval, [ApprovalDecision]>('approval');

export interface RunProgress {
  runbook: string;
  step: string;
  steps: Array<{ step: string; at: string; outcome?: string }>;
  awaitingApproval: boolean;
}

export const progressQuery = defineQuery<RunProgress>('progress');

/** Validator: who decided must be named, and a decision is accepted only while one is awaited. */
export function validateDecision(decision: ApprovalDecision, awaiting: boolean): void {
  if (!awaiting) throw new Error('this run is not waiting for an approval');
  if (typeof decision?.by !== 'string' || decision.by.trim() === '') {
    throw new Error('an approval must say who decided: expected a non-empty "by"');
  }
  if (typeof decision.approved !== 'boolean') throw new Error('expected "approved" to be true or false');
}
