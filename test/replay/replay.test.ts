// Replay: every recorded history (test/histories, made by `npm run histories:record`) is replayed
// against the current workflow code. A run that was in flight when a new version is deployed
// continues on the new code from its history; a change that would make it fail (a step renamed,
// inserted or removed without a patch) fails here, naming the runbook, the scenario and the
// event. The last test shows the check bites: a history whose step no longer matches the code is
// refused with what differs.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { runbookWorkflows } from '../../common/runbooks';
import { bundlePath } from '../support/env';

const dir = path.join(__dirname, '..', 'histories');

interface Recorded {
  runbook: string;
  scenario: string;
  workflowId: string;
  events: string[];
  /** The server's protobuf History, base64. */
  history: string;
}

const decode = (r: Recorded): temporal.api.history.v1.History => temporal.api.history.v1.History.decode(Buffer.from(r.history, 'base64'));

const recorded = (): Array<{ file: string; r: Recorded }> =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, r: JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Recorded }));

/** Replays histories with one replay worker (one bundle); returns each failure in words. */
async function replay(items: Array<{ file: string; r: Recorded; history?: temporal.api.history.v1.History }>): Promise<string[]> {
  const byId = new Map(items.map((i) => [i.r.workflowId, i]));
  const failures: string[] = [];
  const histories = items.map((i) => ({ workflowId: i.r.workflowId, history: i.history ?? decode(i.r) }));
  for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: bundlePath } }, histories)) {
    if (!result.error) continue;
    const i = byId.get(result.workflowId);
    failures.push(`${i?.r.runbook ?? '?'} (${i?.r.scenario ?? '?'}, ${i?.file ?? result.workflowId}): ${result.error.name}: ${result.error.message}`);
  }
  return failures;
}

test('there is a recorded history of every runbook', () => {
  const have = new Set(recorded().map((i) => i.r.runbook));
  expect(Object.keys(runbookWorkflows).filter((r) => !have.has(r))).toEqual([]);
});

test('every recorded history replays against the current workflows', async () => {
  const items = recorded();
  expect(items.length).toBeGreaterThanOrEqual(Object.keys(runbookWorkflows).length);
  expect(await replay(items)).toEqual([]);
}, 300_000);

test('a history whose step the code no longer schedules fails replay, naming the runbook and what differs', async () => {
  const item = recorded().find((i) => i.r.runbook === 'database-backup' && i.r.scenario === 'succeeded');
  expect(item).toBeDefined();
  const history = decode(item!.r);
  const scheduled = history.events.find((e) => e.activityTaskScheduledEventAttributes);
  // As if the recorded run had been made by a version whose first step had another name.
  scheduled!.activityTaskScheduledEventAttributes!.activityType!.name = 'dumpDatabaseRenamed';
  const failures = await replay([{ ...item!, history }]);
  expect(failures).toHaveLength(1);
  expect(failures[0]).toMatch(/^database-backup \(succeeded, database-backup--succeeded\.json\): DeterminismViolationError: .*dumpDatabase/);
}, 120_000);
