// The approval of a destructive step, shared by the runbooks that have one: the `approval`
// Update is accepted only while the run waits and only once, and the wait is a timer with a
// summary, so the UI shows what the run is waiting for.
import { condition, setHandler } from '@temporalio/workflow';
import type { Approval } from '../common/runbooks';
import { approvalUpdate, validateDecision } from './approval';
import type { RunRecord } from './run-record';

export class ApprovalGate {
  private decision: Approval | undefined;

  constructor(private readonly run: RunRecord) {
    setHandler(
      approvalUpdate,
      (d) => {
        this.decision = { approved: d.approved, by: d.by.trim(), reason: d.reason, at: new Date().toISOString() };
        return this.decision;
      },
      { validator: (d) => validateDecision(d, this.run.progress.awaitingApproval && this.decision === undefined) },
    );
  }

  /** The decision, or undefined when none arrived within the timeout (or `orUntil` turned true). */
  async wait(timeoutSeconds: number, summary: string, orUntil: () => boolean = () => false): Promise<Approval | undefined> {
    this.run.progress.awaitingApproval = true;
    await condition(() => this.decision !== undefined || orUntil(), `${timeoutSeconds}s`, { summary });
    this.run.progress.awaitingApproval = false;
    return this.decision;
  }

  get approval(): Approval | undefined {
    return this.decision;
  }
}
