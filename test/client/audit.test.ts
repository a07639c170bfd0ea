// `runbook audit`: executed runbooks with trigger, who approved what, duration and outcome, from
// visibility and history, as a table, JSON or CSV; bad filters are refused before connecting.
import type { Client } from '@temporalio/client';
import { testTaskQueue } from '../support/env';
import { runCli, temporalClient, waitFor } from '../support/stack';

let client: Client;
let close: () => Promise<void>;
beforeAll(async () => ({ client, close } = await temporalClient()));
afterAll(async () => close());

test('a decided approval shows in the audit with who decided and why', async () => {
  const since = new Date(Date.now() - 1000).toISOString();
  const handle = await client.workflow.start('restartConductor', { taskQueue: testTaskQueue, workflowId: `audit-wipe-${Date.now()}`, args: [{ clean: true, trigger: 'manual', requestedBy: 'frank' }] });
  await waitFor('the approval wait', async () => ((await handle.query('progress')) as { awaitingApproval: boolean }).awaitingApproval);
  const r = await runCli(['reject', handle.workflowId, '--reason', 'drill only'], { RUNBOOK_IDENTITY: 'erin' });
  expect(r.code).toBe(0);
  await handle.result();

  const rows = await waitFor('the run in visibility with its outcome', async () => {
    const out = await runCli(['audit', '--runbook', 'restart-conductor', '--since', since, '--json']);
    const parsed = JSON.parse(out.stdout) as Array<{ workflowId: string; outcome: string }>;
    const mine = parsed.find((x) => x.workflowId === handle.workflowId);
    return mine?.outcome === 'rejected' ? parsed : undefined;
  });
  const row = rows.find((x) => x.workflowId === handle.workflowId) as unknown as {
    runbook: string;
    trigger: string;
    target: string;
    severity: string;
    outcome: string;
    durationMs: number;
    approvals: Array<{ approved: boolean; by: string; reason?: string }>;
  };
  expect(row).toMatchObject({ runbook: 'restart-conductor', trigger: 'manual', target: 'zerotrustml', severity: 'info', outcome: 'rejected' });
  expect(row.approvals).toEqual([expect.objectContaining({ approved: false, by: 'erin', reason: 'drill only', planHash: expect.stringMatching(/^[0-9a-f]{64}$/) })]);
  expect((row as { requestedBy?: string }).requestedBy).toBe('frank');
  expect(row.durationMs).toBeGreaterThan(0);

  const csv = await runCli(['audit', '--runbook', 'restart-conductor', '--since', since, '--csv']);
  expect(csv.stdout.split('\n')[0]).toBe('workflowId,runbook,trigger,requestedBy,target,severity,status,outcome,startTime,closeTime,durationMs,approvals,controls,failure');
  expect(csv.stdout).toMatch(new RegExp(`${handle.workflowId},restart-conductor,manual,frank,zerotrustml,info,COMPLETED,rejected,.*,rejected by erin \\(drill only\\),`));

  const table = await runCli(['audit', '--outcome', 'rejected', '--since', since]);
  expect(table.stdout).toMatch(/rejected by erin/);
});

test('bad filters are refused with what was expected', async () => {
  const since = await runCli(['audit', '--since', 'last tuesday']);
  expect(since.code).toBe(2);
  expect(since.stderr).toMatch(/--since: expected a date such as 2025-10-01/);
  const outcome = await runCli(['audit', '--outcome', 'great']);
  expect(outcome.code).toBe(2);
  expect(outcome.stderr).toMatch(/--outcome: expected one of running, succeeded, failed/);
});
