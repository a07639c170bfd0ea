// alert-notification: an alert without an automatic runbook escalates along the runbook's path
// while it fires (level 1 at once, level 2 later, level 3 for critical alerts only), with the
// durations configurable, and stops escalating once resolved.
import type { Client } from '@temporalio/client';
import type { Alert } from '../../common/alerts';
import { testTaskQueue } from '../support/env';
import { alertRunId, routeAlert } from '../../routing/alert-router';
import { temporalClient, testConfig } from '../support/stack';

let client: Client;
let close: () => Promise<void>;
beforeAll(async () => ({ client, close } = await temporalClient()));
afterAll(async () => close());

const alert = (severity: Alert['severity'], fingerprint: string): Alert => ({
  fingerprint,
  name: 'LowHealthyNodePercentage',
  status: 'firing',
  severity,
  category: 'availability',
  summary: 'Only 80% of active nodes are healthy',
  labels: {},
  startsAt: new Date().toISOString(),
  source: 'health-check',
});

async function escalate(severity: Alert['severity'], waitMs: number): Promise<number[]> {
  const fp = `esc-${severity}-${Date.now()}`;
  const handle = await client.workflow.start('alertNotification', {
    taskQueue: testTaskQueue,
    workflowId: `alert-${fp}`,
    args: [{ alert: alert(severity, fp), escalateAfterSeconds: [1, 2] }],
  });
  await new Promise((r) => setTimeout(r, waitMs));
  await handle.signal('resolved', { ...alert(severity, fp), status: 'resolved' });
  const result = (await handle.result()) as { escalations: Array<{ level: number }> };
  return result.escalations.map((e) => e.level);
}

test('an unanswered critical alert escalates level by level', async () => {
  expect(await escalate('critical', 3500)).toEqual([1, 2, 3]);
});

test('a warning stops at level 2; a resolution before an escalation prevents it', async () => {
  expect(await escalate('warning', 3500)).toEqual([1, 2]);
  expect(await escalate('critical', 300)).toEqual([1]);
});

test('an INFO alert is notified and never escalated, however long it fires', async () => {
  expect(await escalate('info', 3500)).toEqual([1]);
});

test('an alert routed to a notification escalates on the configured delays', async () => {
  const base = testConfig();
  const config = { ...base, escalation: { ...base.escalation, level2AfterSeconds: 1, level3AfterSeconds: 2 } };
  const fp = `esc-configured-${Date.now()}`;
  const counters = { received: 0, started: 0, joined: 0, resolved: 0, rejected: 0 };
  expect(await routeAlert(client, config, alert('critical', fp), counters)).toBe('started');
  const handle = client.workflow.getHandle(alertRunId(config, { name: 'LowHealthyNodePercentage', fingerprint: fp }));
  await new Promise((r) => setTimeout(r, 3500));
  expect(await routeAlert(client, config, { ...alert('critical', fp), status: 'resolved' }, counters)).toBe('resolved');
  const result = (await handle.result()) as { escalations: Array<{ level: number }>; repeats: number };
  // With the defaults (an hour, four hours) only level 1 would have been notified.
  expect(result.escalations.map((e) => e.level)).toEqual([1, 2, 3]);
  expect(result.repeats).toBe(0);
});
