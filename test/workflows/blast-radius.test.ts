// The blast radius of automatic remediation. One Alertmanager delivery of 20 HighErrorRate alerts
// (one per instance, 20 fingerprints) while the application hangs used to start 20 incident runs,
// each restarting the application: now they are one incident (the others join it) with one
// restart. And each service has a restart budget: past it the incident stops acting, escalates
// with the evidence, and the circuit breaker stays open until an operator resets it.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { alertRunId } from '../../routing/alert-router';
import { createReceiver } from '../../client/receiver';
import type { IncidentResult, IncidentState } from '../../common/incident';
import { serviceControl } from '../../adapters/service-control';
import { simulatorFault as fault } from '../support/env';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { runCli, temporalClient, testConfig, waitFor } from '../support/stack';

const config = testConfig();
const app = serviceControl(config.applicationService!);
let client: Client;
let close: () => Promise<void>;

async function appUp(): Promise<void> {
  await app.start();
  await waitFor('the simulator to answer', async () => (await fetch(config.application.statusUrl).then((r) => r.ok, () => false)) || undefined);
}

/** How many times a run's history scheduled an activity. */
async function scheduled(handle: WorkflowHandle, activity: string): Promise<number> {
  const events = (await handle.fetchHistory()).events ?? [];
  return events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity).length;
}

beforeAll(async () => {
  ({ client, close } = await temporalClient());
  await appUp();
});
afterAll(async () => {
  fault('clear');
  await app.stop();
  await close();
});

test('one delivery of 20 HighErrorRate alerts while the application hangs: one incident run, one restart', async () => {
  const token = 'blast-radius-token-0123456789';
  const routed = { ...config, receiver: { ...config.receiver, routes: { HighErrorRate: 'incident-system-unresponsive' } } };
  const { server } = createReceiver(client, routed, token);
  await new Promise<void>((r) => (server as Server).listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alertmanager`;
  const stamp = Date.now() % 100000;
  const post = (status: 'firing' | 'resolved'): Promise<Response> =>
    fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        version: '4',
        status,
        alerts: Array.from({ length: 20 }, (_, i) => ({
          status,
          fingerprint: `storm${String(i).padStart(2, '0')}x${stamp}`,
          startsAt: new Date().toISOString(),
          labels: { alertname: 'HighErrorRate', severity: 'critical', category: 'availability', instance: `app-${i}:8000` },
          annotations: { summary: `error rate 9% on app-${i}` },
        })),
      }),
    });
  try {
    const since = new Date(Date.now() - 1000).toISOString();
    fault('hang');
    const started = (await (await post('firing')).json()) as { outcomes: string[] };
    expect(started.outcomes.filter((o) => o === 'started')).toHaveLength(1);
    expect(started.outcomes.filter((o) => o === 'joined')).toHaveLength(19);
    const id = alertRunId(routed, { name: 'HighErrorRate', fingerprint: 'x' });
    const handle = client.workflow.getHandle(id);
    await waitFor('the verified recovery', async () => ((await handle.query<IncidentState>('incident')).recoveredAt ? true : undefined), 120_000);
    // The fingerprints of the first delivery were different; resolving them all closes the incident.
    const body = (await (await post('resolved')).json()) as { outcomes: string[] };
    expect(body.outcomes.every((o) => o === 'resolved')).toBe(true);
    const r = (await handle.result()) as IncidentResult;
    expect(r.outcome).toBe('resolved');
    expect(r.incident.joinedCount).toBe(19);
    expect(r.incident.actions.filter((a) => a.name === 'restart the application')).toHaveLength(1);
    expect(await scheduled(handle, 'restartService')).toBe(1);
    expect(r.postMortem!.markdown).toMatch(/19 other alert\(s\) of the same cause and target joined this incident/);
    let runs = 0;
    for await (const w of client.workflow.list({ query: `RunbookName = "incident-system-unresponsive" AND StartTime > "${since}"` })) if (w) runs++;
    expect(runs).toBe(1);
  } finally {
    fault('clear');
    server.close();
  }
}, 300_000);

describe('the restart budget and its circuit breaker', () => {
  const queue = 'runbooks-test-budget';
  let worker: WorkerProcess;
  const incident = async (): Promise<IncidentResult> =>
    (await client.workflow.execute('incidentSystemUnresponsive', { taskQueue: queue, workflowId: `budget-${Date.now()}`, args: [{ trigger: 'manual', severity: 'critical', escalateAfterSeconds: [3600, 7200] }] })) as IncidentResult;

  beforeAll(async () => {
    worker = await startWorkerProcess({ taskQueue: queue, env: { RUNBOOK_SET_remediation__restartBudget__max: '1' } });
    expect((await runCli(['breaker', 'reset', 'application', '--reason', 'test starts clean'], { RUNBOOK_IDENTITY: 'ops' })).code).toBe(0);
  });
  afterAll(async () => {
    await runCli(['breaker', 'reset', 'application', '--reason', 'test over'], { RUNBOOK_IDENTITY: 'ops' });
    await worker?.stop();
  });

  test('within the budget it restarts; past it the breaker opens and the incident escalates with the evidence; a reset by an operator closes it', async () => {
    await appUp();
    fault('hang');
    const first = await incident();
    expect(first.outcome).toBe('resolved');
    expect(first.incident.actions[0]).toMatchObject({ name: 'restart the application', outcome: 'succeeded' });

    fault('hang');
    const second = await incident();
    expect(second.outcome).toBe('escalated');
    expect(second.incident.actions[0]).toMatchObject({ name: 'restart application', outcome: 'skipped' });
    expect(second.incident.findings.join('\n')).toMatch(new RegExp(`the restart budget of application is spent \\(1 per 3600 s\\): .* by ${first.incident.workflowId}`));
    expect(second.incident.escalations.at(-1)!.reason).toMatch(/circuit breaker open for application/);
    expect(second.postMortem!.markdown).toMatch(/runbook breaker reset application --reason/);
    // The hung application was not restarted again.
    expect(await fetch(config.application.statusUrl, { signal: AbortSignal.timeout(1000) }).then(() => 'answered', () => 'hangs')).toBe('hangs');

    const status = await runCli(['breaker', 'status', 'application']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^application: OPEN since \S+: 1 automatic restarts of application within 3600 s \(budget 1\)/);
    const reset = await runCli(['breaker', 'reset', 'application', '--reason', 'the leak was fixed'], { RUNBOOK_IDENTITY: 'ops' });
    expect(reset.stdout).toMatch(/circuit breaker of application closed by ops: the leak was fixed/);
    expect((await runCli(['breaker', 'status', 'application'])).stdout).toMatch(/^application: closed; 0 restart\(s\) in the window\n[\s\S]*last reset .* by ops: the leak was fixed/);

    const third = await incident();
    expect(third.outcome).toBe('resolved');
  }, 300_000);
});
