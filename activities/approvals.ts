// The approval policy a waiting run applies, from the configuration: whether the target is
// production (then the starter may not approve and the two-person rule applies), how many
// distinct approvals are needed, and who may decide.
import type { ActivityDeps } from './deps';

export function createApprovalActivities(deps: ActivityDeps) {
  async function approvalPolicy(): Promise<{ production: boolean; required: number; approvers?: string[] }> {
    const a = deps.config.approvals;
    return { production: deps.config.database.production, required: a.required, approvers: a.approvers };
  }
  return { approvalPolicy };
}
