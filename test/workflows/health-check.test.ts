// The built-in health check, without Prometheus: a fault injected into the application makes a
// KPI breach start the routed runbook, further checks join that run instead of starting others,
// and the recovery resolves it. An unreachable status report is an alert too.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { alertWorkflowId } from '../../common/alerts';
import { healthFingerprint } from '../../activities/health-check';
import { CreditsService, faultFile } from '../../sandbox/credits-service/service';
import { conductorClient } from '../../adapters/conductor';
import { testPorts, testRoot, testTaskQueue } from '../support/env';
import { pgUrl, temporalClient, testConfig, withPg } from '../support/stack';

let client: Client;
let close: () => Promise<void>;
beforeAll(async () => ({ client, close } = await temporalClient()));
afterAll(async () => {
  await withPg('credits', (c) => c.query("UPDATE nodes SET healthy = (CASE WHEN node_id ~ '^node-[0-9]+$' THEN substr(node_id, 6)::int % 23 <> 0 ELSE true END)"));
  await close();
});

const check = (): Promise<{ reachable: boolean; breaches: Array<{ name: string }>; started: string[]; joined: string[]; resolved: string[] }> =>
  client.workflow.execute('healthCheck', { taskQueue: testTaskQueue, workflowId: `health-check-${Date.now()}`, args: [{ trigger: 'schedule' }] });

test('a breach starts one incident run, repeats join it, the recovery resolves it', async () => {
  const dataDir = path.join(testRoot, 'credits-service-health');
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const service = new CreditsService({ dataDir, port: testPorts.creditsService, pgUrl: pgUrl(), conductor: conductorClient(testConfig()), eventsPerSecond: 40, log: () => undefined });
  await service.start();
  try {
    await new Promise((r) => setTimeout(r, 1500));
    writeFileSync(faultFile(dataDir), JSON.stringify({ modes: ['unhealthy'], pid: process.pid }));
    await new Promise((r) => setTimeout(r, 1500));

    const first = await check();
    expect(first.breaches.map((b) => b.name)).toContain('healthyNodeRatio');
    expect(first.started).toContain('KPI Healthy node %');
    const second = await check();
    expect(second.joined).toContain('KPI Healthy node %');
    const incident = client.workflow.getHandle(alertWorkflowId(healthFingerprint('healthyNodeRatio')));
    expect((await incident.describe()).status.name).toBe('RUNNING');

    writeFileSync(faultFile(dataDir), JSON.stringify({ modes: [], pid: process.pid }));
    await new Promise((r) => setTimeout(r, 1500));
    const third = await check();
    expect(third.breaches.map((b) => b.name)).not.toContain('healthyNodeRatio');
    expect(third.resolved).toContain('KPI Healthy node %');
    const result = (await incident.result()) as { outcome: string; repeats: number };
    expect(result.outcome).toBe('resolved');
    expect(result.repeats).toBe(1); // the second check (the start is not a repeat)
  } finally {
    await service.stop();
  }
});

test('an unreachable status report raises CreditsServiceUnresponsive', async () => {
  const result = await check(); // nothing listens on the status port now
  expect(result.reachable).toBe(false);
  expect([...result.started, ...result.joined]).toContain('CreditsServiceUnresponsive');
  const incident = client.workflow.getHandle(alertWorkflowId(healthFingerprint('statusReport')));
  await incident.signal('resolved', { fingerprint: healthFingerprint('statusReport') });
  expect(((await incident.result()) as { outcome: string }).outcome).toBe('resolved');
});
