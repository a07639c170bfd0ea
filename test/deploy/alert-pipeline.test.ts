// End to end with the real Prometheus and Alertmanager (Debian packages) on loopback: the
// simulator is scraped, a fault makes a rule fire, Alertmanager posts to the receiver, the
// receiver starts the routed runbook, and while Alertmanager keeps repeating the alert exactly
// one run exists; the recovery resolves it. The Grafana dashboard's queries run here too.
import { mkdirSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { alertWorkflowId } from '../../common/alerts';
import { createReceiver, type ReceiverCounters } from '../../client/receiver';
import { automationQueries, kpiQueries } from '../../deploy/grafana/dashboard';
import { CreditsService } from '../../sandbox/credits-service/service';
import { startMonitoring, stopMonitoring } from '../../sandbox/monitoring';
import { conductorClient } from '../../adapters/conductor';
import { fastAlerting, testRoot } from '../support/env';
import { pgUrl, temporalClient, testConfig } from '../support/stack';

const dataDir = path.join(testRoot, 'alert-pipeline');
const ports = { service: 29201, prometheus: 29090, alertmanager: 29095 };
const token = 'alert-pipeline-token-0123456789';
let client: Client;
let close: () => Promise<void>;
let receiver: Server;
let counters: ReceiverCounters;
let prometheusUrl: string;
let alertmanagerUrl: string;
let service: CreditsService | undefined;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function newService(): CreditsService {
  return new CreditsService({ dataDir, port: ports.service, pgUrl: pgUrl(), conductor: conductorClient(testConfig()), eventsPerSecond: 20, log: () => undefined });
}

async function query(expr: string): Promise<{ status: string; data: { result: Array<{ value: [number, string] }> }; error?: string }> {
  return (await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`)).json() as never;
}

beforeAll(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  ({ client, close } = await temporalClient());
  const config = { ...testConfig(), receiver: { ...testConfig().receiver, routes: { CreditsServiceDown: 'alert-notification' } } };
  ({ server: receiver, counters } = createReceiver(client, config, token));
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  service = newService();
  await service.start();
  ({ prometheusUrl, alertmanagerUrl } = await startMonitoring({
    dataDir,
    prometheusPort: ports.prometheus,
    alertmanagerPort: ports.alertmanager,
    scrapeTarget: `127.0.0.1:${ports.service}`,
    receiverUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alertmanager`,
    token,
    ...fastAlerting,
  }));
});

afterAll(async () => {
  await stopMonitoring(dataDir);
  await service?.stop();
  receiver.close();
  await close();
});

test('every Grafana dashboard query is valid PromQL on the live metrics', async () => {
  await until('the first scrape', async () => ((await query('up{job="zerotrustml-credits"}')).data.result[0]?.value[1] === '1' ? true : undefined));
  for (const [name, q] of [...Object.entries(kpiQueries), ...automationQueries.map((a): [string, { expr: string }] => [a.title, a])]) {
    const r = await query(q.expr);
    expect({ name, status: r.status, error: r.error }).toEqual({ name, status: 'success', error: undefined });
  }
  // Metrics the simulator exports come back with values.
  expect(Number((await query(kpiQueries.activeNodes.expr)).data.result[0]?.value[1])).toBeGreaterThan(0);
});

test('a crashed service fires CreditsServiceDown: one run while the alert repeats, resolved on recovery', async () => {
  await until('the first scrape', async () => ((await query('up{job="zerotrustml-credits"}')).data.result[0]?.value[1] === '1' ? true : undefined));
  const before = { ...counters };
  await service!.stop();
  service = undefined;

  const fingerprint = await until('Alertmanager to hold CreditsServiceDown', async () => {
    const alerts = (await (await fetch(`${alertmanagerUrl}/api/v2/alerts?filter=alertname%3D%22CreditsServiceDown%22`)).json()) as Array<{ fingerprint: string }>;
    return alerts[0]?.fingerprint;
  });
  const handle = client.workflow.getHandle(alertWorkflowId(fingerprint));
  const started = await until('the receiver to start the run', async () => ((await handle.describe()).status.name === 'RUNNING' ? true : undefined));
  expect(started).toBe(true);
  const desc = await handle.describe();
  expect(desc.searchAttributes.RunbookName).toEqual(['alert-notification']);

  // Alertmanager re-sends every 2 s while the alert fires: the repeats join the run.
  await until('repeats joining the run', async () => (counters.joined - before.joined >= 2 ? true : undefined), 30_000);
  expect(counters.started - before.started).toBe(1);
  expect(counters.rejected - before.rejected).toBe(0);
  let runs = 0;
  for await (const w of client.workflow.list({ query: `WorkflowId = "${alertWorkflowId(fingerprint)}"` })) if (w) runs++;
  expect(runs).toBe(1);
  expect((await handle.describe()).runId).toBe(desc.runId);

  service = newService();
  await service.start();
  const result = (await handle.result()) as { outcome: string; repeats: number };
  expect(result.outcome).toBe('resolved');
  expect(result.repeats).toBeGreaterThanOrEqual(2); // the re-sends (the starting alert is not a repeat)
});
