// The health checker (health-check with watch, what the schedule runs): one run that checks every
// interval and records only what changed. A breach starts its incident at once; while it lasts the
// repeats are coalesced (at most one per repeatSeconds, not one per check); the recovery resolves
// the incident; the run's history holds the changes, not the checks; a dead worker's checker goes
// on from its last heartbeat on another worker without raising the breach again.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { alertWorkflowId } from '../../common/alerts';
import { healthFingerprint } from '../../activities/health-check';
import { CreditsService, faultFile } from '../../sandbox/credits-service/service';
import { conductorClient } from '../../adapters/conductor';
import { testPorts, testRoot } from '../support/env';
import { pgUrl, temporalClient, testConfig, waitFor, withPg } from '../support/stack';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

const queue = `health-checker-${Date.now()}`;
// Checks every second; a breach that lasts repeats at most every 3 s.
const env = { RUNBOOK_SET_healthCheck__intervalSeconds: '1', RUNBOOK_SET_healthCheck__repeatSeconds: '3' };
let client: Client;
let close: () => Promise<void>;
const workers: WorkerProcess[] = [];
const dataDir = path.join(testRoot, 'credits-service-checker');
let service: CreditsService;

beforeAll(async () => {
  ({ client, close } = await temporalClient());
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  service = new CreditsService({ dataDir, port: testPorts.creditsService, pgUrl: pgUrl(), conductor: conductorClient(testConfig()), eventsPerSecond: 40, log: () => undefined });
  await service.start();
  workers.push(await startWorkerProcess({ taskQueue: queue, env }));
});
afterAll(async () => {
  // The workers first: a checker's step still running would see the stopped service and raise.
  for (const w of workers) await w.stop();
  await service.stop();
  await withPg('credits', (c) => c.query("UPDATE nodes SET healthy = (CASE WHEN node_id ~ '^node-[0-9]+$' THEN substr(node_id, 6)::int % 23 <> 0 ELSE true END)"));
  await close();
});

const fault = (...modes: string[]): void => writeFileSync(faultFile(dataDir), JSON.stringify({ modes, pid: process.pid }));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function historyCounts(handle: WorkflowHandle): Promise<{ events: number; activities: number }> {
  const events = (await handle.fetchHistory()).events ?? [];
  return { events: events.length, activities: events.filter((e) => e.activityTaskScheduledEventAttributes).length };
}

test('one run checks every second; a breach starts its incident once, repeats are coalesced, the recovery resolves it; the history holds the changes only', async () => {
  fault();
  const checker = await client.workflow.start('healthCheck', { taskQueue: queue, workflowId: `health-checker-test-${Date.now()}`, args: [{ trigger: 'schedule', watch: true }] });
  try {
    await sleep(4000); // about four healthy checks: nothing to record
    expect(await historyCounts(checker)).toMatchObject({ activities: 1 });

    fault('unhealthy');
    const incident = client.workflow.getHandle(alertWorkflowId(healthFingerprint('healthyNodeRatio')));
    await waitFor('the incident', async () => ((await incident.describe().catch(() => undefined))?.status.name === 'RUNNING' ? true : undefined), 20_000);
    const breachedAt = Date.now();
    await sleep(7000); // about seven checks while the breach lasts
    fault();
    const result = (await incident.result()) as { outcome: string; repeats: number };
    const breachS = (Date.now() - breachedAt) / 1000;
    expect(result.outcome).toBe('resolved');
    // One repeat per 3 s of the breach at most (one per check would be about seven).
    expect(result.repeats).toBeGreaterThanOrEqual(1);
    expect(result.repeats).toBeLessThanOrEqual(Math.ceil(breachS / 3));

    const progress = await waitFor('the recovery step', async () => {
      const p = await checker.query<{ steps: Array<{ step: string }> }>('progress');
      return p.steps.some((s) => s.step === 'recovery: KPI Healthy node %') ? p : undefined;
    }, 20_000);
    expect(progress.steps.map((s) => s.step)).toEqual(['checking', 'breach: KPI Healthy node %', 'recovery: KPI Healthy node %']);
    // Two changes, two reports back: three watch steps scheduled in about fifteen checks.
    const counts = await historyCounts(checker);
    expect(counts.activities).toBe(3);
    expect(counts.events).toBeLessThan(40);
    let runs = 0;
    for await (const w of client.workflow.list({ query: `WorkflowId = '${checker.workflowId}'` })) if (w) runs++;
    expect(runs).toBe(1);
    expect((await checker.describe()).status.name).toBe('RUNNING');
  } finally {
    fault();
    await checker.terminate('test done');
  }
}, 120_000);

test('a killed worker: the checker goes on from its last heartbeat on another worker, without raising the breach again', async () => {
  fault('unhealthy');
  const checker = await client.workflow.start('healthCheck', { taskQueue: queue, workflowId: `health-checker-kill-${Date.now()}`, args: [{ trigger: 'schedule', watch: true }] });
  const incident = client.workflow.getHandle(alertWorkflowId(healthFingerprint('healthyNodeRatio')));
  try {
    await waitFor('the breach step', async () => ((await checker.query<{ steps: Array<{ step: string }> }>('progress')).steps.length >= 2 ? true : undefined), 20_000);
    const incidentRun = (await incident.describe()).runId;
    await sleep(2500); // heartbeats of the next watch step, which knows of the breach
    await workers[0]!.stop('SIGKILL');
    workers.push(await startWorkerProcess({ taskQueue: queue, env }));
    fault();
    // The heartbeat timeout (30 s) passes, the watch step is retried on the new worker from its
    // last heartbeat: it sees the recovery and resolves the same incident.
    await waitFor('the recovery step', async () => ((await checker.query<{ steps: Array<{ step: string }> }>('progress')).steps.some((s) => s.step.startsWith('recovery')) ? true : undefined), 120_000);
    const steps = (await checker.query<{ steps: Array<{ step: string }> }>('progress')).steps.map((s) => s.step);
    expect(steps).toEqual(['checking', 'breach: KPI Healthy node %', 'recovery: KPI Healthy node %']);
    expect((await incident.describe()).runId).toBe(incidentRun);
    expect(((await incident.result()) as { outcome: string }).outcome).toBe('resolved');
  } finally {
    fault();
    await checker.terminate('test done');
  }
}, 180_000);
