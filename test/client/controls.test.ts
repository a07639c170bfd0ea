// Stuck-run controls through the CLI on the test stack: a waiting run cancelled (its own ending
// runs) and another terminated, each with who and why in its history and in `runbook audit`; a
// run that failed at a step (the conductor was down) retried from that step once the conductor is
// back, as a new run of the same workflow id that succeeds; a step name the run never had is
// refused with the steps it had. Where a retry starts is checked on a recorded history too.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { serviceControl } from '../../adapters/service-control';
import type { Alert } from '../../common/alerts';
import { resetPoint, runSteps } from '../../client/controls';
import type { AuditRow } from '../../client/audit';
import { projectRoot, testTaskQueue } from '../support/env';
import { runCli, temporalClient, testConfig, waitFor } from '../support/stack';

let client: Client;
let close: () => Promise<void>;
beforeAll(async () => ({ client, close } = await temporalClient()));
afterAll(async () => close());

const operator = { RUNBOOK_IDENTITY: 'oncall-ana' };

async function waitingAlert(id: string): Promise<void> {
  const alert: Alert = { fingerprint: id, name: 'HighMemoryUsage', status: 'firing', severity: 'warning', category: 'capacity', summary: 'memory high', labels: {}, startsAt: new Date().toISOString(), source: 'health-check' };
  await client.workflow.start('alertNotification', { taskQueue: testTaskQueue, workflowId: id, args: [{ alert, escalateAfterSeconds: [3600, 7200] }] });
  // Started and waiting (its first workflow task done).
  await waitFor(`${id} waiting`, async () => ((await client.workflow.getHandle(id).fetchHistory()).events ?? []).some((e) => e.workflowTaskCompletedEventAttributes));
}

async function auditOf(id: string): Promise<AuditRow> {
  const r = await runCli(['audit', '--runbook', 'alert-notification', '--json', '--limit', '50'], operator);
  const row = (JSON.parse(r.stdout) as AuditRow[]).find((x) => x.workflowId === id);
  if (!row) throw new Error(`${id} not in the audit: ${r.stdout.slice(0, 500)}`);
  return row;
}

test('cancel and terminate stop a waiting run, each recorded with who and why; a reason is required', async () => {
  const a = `controls-cancel-${Date.now()}`;
  const b = `controls-terminate-${Date.now()}`;
  await waitingAlert(a);
  await waitingAlert(b);

  const noReason = await runCli(['cancel', a], operator);
  expect(noReason.code).toBe(2);
  expect(noReason.stderr).toMatch(/--reason/);

  const c = await runCli(['cancel', a, '--reason', 'duplicate of an open incident'], operator);
  expect({ code: c.code, stderr: c.stderr }).toEqual({ code: 0, stderr: '' });
  expect(c.stdout).toMatch(new RegExp(`^cancellation requested by oncall-ana: ${a} \\(run [0-9a-f-]+\\): duplicate of an open incident`));
  const t = await runCli(['terminate', b, '--reason', 'stuck on a dead host'], operator);
  expect({ code: t.code, stderr: t.stderr }).toEqual({ code: 0, stderr: '' });

  await waitFor('both closed', async () => (await client.workflow.getHandle(a).describe()).status.name !== 'RUNNING' && (await client.workflow.getHandle(b).describe()).status.name === 'TERMINATED');
  expect(['CANCELLED', 'COMPLETED']).toContain((await client.workflow.getHandle(a).describe()).status.name);
  expect((await auditOf(a)).controls).toEqual([{ action: 'cancel', by: 'oncall-ana', reason: 'duplicate of an open incident', at: expect.any(String) }]);
  expect((await auditOf(b)).controls).toEqual([{ action: 'terminate', by: 'oncall-ana', reason: 'stuck on a dead host', at: expect.any(String) }]);
  const table = await runCli(['audit', '--runbook', 'alert-notification', '--limit', '50'], operator);
  expect(table.stdout).toMatch(/terminated by oncall-ana \(stuck on a dead host\)/);

  // A closed run: said, nothing sent.
  const again = await runCli(['terminate', b, '--reason', 'again'], operator);
  expect(again.code).toBe(2);
  expect(again.stderr).toMatch(/is not running \(terminated\): nothing to terminate/);
}, 120_000);

test('a run that failed at a step is retried from that step once the cause is fixed, as a new run that succeeds', async () => {
  const config = testConfig();
  const conductor = serviceControl(config.conductorService);
  await conductor.stop();
  let id: string;
  try {
    const failed = await runCli(['run', 'dht-export', '--wait', '--json'], operator);
    expect(failed.code).not.toBe(0);
    id = (/"workflowId":\s*"([^"]+)"/.exec(failed.stdout) ?? /(dht-export-[\w-]+)/.exec(failed.stderr) ?? [])[1]!;
    expect(id).toBeDefined();
    const unknown = await runCli(['retry', id, '--from-step', 'restoreEverything', '--reason', 'x'], operator);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--from-step: no step of this run is "restoreEverything"; expected one of: .*conductorLiveness/);
  } finally {
    await conductor.start();
  }
  const r = await runCli(['retry', id, '--from-step', 'conductorLiveness', '--reason', 'conductor restarted'], operator);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(/^retried by oncall-ana from conductorLiveness \(conductor liveness \(list_apps\)\)/);
  const handle = client.workflow.getHandle(id);
  const result = (await handle.result()) as { outcome: string; credits: number };
  expect(result.outcome).toBe('succeeded');
  expect(result.credits).toBeGreaterThan(0);
  const events = (await handle.fetchHistory()).events ?? [];
  // The new run kept the steps before the reset point and ran the liveness check again.
  expect(runSteps(events).map((s) => s.activity)).toEqual(expect.arrayContaining(['describeDhtTarget', 'conductorLiveness', 'exportDht']));
  const audit = await runCli(['audit', '--runbook', 'dht-export', '--json', '--limit', '20'], operator);
  const row = (JSON.parse(audit.stdout) as AuditRow[]).find((x) => x.workflowId === id && x.outcome === 'succeeded');
  expect(row?.controls).toEqual([{ action: 'reset', by: 'oncall-ana', reason: 'conductor restarted', at: expect.any(String) }]);
}, 180_000);

test("a retry starts at the workflow task that scheduled the step, or at the run's first one", () => {
  const recorded = JSON.parse(readFileSync(path.join(projectRoot, 'test', 'histories', 'restore-cluster--succeeded.json'), 'utf8')) as { history: string };
  const events = temporal.api.history.v1.History.decode(Buffer.from(recorded.history, 'base64')).events;
  const steps = runSteps(events);
  const copy = steps.find((s) => s.activity === 'restoreClusterCopy')!;
  const point = resetPoint(events, 'restoreClusterCopy');
  expect(point.eventId).toBe(copy.workflowTaskCompletedEventId);
  const at = events.find((e) => Number(e.eventId) === point.eventId)!;
  expect(at.eventType).toBe(temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  expect(point.eventId).toBeLessThan(copy.scheduledEventId);
  // Words of a step's summary find it too.
  expect(resetPoint(events, 'check').step).toMatch(/^\w+ \(.*check/i);
  const first = resetPoint(events);
  expect(first.step).toBe('the start');
  expect(first.eventId).toBe(Number(events.find((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)!.eventId));
});
