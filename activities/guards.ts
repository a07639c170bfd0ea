// The guards from the activities' side: who holds a target lock (so a refused run can name it),
// and spending one automatic restart of a service's budget (the budget's run is started on first
// use and asked through an Update, so the answer is exact, never a visibility read).
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { restartBudgetId, spendRestartUpdate, type BudgetDecision } from '../common/guards';
import type { ActivityDeps } from './deps';

export function createGuardActivities(deps: ActivityDeps) {
  async function lockHolder(input: { lockId: string }): Promise<{ holder?: string; since?: string }> {
    try {
      const d = await Context.current().client.workflow.getHandle(input.lockId).describe();
      if (d.status.name !== 'RUNNING') return {};
      return { holder: d.parentExecution?.workflowId ?? undefined, since: d.startTime.toISOString() };
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return {};
      throw e;
    }
  }

  async function spendRestartBudget(input: { service: string; action: string }): Promise<BudgetDecision> {
    const ctx = Context.current();
    const { max, windowSeconds } = deps.config.remediation.restartBudget;
    const workflowId = restartBudgetId(input.service);
    await ctx.client.workflow.start('restartBudget', {
      workflowId,
      taskQueue: deps.config.temporal.taskQueue,
      args: [{ service: input.service }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      staticSummary: `restart budget of ${input.service}`,
    });
    return ctx.client.workflow
      .getHandle(workflowId)
      .executeUpdate(spendRestartUpdate, { args: [{ by: ctx.info.workflowExecution?.workflowId ?? 'unknown', action: input.action, max, windowSeconds }] });
  }

  return { lockHolder, spendRestartBudget };
}
