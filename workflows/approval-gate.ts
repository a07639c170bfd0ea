// The approval of a destructive step, shared by the runbooks that have one. A decision is an
// Update, accepted only while the run waits, bound to the plan it approves (SHA-256 of the plan's
// lines), from an identity the configuration allows; on a production target the one who started
// the run cannot approve it, and the two-person rule asks for distinct approvers. The wait is a
// timer with a summary, so the UI shows what the run is waiting for.
import { condition, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import { sha256Hex } from '../common/digest';
import type { Approval } from '../common/runbooks';
import type { Activities } from '../activities';
import { approvalUpdate, validateDecision, type PendingApproval } from './approval';
import { configRead } from './presets';
import type { RunRecord } from './run-record';

const local = proxyLocalActivities<Activities>(configRead);

export function planHash(plan: readonly string[]): string {
  return sha256Hex(plan.join('\n'));
}

export class ApprovalGate {
  private decision: Approval | undefined;
  private pending: PendingApproval | undefined;

  constructor(private readonly run: RunRecord) {
    setHandler(
      approvalUpdate,
      (d) => {
        const pending = this.pending!;
        const record: Approval = { approved: d.approved, by: d.by, reason: d.reason, at: new Date().toISOString(), planHash: pending.planHash };
        pending.decisions.push(record);
        const approvals = pending.decisions.filter((x) => x.approved);
        if (!d.approved) this.decision = record;
        else if (approvals.length >= pending.required) {
          this.decision = { ...record, by: approvals.map((a) => a.by).join(', '), approvals: approvals.map((a) => ({ by: a.by, at: a.at, reason: a.reason })) };
        }
        return { ...record, remaining: this.decision ? 0 : pending.required - approvals.length };
      },
      { validator: (d) => validateDecision(d, this.decision === undefined ? this.pending : undefined) },
    );
  }

  /** The decision on `plan`, or undefined when none arrived within the timeout (or `orUntil`
   * turned true). */
  async wait(o: { what: string; plan: string[]; timeoutSeconds: number; summary: string; orUntil?: () => boolean }): Promise<Approval | undefined> {
    const policy = await local.approvalPolicy.executeWithOptions({ summary: 'read the approval policy' }, []);
    this.decision = undefined;
    this.pending = {
      what: o.what,
      plan: o.plan,
      planHash: planHash(o.plan),
      requestedBy: this.run.requestedBy,
      production: policy.production,
      required: policy.production ? policy.required : 1,
      approvers: policy.approvers,
      decisions: [],
    };
    this.run.progress.awaitingApproval = true;
    this.run.progress.approval = this.pending;
    const orUntil = o.orUntil ?? (() => false);
    await condition(() => this.decision !== undefined || orUntil(), `${o.timeoutSeconds}s`, { summary: o.summary });
    this.run.progress.awaitingApproval = false;
    this.run.progress.approval = undefined;
    this.pending = undefined;
    return this.decision;
  }

  get approval(): Approval | undefined {
    return this.decision;
  }
}
