// `runbook status`: the status report, the KPI tables, open incidents and the backup and export
// ages in one screen; an unreachable application is said plainly and exits 3 for scripts.
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { routeAlert } from '../../routing/alert-router';
import { alertWorkflowId } from '../../common/alerts';
import type { SystemStatus } from '../../client/status';
import { CreditsService } from '../../sandbox/credits-service/service';
import { conductorClient } from '../../adapters/conductor';
import { testPorts, testRoot } from '../support/env';
import { pgUrl, runCli, temporalClient, testConfig } from '../support/stack';

let client: Client;
let close: () => Promise<void>;
beforeAll(async () => ({ client, close } = await temporalClient()));
afterAll(async () => close());

test('an unreachable application: said plainly, KPIs unknown, exit 3', async () => {
  const r = await runCli(['status', '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(3);
  const s = JSON.parse(r.stdout) as SystemStatus;
  expect(s.statusReport).toMatchObject({ reachable: false, url: `http://127.0.0.1:${testPorts.creditsService}/status` });
  expect(s.kpis).toHaveLength(14);
  expect(s.kpis.find((k) => k.name === 'eventsPerMinute')!.level).toBe('unknown');
  expect(s.problems.join('\n')).toMatch(/memory: http:\/\/127\.0\.0\.1:29200\/metrics unreachable/);
  const text = await runCli(['status']);
  expect(text.stdout).toMatch(/^Status report {2}UNREACHABLE/);
});

test('a running system: report, KPIs with memory, an open incident, the latest backup age', async () => {
  const dataDir = path.join(testRoot, 'credits-service-status');
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const service = new CreditsService({ dataDir, port: testPorts.creditsService, pgUrl: pgUrl(), conductor: conductorClient(testConfig()), eventsPerSecond: 20, log: () => undefined });
  await service.start();
  const fingerprint = `status-test-${Date.now()}`;
  try {
    expect((await runCli(['run', 'database-backup', '--wait', '--json'])).code).toBe(0);
    const counters = { received: 0, started: 0, joined: 0, resolved: 0, rejected: 0 };
    await routeAlert(client, testConfig(), { fingerprint, name: 'HighErrorRate', status: 'firing', severity: 'critical', category: 'availability', summary: 'Error rate 9% is above 5%', labels: {}, startsAt: new Date().toISOString(), source: 'alertmanager' }, counters);
    await new Promise((r) => setTimeout(r, 1500));

    const r = await runCli(['status', '--json']);
    const s = JSON.parse(r.stdout) as SystemStatus;
    expect(s.statusReport.reachable).toBe(true);
    expect(['healthy', 'degraded', 'critical']).toContain(s.statusReport.systemStatus);
    expect(s.kpis.find((k) => k.name === 'memoryBytes')!.value).toBeGreaterThan(10 * 1024 * 1024);
    expect(s.kpis.find((k) => k.name === 'activeNodes')!.value).toBeGreaterThan(0);
    expect(s.incidents.map((i) => i.workflowId)).toContain(alertWorkflowId(fingerprint));
    expect(s.latestBackup!.ageSeconds).toBeLessThan(120);
    expect(s.latestBackup!.file).toMatch(/\.dump\.zst$/);

    const text = (await runCli(['status'])).stdout;
    expect(text).toMatch(/KPI\s+TABLE\s+VALUE\s+LEVEL\s+THRESHOLD/);
    expect(text).toMatch(/Memory usage\s+capacity\s+\d+\.\d MiB\s+ok/);
    expect(text).toMatch(new RegExp(`Open incidents \\(\\d+\\)[\\s\\S]*${alertWorkflowId(fingerprint)}\\s+alert-notification\\s+critical`));
    expect(text).toMatch(/Latest verified backup {2}\d+ s old/);
  } finally {
    await client.workflow.getHandle(alertWorkflowId(fingerprint)).signal('resolved', { fingerprint }).catch(() => undefined);
    await service.stop();
  }
});
