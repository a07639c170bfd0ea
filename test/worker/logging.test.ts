// The worker's log is JSON lines: a real worker process runs a runbook, and every line it writes
// parses, with the run's identity on the runbook's step lines (workflowId, runId, workflowType,
// runbook, step) and the outcome on the last.
import type { Client } from '@temporalio/client';
import { jsonLine } from '../../worker/logging';
import { temporalClient, waitFor } from '../support/stack';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

const queue = 'runbooks-test-logs';
let client: Client;
let close: () => Promise<void>;
let worker: WorkerProcess;

beforeAll(async () => {
  ({ client, close } = await temporalClient());
  worker = await startWorkerProcess({ taskQueue: queue });
}, 120_000);
afterAll(async () => {
  await worker?.stop();
  await close();
});

test('an entry is one JSON object: time, level, message, attributes (an error keeps its message)', () => {
  const line = jsonLine({ level: 'WARN', message: 'x', timestampNanos: 1_700_000_000_123_000_000n, meta: { workflowId: 'w', error: new Error('boom'), n: 5n } });
  expect(JSON.parse(line)).toEqual({ time: '2023-11-14T22:13:20.123Z', level: 'WARN', message: 'x', workflowId: 'w', error: { message: 'boom', stack: expect.stringContaining('boom') }, n: '5' });
});

test("a runbook's steps in the worker's log: JSON, each with the run it belongs to", async () => {
  const workflowId = `logs-config-backup-${Date.now()}`;
  const handle = await client.workflow.start('configBackup', { taskQueue: queue, workflowId, args: [{ trigger: 'manual' }] });
  expect(await handle.result()).toMatchObject({ outcome: 'succeeded' });
  // The worker's lines reach this process through a pipe: the run's last ones may follow its result.
  await waitFor('the run in the worker log', async () => worker.output().includes(`"message":"finished"`) && worker.output().includes(workflowId), 10_000).catch(() => undefined);
  const lines = worker
    .output()
    .split('\n')
    .filter((l) => l.trim());
  const entries = lines.map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      throw new Error(`not a JSON line: ${l}`);
    }
  });
  expect(entries.find((e) => e.message === 'worker started')).toMatchObject({ level: 'INFO', taskQueue: queue });
  const mine = entries.filter((e) => e.workflowId === workflowId);
  if (!mine.length) process.stderr.write(`worker log:\n${lines.slice(-30).join("\n")}\n`);
  expect(mine.filter((e) => e.message === 'step').map((e) => e.step)).toEqual(expect.arrayContaining(['archive']));
  for (const e of mine.filter((x) => x.message === 'step')) expect(e).toMatchObject({ runbook: 'config-backup', runId: handle.firstExecutionRunId, workflowType: 'configBackup', level: 'INFO' });
  expect(mine.find((e) => e.message === 'finished')).toMatchObject({ runbook: 'config-backup', outcome: 'succeeded' });
}, 120_000);
