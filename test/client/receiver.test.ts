// The Alertmanager receiver: unauthenticated, malformed and oversized payloads are refused and
// start nothing; a firing alert starts one run, its repeats join that run (a storm included),
// and a resolved notification ends it.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Client } from '@temporalio/client';
import { alertWorkflowId } from '../../common/alerts';
import { createReceiver, type ReceiverCounters } from '../../client/receiver';
import { temporalClient, testConfig } from '../support/stack';

const token = 'test-receiver-token-0123456789';
let client: Client;
let close: () => Promise<void>;
let server: Server;
let counters: ReceiverCounters;
let url: string;

beforeAll(async () => {
  ({ client, close } = await temporalClient());
  ({ server, counters } = createReceiver(client, testConfig(), token));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alertmanager`;
});
afterAll(async () => {
  server.close();
  await close();
});

function payload(fingerprint: string, status: 'firing' | 'resolved', name = 'LowDetectionRate'): object {
  return {
    version: '4',
    status,
    receiver: 'runbooks',
    alerts: [{ status, fingerprint, startsAt: new Date().toISOString(), labels: { alertname: name, severity: 'warning', category: 'security' }, annotations: { summary: 'Byzantine detection rate 80% is below 90%' } }],
  };
}

const post = (body: unknown, auth = `Bearer ${token}`): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

async function runsFor(fingerprint: string): Promise<number> {
  let n = 0;
  for await (const w of client.workflow.list({ query: `WorkflowId = "${alertWorkflowId(fingerprint)}"` })) if (w) n++;
  return n;
}

test('unauthenticated, malformed and oversized payloads are refused and start nothing', async () => {
  const before = { ...counters };
  expect((await post(payload('fp-refused-1', 'firing'), 'Bearer wrong-token-wrong-token-xx')).status).toBe(401);
  expect((await post(payload('fp-refused-1', 'firing'), '')).status).toBe(401);
  const bad = await post('{not json');
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: string }).error).toMatch(/expected JSON/);
  const v3 = await post({ ...payload('fp-refused-1', 'firing'), version: '3' });
  expect(v3.status).toBe(400);
  expect(((await v3.json()) as { error: string }).error).toMatch(/expected webhook version "4", found "3"/);
  const noName = await post({ version: '4', alerts: [{ status: 'firing', fingerprint: 'fp-refused-1', labels: {} }] });
  expect(((await noName.json()) as { error: string }).error).toMatch(/alerts\[0\]\.labels\.alertname: expected a name/);
  expect((await post({ version: '4', alerts: [], padding: 'x'.repeat(2 * 1024 * 1024) })).status).toBe(413);
  expect(counters.rejected - before.rejected).toBe(6);
  expect(counters.started).toBe(before.started);
  expect(await runsFor('fp-refused-1')).toBe(0);
});

test('a firing alert starts one run; 1,000 repeats join it; resolved ends it', async () => {
  const fp = `fp${Date.now()}`;
  const first = await post(payload(fp, 'firing'));
  expect(await first.json()).toEqual({ outcomes: ['started'] });
  const repeats = await Promise.all(Array.from({ length: 1000 }, () => post(payload(fp, 'firing')).then((r) => r.status)));
  expect(repeats.every((s) => s === 200)).toBe(true);
  expect(counters.joined).toBeGreaterThanOrEqual(1000);
  const handle = client.workflow.getHandle(alertWorkflowId(fp));
  const d = await handle.describe();
  expect(d.status.name).toBe('RUNNING');
  expect(d.searchAttributes.IncidentId).toEqual([fp]);
  expect(d.searchAttributes.RunbookName).toEqual(['alert-notification']);

  expect(await (await post(payload(fp, 'resolved'))).json()).toEqual({ outcomes: ['resolved'] });
  const result = (await handle.result()) as { outcome: string; repeats: number; escalations: Array<{ level: number }> };
  expect(result.outcome).toBe('resolved');
  expect(result.repeats).toBe(1000); // the 1,000 repeats (the starting signal is not one)
  expect(result.escalations.map((e) => e.level)).toEqual([1]);
  expect(await runsFor(fp)).toBe(1);
});

test('hostile alerts: a path as fingerprint is refused naming the field; oversized text is cut to its bound, not lost', async () => {
  const bad = await post({ version: '4', alerts: [{ status: 'firing', fingerprint: '../../etc/passwd', labels: { alertname: 'X' } }] });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: string }).error).toMatch(/alerts\[0\]\.fingerprint: expected up to 64 letters and digits, found "\.\.\/\.\.\/etc\/passwd"/);
  const fp = `fplong${Date.now()}`;
  const long = await post({
    version: '4',
    alerts: [{ status: 'firing', fingerprint: fp, startsAt: 'not a time', labels: { alertname: 'A'.repeat(500), severity: 'catastrophic', huge: 'x'.repeat(50_000) }, annotations: { summary: 's'.repeat(10_000) } }],
  });
  expect(await long.json()).toEqual({ outcomes: ['started'] });
  const handle = client.workflow.getHandle(alertWorkflowId(fp));
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
  const alert = (JSON.parse(Buffer.from(started!).toString()) as { alert: { name: string; summary: string; severity: string; labels: Record<string, string> } }).alert;
  expect(alert.name.length).toBeLessThanOrEqual(200);
  expect(alert.summary.length).toBeLessThanOrEqual(2000);
  expect(alert.severity).toBe('warning'); // an unknown severity is read as warning
  expect(alert.labels.huge!.length).toBeLessThanOrEqual(1000);
  await post({ version: '4', alerts: [{ status: 'resolved', fingerprint: fp, labels: { alertname: 'A'.repeat(500) } }] });
  expect(((await handle.result()) as { outcome: string }).outcome).toBe('resolved');
});

test("/metrics serves the alert counters and the automation's own figures: a runbook's last success, its last run failed, open incidents", async () => {
  const ok = await client.workflow.execute('configBackup', { taskQueue: testConfig().temporal.taskQueue, workflowId: `metrics-config-backup-${Date.now()}`, args: [{ trigger: 'manual' }] });
  expect(ok).toMatchObject({ outcome: 'succeeded' });
  // A run that fails (its input is refused inside the workflow): the newest closed database-backup.
  const bad = client.workflow.start('databaseBackup', { taskQueue: testConfig().temporal.taskQueue, workflowId: `metrics-database-backup-${Date.now()}`, args: [{ trigger: 'manual', key: '../../etc' }] });
  await expect((await bad).result()).rejects.toThrow();
  const text = await (await fetch(url.replace('/alertmanager', '/metrics'))).text();
  const value = (name: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  };
  expect(value('runbook_receiver_alerts_received_total')).toBeGreaterThan(0);
  expect(value('zerotrustml_automation_read_errors')).toBe(0);
  expect(Date.now() / 1000 - value('zerotrustml_runbook_last_success_timestamp_seconds{runbook="config-backup"}')!).toBeLessThan(120);
  expect(value('zerotrustml_runbook_last_run_failed{runbook="config-backup"}')).toBe(0);
  expect(value('zerotrustml_runbook_last_run_failed{runbook="database-backup"}')).toBe(1);
  expect(value('zerotrustml_runbook_failed_runs_24h{runbook="database-backup"}')).toBeGreaterThanOrEqual(1);
  expect(value('zerotrustml_incident_escalation_deadline_seconds')).toBe(testConfig().escalation.level3AfterSeconds);
  expect(text).toMatch(/^zerotrustml_incidents_open \d+$/m);
}, 120_000);
