// Records the histories the replay test replays: every runbook (a dry run of each, which walks its
// reads and its plan) and the paths that matter most for a deploy in the middle of a run: a
// backup and an export that succeed, a run refused for bad input, a restore, a conductor restart,
// and a wipe that waits for an approval which is given, and one which is refused.
// Runs on the test stack (started and stopped here, as jest's global setup does).
//
// Usage: npm run histories:record   (then commit test/histories/*.json)
// Re-record when a runbook changed on purpose behind a patch whose old path may be retired, or
// when a new runbook or path is added; never to make a failing replay pass (docs/architecture.md).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { runbookWorkflows, type RunbookName } from '../../common/runbooks';
import globalSetup from '../global-setup';
import globalTeardown from '../global-teardown';
import { testTaskQueue } from '../support/env';
import { decide, temporalClient, waitFor } from '../support/stack';

const out = path.join(__dirname);

/** Inputs a dry run needs beyond dryRun (runbooks with a required input). */
const dryRunInputs: Partial<Record<RunbookName, Record<string, unknown>>> = {
  'troubleshoot-unexpected-detections': { nodeId: 'node-0001' },
  'alert-notification': { alert: { name: 'HighMemoryUsage', severity: 'warning', summary: 'memory above 2 GB', fingerprint: 'replay-fixture' } },
};

async function main(): Promise<void> {
  await globalSetup();
  const { client, close } = await temporalClient();
  const written: string[] = [];
  const save = async (scenario: string, runbook: RunbookName, handle: WorkflowHandle): Promise<void> => {
    await handle.result().catch(() => undefined);
    const history = JSON.parse(historyToJSON(await handle.fetchHistory())) as unknown;
    const file = `${runbook}--${scenario}.json`;
    writeFileSync(path.join(out, file), JSON.stringify({ runbook, scenario, workflowId: handle.workflowId, recordedAt: new Date().toISOString(), history }, null, 1) + '\n');
    written.push(file);
    process.stderr.write(`recorded ${file}\n`);
  };
  const start = (runbook: RunbookName, id: string, input: Record<string, unknown>): Promise<WorkflowHandle> =>
    client.workflow.start(runbookWorkflows[runbook], { taskQueue: testTaskQueue, workflowId: `replay-${id}-${Date.now()}`, args: [{ trigger: 'manual', requestedBy: 'replay-recorder', ...input }] });
  try {
    for (const f of readdirSync(out).filter((n) => n.endsWith('.json'))) rmSync(path.join(out, f));
    for (const runbook of Object.keys(runbookWorkflows) as RunbookName[]) {
      await save('dry-run', runbook, await start(runbook, `${runbook}-dry`, { dryRun: true, ...(dryRunInputs[runbook] ?? {}) }));
    }
    await save('succeeded', 'database-backup', await start('database-backup', 'backup', { key: '20300101_000000' }));
    await save('invalid-input', 'database-backup', await start('database-backup', 'backup-bad', { key: '../../etc' }));
    await save('succeeded', 'dht-export', await start('dht-export', 'export', { key: '20300101_000000' }));
    await save('succeeded', 'restore-dht', await start('restore-dht', 'restore-dht', { export: '20300101_000000' }));
    await save('succeeded', 'restore-database', await start('restore-database', 'restore-db', { backup: '20300101_000000' }));
    await save('succeeded', 'restart-conductor', await start('restart-conductor', 'restart', {}));
    for (const approved of [true, false]) {
      const h = await start('restart-conductor', `wipe-${approved}`, { clean: true });
      await waitFor('the wipe to wait for its approval', async () => (await h.query<{ approval?: unknown }>('progress')).approval !== undefined || undefined, 60_000);
      await decide(h, 'replay-approver', { approved, reason: approved ? 'recorded approval' : 'recorded refusal' });
      await save(approved ? 'approval-given' : 'approval-refused', 'restart-conductor', h);
    }
    await save('succeeded', 'health-check', await start('health-check', 'health', {}));
    await save('succeeded', 'troubleshoot-high-latency', await start('troubleshoot-high-latency', 'latency', {}));
  } finally {
    await close();
    await globalTeardown();
  }
  process.stderr.write(`${written.length} histories in ${out}\n`);
}

mkdirSync(out, { recursive: true });
main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
