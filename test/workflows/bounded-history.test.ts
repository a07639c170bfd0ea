// Bounded histories: an alert repeats as a signal while it fires, so an incident or a notification
// that stays open for days would grow its history without end. Both continue as new before their
// bound, carrying their state: 20,000 repeats to one open incident are all counted, no run's
// history reaches the bound, and the post-mortem still tells the whole incident from its start.
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Alert } from '../../common/alerts';
import type { IncidentResult, IncidentState } from '../../common/incident';
import { serviceControl } from '../../adapters/service-control';
import { testTaskQueue } from '../support/env';
import { temporalClient, testConfig, waitFor } from '../support/stack';

const config = testConfig();
let client: Client;
let close: () => Promise<void>;
beforeAll(async () => ({ client, close } = await temporalClient()));
afterAll(async () => close());

const alert = (name: string, fingerprint: string): Alert => ({
  fingerprint,
  name,
  status: 'firing',
  severity: 'critical',
  category: 'availability',
  summary: `${name} for the bounded-history test`,
  labels: {},
  startsAt: new Date().toISOString(),
  source: 'health-check',
});

/** Sends `count` repeats in bursts of `burst` (8 at a time) with a short gap after each, as many
 * health checks and Alertmanager repeats would arrive, only much faster. The gaps matter:
 * Temporal does not let a run close (continue as new) while signals keep arriving during its
 * last workflow task, so an unbroken flood would defer the continue-as-new until it pauses. */
async function repeat(handle: WorkflowHandle, a: Alert, count: number, burst = 40): Promise<void> {
  for (let sent = 0; sent < count; ) {
    const n = Math.min(burst, count - sent);
    let left = n;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (left > 0) {
          left--;
          await handle.signal('alert', a);
        }
      }),
    );
    sent += n;
    await new Promise((r) => setTimeout(r, 30));
  }
}

/** Every run of a workflow id, oldest first, with its history length and how it closed. */
async function runsOf(workflowId: string): Promise<Array<{ runId: string; status: string; events: number }>> {
  const runs: Array<{ runId: string; status: string; events: number; start: number }> = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const history = await client.workflow.getHandle(workflowId, w.runId).fetchHistory();
    runs.push({ runId: w.runId, status: w.status.name, events: history.events?.length ?? 0, start: w.startTime.getTime() });
  }
  return runs.sort((a, b) => a.start - b.start).map(({ start: _, ...r }) => r);
}

async function terminateIfRunning(handle: WorkflowHandle): Promise<void> {
  const d = await handle.describe().catch(() => undefined);
  if (d?.status.name === 'RUNNING') await handle.terminate('test cleanup: the test failed');
}

test('20,000 repeats to one open incident: every repeat counted, every run under the bound, the whole timeline in the post-mortem', async () => {
  const app = serviceControl(config.applicationService!);
  await app.start();
  await waitFor('the simulator', async () => (await fetch('http://127.0.0.1:29200/status').then((r) => r.ok).catch(() => false)) || undefined);
  const limit = 2000;
  const a = alert('CreditsServiceDown', `fp-bounded-${Date.now()}`);
  const workflowId = `incident-bounded-history-${Date.now()}`;
  // signalWithStart, as the receiver starts it: the starting alert is not a repeat.
  const handle = await client.workflow.signalWithStart('incidentSystemUnresponsive', {
    taskQueue: testTaskQueue,
    workflowId,
    args: [{ trigger: 'alert', alert: a, alertResolveWaitSeconds: 3600, historyEventLimit: limit }],
    signal: 'alert',
    signalArgs: [a],
  });
  try {
    await waitFor('the resolve wait', async () => ((await handle.query<{ step: string }>('progress')).step === 'waiting for the alert to resolve' ? true : undefined), 120_000);
    const opened = await handle.query<IncidentState>('incident');
    await repeat(handle, a, 20_000);
    const state = await waitFor('every repeat counted', async () => {
      const s = await handle.query<IncidentState>('incident');
      return s.repeats >= 20_000 ? s : undefined;
    }, 120_000);
    expect(state.repeats).toBe(20_000);
    // An acknowledgement after the runs changed is kept too.
    await handle.executeUpdate('acknowledge', { args: [{ by: 'frank' }] });
    await handle.signal('resolved', { ...a, status: 'resolved' });
    const r = (await handle.result()) as IncidentResult;

    const runs = await runsOf(workflowId);
    expect(runs.length).toBeGreaterThanOrEqual(10); // about 20,000 signal events over 2,000-event runs
    expect(runs.slice(0, -1).every((x) => x.status === 'CONTINUED_AS_NEW')).toBe(true);
    expect(runs[runs.length - 1]!.status).toBe('COMPLETED');
    const longest = Math.max(...runs.map((x) => x.events));
    expect(longest).toBeLessThan(limit);

    expect(r.outcome).toBe('resolved');
    expect(r.incident.repeats).toBe(20_000);
    expect(r.incident.continuedAsNew).toBe(runs.length - 1);
    expect(r.incident.startedAt).toBe(opened.startedAt);
    // The phases in order; not their times: a workflow task refused while repeats flood in is run
    // again at a later time (CI saw 'respond' 16 ms apart between a mid-run query and the result).
    expect(r.incident.phases.slice(0, opened.phases.length).map((p) => p.phase)).toEqual(opened.phases.map((p) => p.phase));
    expect(r.incident.escalations[0]).toMatchObject({ level: 1, reason: 'incident opened' });
    expect(r.incident.acknowledged?.by).toBe('frank');
    const md = r.postMortem!.markdown;
    expect(md).toContain('The alert repeated 20000 time(s)');
    expect(md).toContain(`continued as new ${runs.length - 1} time(s)`);
    expect(md).toMatch(/\| [^|]+ \| phase: detect \|/); // the first run's phases are in the timeline
    expect(md).toContain('Acknowledged by frank');
  } finally {
    await terminateIfRunning(handle);
    await app.stop();
  }
}, 600_000);

test('a notification that fires for long continues as new with its repeats and escalations; the configured delays are honoured', async () => {
  const a = alert('HighMemoryUsage', `fp-bounded-note-${Date.now()}`);
  const workflowId = `alert-bounded-history-${Date.now()}`;
  const handle = await client.workflow.signalWithStart('alertNotification', {
    taskQueue: testTaskQueue,
    workflowId,
    args: [{ trigger: 'alert', alert: a, escalateAfterSeconds: [2, 3600], historyEventLimit: 500 }],
    signal: 'alert',
    signalArgs: [a],
  });
  try {
    await waitFor('level 2', async () => ((await handle.query<{ step: string }>('progress')).step === 'escalation level 2' ? true : undefined), 30_000);
    await repeat(handle, a, 3000, 20);
    await handle.signal('resolved', { ...a, status: 'resolved' });
    const r = (await handle.result()) as { repeats: number; escalations: Array<{ level: number }>; continuedAsNew?: number };
    const runs = await runsOf(workflowId);
    expect(runs.length).toBeGreaterThanOrEqual(6);
    expect(Math.max(...runs.map((x) => x.events))).toBeLessThan(500);
    expect(r.repeats).toBe(3000);
    expect(r.escalations.map((e) => e.level)).toEqual([1, 2]); // level 3 (after an hour) not reached, none repeated
    expect(r.continuedAsNew).toBe(runs.length - 1);
  } finally {
    await terminateIfRunning(handle);
  }
}, 300_000);
