// The troubleshooting guide's runbooks: each gathers its checks and reports findings with the
// guide's candidate solutions (those the checks point to marked), as a Markdown report; the one
// action, restoring a node's reputation after a confirmed false positive, waits for an approval.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { TroubleshootingResult } from '../../workflows/troubleshooting';
import { serviceControl } from '../../adapters/service-control';
import { conductorClient } from '../../adapters/conductor';
import { appDataDir, projectRoot, testTaskQueue } from '../support/env';
import { decide, temporalClient, testConfig, waitFor, withPg } from '../support/stack';

const config = testConfig();
const app = serviceControl(config.applicationService!);
let client: Client;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ client, close } = await temporalClient());
  await app.start();
});
afterAll(async () => {
  execFileSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'sandbox', 'credits-service', 'cli.ts'), 'fault', '--data-dir', appDataDir, 'clear'], { cwd: projectRoot });
  await app.stop();
  await close();
});

let seq = 0;
const start = (type: string, input: object = {}) => client.workflow.start(type, { taskQueue: testTaskQueue, workflowId: `${type}-${Date.now()}-${seq++}`, args: [{ trigger: 'manual', ...input }] });
const run = async (type: string, input: object = {}): Promise<TroubleshootingResult> => (await start(type, input)).result() as Promise<TroubleshootingResult>;

test('high latency: resources, database, conductor and cache checks, the guide\'s four solutions', async () => {
  const r = await run('troubleshootHighLatency');
  expect(r.outcome).toBe('succeeded');
  expect(r.findings.join('\n')).toMatch(/status report: average \d+ ms, p99 \d+ ms[\s\S]*system resources( of host \S+ \([a-z, ]+\))?: load[\s\S]*database: \d+ queries running longer than 1 s; buffer cache hit ratio 0?\.\d+[\s\S]*conductor round trip \(list_apps\): \d+ ms/);
  expect(r.facts.cacheHitRatio).toBeGreaterThan(0);
  expect(r.solutions.map((s) => s.key)).toEqual(['optimize-queries', 'increase-cache', 'add-indexes', 'scale-horizontally']);
  expect(readFileSync(r.report.path, 'utf8')).toBe(r.report.markdown);
  expect(r.report.markdown).toMatch(/## Candidate solutions \(from the troubleshooting guide\)/);
});

test('memory growth: sampled over time; a growing application is pointed at the metrics window', async () => {
  // The fault grows the application's memory once, so it must land after the first sample and
  // well before the last: inject it once the sampling activity runs (its first sample is at once),
  // with 8 s of sampling left for the fault CLI to start on a loaded machine.
  const h = await start('troubleshootMemoryGrowth', { samples: 5, intervalSeconds: 2 });
  await waitFor('the sampling activity to start', async () =>
    ((await h.describe()).raw.pendingActivities ?? []).some((a) => a.activityType?.name === 'memoryGrowthChecks' && a.lastStartedTime),
  );
  await new Promise((r) => setTimeout(r, 300));
  execFileSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'sandbox', 'credits-service', 'cli.ts'), 'fault', '--data-dir', appDataDir, 'memory'], { cwd: projectRoot });
  const r = (await h.result()) as TroubleshootingResult;
  expect(r.facts.samples).toBe(5);
  expect(r.facts.growthBytesPerMinute).toBeGreaterThan(100 * 1024 * 1024);
  expect(r.solutions.filter((s) => s.indicated).map((s) => s.key)).toEqual(['reduce-window', 'clear-old-metrics']);
  expect(r.findings[2]).toMatch(/^database connections: \d+ /);
});

test('conductor connection: a stopped conductor is reported with the port refused and its log', async () => {
  const conductor = serviceControl(config.conductorService);
  await conductor.stop();
  try {
    const r = await run('troubleshootConductorConnection');
    expect(r.facts).toMatchObject({ alive: false, tcp: false });
    expect(r.findings.join('\n')).toMatch(/conductor does not answer[\s\S]*refuses or drops connections: ECONNREFUSED[\s\S]*firewall: [\s\S]*last lines of .*conductor\.log/);
    expect(r.solutions.filter((s) => s.indicated).map((s) => s.key)).toEqual(['restart-conductor', 'check-logs']);
  } finally {
    await conductor.start();
    const c = conductorClient(config);
    await c.ensureApp();
    await c.close();
  }
  const ok = await run('troubleshootConductorConnection');
  expect(ok.facts).toMatchObject({ alive: true, tcp: true });
  expect(ok.solutions.filter((s) => s.indicated)).toEqual([]);
});

describe('unexpected detections', () => {
  const node = `node-9${Date.now() % 100000}`; // numeric like the seeded ones: the simulator's faults parse it
  beforeAll(async () => {
    await withPg('credits', async (c) => {
      await c.query(`INSERT INTO nodes (node_id, reputation, is_validator, healthy, joined_at, last_seen_at) VALUES ($1, 'critical', false, true, now(), now())`, [node]);
      for (let i = 0; i < 5; i++) {
        await c.query(`INSERT INTO credits (credit_id, holder, amount, event_type, earned_from, pogq_score, verifiers, response_ms) VALUES ($1, $2, 85, 'quality_gradient', 'r', 0.85, '{}', 100)`, [`${node}-c${i}`, node]);
      }
      await c.query(`INSERT INTO byzantine_detections (detector_id, detected_id, evidence, detected_at) VALUES ('node-0005', $1, '{"pogq_score": 0.31, "anomaly": "gradient-divergence"}', now())`, [node]);
    });
  });
  const reputation = (): Promise<string> => withPg('credits', async (c) => (await c.query('SELECT reputation::text AS r FROM nodes WHERE node_id = $1', [node])).rows[0].r);

  test('a confirmed false positive: dry-run plans, a rejection changes nothing, an approval restores', async () => {
    const dry = await run('troubleshootUnexpectedDetections', { nodeId: node, dryRun: true });
    expect(dry.outcome).toBe('dry-run');
    expect(dry.facts).toMatchObject({ likelyFalsePositive: true, distinctValidators: 1, avgPogq: 0.85 });
    expect(dry.action).toBe(`plan: restore the reputation of ${node} from critical to normal (after an approval)`);
    expect(await reputation()).toBe('critical');

    const rejected = await start('troubleshootUnexpectedDetections', { nodeId: node });
    await waitFor('the approval wait', async () => (await rejected.query<{ awaitingApproval: boolean }>('progress')).awaitingApproval || undefined);
    await decide(rejected, 'frank', { approved: false });
    expect(((await rejected.result()) as TroubleshootingResult).outcome).toBe('rejected');
    expect(await reputation()).toBe('critical');

    const approved = await start('troubleshootUnexpectedDetections', { nodeId: node });
    await waitFor('the approval wait', async () => (await approved.query<{ awaitingApproval: boolean }>('progress')).awaitingApproval || undefined);
    await decide(approved, 'grace');
    const r = (await approved.result()) as TroubleshootingResult;
    expect(r.outcome).toBe('succeeded');
    expect(r.action).toMatch(/done \(approved by grace\)/);
    expect(await reputation()).toBe('normal');
    const audit = await withPg('credits', async (c) => (await c.query(`SELECT actor, details FROM audit_trail WHERE action = 'reputation-restored' AND details->>'node' = $1`, [node])).rows);
    expect(audit).toEqual([{ actor: 'runbook (approved by grace)', details: { node, from: 'critical', to: 'normal' } }]);
  });
});
