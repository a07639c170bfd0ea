// Which runs of some runbooks are running now, from Temporal visibility: the incident runbook holds
// while a recovery, restore or scaling run works on the system, and a drill refuses to start
// beside another drill. The calling run and its own children are not counted.
import { Context } from '@temporalio/activity';

export function createRunningRunsActivities() {
  async function runningRuns(input: { runbooks: string[] }): Promise<string[]> {
    const own = Context.current().info.workflowExecution?.workflowId ?? '';
    const query = `RunbookName IN (${input.runbooks.map((n) => `"${n}"`).join(', ')}) AND ExecutionStatus = "Running"`;
    const found: string[] = [];
    for await (const w of Context.current().client.workflow.list({ query })) {
      if (w.workflowId === own || w.workflowId.startsWith(`${own}-`)) continue;
      found.push(`${w.workflowId} (${String((w.searchAttributes?.RunbookName as string[] | undefined)?.[0] ?? w.type)})`);
    }
    return found;
  }
  return { runningRuns };
}
