// The credits-service simulator: it issues credits through the conductor and into PostgreSQL by
// the original rules, serves the status report and Prometheus metrics, and each injected fault
// shows in the figures the runbook's KPIs read.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { evaluateKpis, figuresFromStatusReport, type StatusReport } from '../../common/kpi';
import { CreditsService, faultFile, baseCredits, type FaultMode } from '../../sandbox/credits-service/service';
import { clearCorruption, corruptDht, corruptRows } from '../../sandbox/credits-service/corruption';
import { conductorClient } from '../../adapters/conductor';
import { testRoot } from '../support/env';
import { pgUrl, testConfig, withPg } from '../support/stack';

let port = 29100;

async function withService<T>(faults: FaultMode[], body: (s: CreditsService, url: string) => Promise<T>, delayMs?: number): Promise<T> {
  const dataDir = path.join(testRoot, `credits-service-${port}`);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  if (faults.length) writeFileSync(faultFile(dataDir), JSON.stringify({ modes: faults, delayMs, pid: process.pid }));
  const service = new CreditsService({ dataDir, port, pgUrl: pgUrl(), conductor: conductorClient(testConfig()), eventsPerSecond: 50, log: () => undefined });
  const url = `http://127.0.0.1:${port++}`;
  await service.start();
  try {
    return await body(service, url);
  } finally {
    await service.stop();
    // "blind" leaves its bad threshold in the settings (it outlives the process, by design).
    await withPg('credits', (c) => c.query(`UPDATE detection_settings SET value = 0.5, updated_by = 'test' WHERE key = 'pogq_threshold'`));
    await withPg('credits', (c) => c.query("UPDATE nodes SET healthy = (CASE WHEN node_id ~ '^node-[0-9]+$' THEN substr(node_id, 6)::int % 23 <> 0 ELSE true END)"));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const status = async (url: string): Promise<StatusReport> => (await fetch(`${url}/status`)).json() as Promise<StatusReport>;
const level = (r: StatusReport, name: string): string | undefined => evaluateKpis(figuresFromStatusReport(r)).find((k) => k.name === name)?.level;

test('credits follow the original rules', () => {
  expect(baseCredits('quality_gradient', 0.85)).toBe(85);
  expect(baseCredits('byzantine_detection', 0.9)).toBe(50);
  expect(baseCredits('peer_validation', 0.9)).toBe(10);
  expect(baseCredits('network_contribution', 0.9)).toBe(1);
});

test('a healthy service issues credits into the DHT and the database, and reports them', async () => {
  const before = await withPg('credits', async (c) => Number((await c.query('SELECT count(*) AS n FROM credits')).rows[0].n));
  await withService([], async (s, url) => {
    await sleep(2500);
    const r = await status(url);
    expect(r.system_status).toBe('healthy');
    expect(r.metrics.throughput.events_per_minute).toBeGreaterThan(20);
    expect(r.metrics.security.detection_rate).toBeGreaterThan(0.85);
    expect(Object.keys(r.metrics)).toEqual(['throughput', 'performance', 'security', 'health']);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    for (const name of ['zerotrustml_credits_issued_total', 'zerotrustml_response_time_seconds_bucket', 'zerotrustml_byzantine_detections_total', 'zerotrustml_active_nodes', 'zerotrustml_healthy_nodes', 'zerotrustml_error_rate', 'zerotrustml_byzantine_detection_rate', 'zerotrustml_rate_limit_violations_total', 'zerotrustml_memory_usage_bytes']) {
      expect(metrics).toContain(name);
    }
    expect(s.totals.events).toBeGreaterThan(20);
  });
  const after = await withPg('credits', async (c) => Number((await c.query('SELECT count(*) AS n FROM credits')).rows[0].n));
  expect(after).toBeGreaterThan(before + 20);
  // Each credit in the database carries the id the conductor gave it.
  const c = conductorClient(testConfig());
  const lastId = await withPg('credits', async (pg) => (await pg.query('SELECT credit_id FROM credits ORDER BY id DESC LIMIT 1')).rows[0].credit_id as string);
  const page = await c.getAllCredits(undefined, 10_000);
  let found = page.credits.some((x) => x.credit_id === lastId);
  for (let next = page.next; !found && next; ) {
    const p = await c.getAllCredits(next, 10_000);
    found = p.credits.some((x) => x.credit_id === lastId);
    next = p.next;
  }
  await c.close();
  expect(found).toBe(true);
});

test.each([
  ['blind', 'detectionRate', 'critical'],
  ['errors', 'errorRate', 'critical'],
  ['unhealthy', 'healthyNodeRatio', 'critical'],
  ['ratelimit', 'rateLimitViolationsPerHour', 'critical'],
] as const)('fault %s shows as %s %s', async (fault, kpi, expected) => {
  await withService([fault], async (_s, url) => {
    await sleep(2500);
    expect(level(await status(url), kpi)).toBe(expected);
  });
});

test('fault slow raises the response times past the runbook thresholds', async () => {
  await withService(['slow'], async (_s, url) => {
    await sleep(4500);
    expect(level(await status(url), 'avgResponseMs')).toBe('warning');
  }, 3500);
});

test('fault hang: the service stops answering', async () => {
  await withService(['hang'], async (_s, url) => {
    await sleep(300);
    await expect(fetch(`${url}/status`, { signal: AbortSignal.timeout(1000) })).rejects.toThrow();
  });
});

describe('data faults', () => {
  const dataDir = path.join(testRoot, 'credits-service-corruption');
  const creditsHash = (): Promise<string> => withPg('credits', async (c) => (await c.query<{ h: string }>(`SELECT md5(string_agg(x::text, E'\\n' ORDER BY x.id)) AS h FROM credits x`)).rows[0]!.h);
  const dbRow = (id: string): Promise<{ amount: string } | undefined> => withPg('credits', async (c) => (await c.query<{ amount: string }>('SELECT amount::text FROM credits WHERE credit_id = $1', [id])).rows[0]);

  beforeEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
  });

  test('corrupt-rows makes the database disagree with the DHT per credit id; clear puts every row back', async () => {
    const before = await creditsHash();
    const conductor = conductorClient(testConfig());
    try {
      const done = (await withPg('credits', (c) => corruptRows(c, conductor, dataDir, 3)))!;
      expect(done.changed).toHaveLength(3);
      expect(done.deleted).toHaveLength(3);
      const inDht = new Map((await conductor.getAllCredits(undefined, 10_000)).credits.map((c) => [c.credit_id, c.amount]));
      for (const r of done.changed) {
        expect(Number((await dbRow(r.credit_id))!.amount)).toBe(Number(r.amount) + 1000);
        expect(inDht.get(r.credit_id)).toBe(Number(r.amount));
      }
      for (const r of done.deleted) {
        expect(await dbRow(r.credit_id)).toBeUndefined();
        expect(inDht.has(r.credit_id)).toBe(true);
      }
      expect(await creditsHash()).not.toBe(before);
      await expect(withPg('credits', (c) => corruptRows(c, conductor, dataDir, 3))).rejects.toThrow(/already corrupted/);
      expect(await withPg('credits', (c) => clearCorruption(c, dataDir))).toEqual(['rows: 3 amounts put back, 3 rows reinserted']);
      expect(await creditsHash()).toBe(before);
    } finally {
      await conductor.close();
    }
  });

  test('corrupt-dht hides credits from the DHT view until a gossip round; clear brings them back', async () => {
    const config = testConfig();
    const conductor = conductorClient(config);
    const ids = async (): Promise<Set<string>> => new Set((await conductor.getAllCredits(undefined, 10_000)).credits.map((c) => c.credit_id));
    try {
      const before = await ids();
      const { lost } = (await corruptDht(conductor, config.conductorDataDir, dataDir, 2))!;
      const during = await ids();
      for (const id of lost) {
        expect(before.has(id)).toBe(true);
        expect(during.has(id)).toBe(false);
        expect(await dbRow(id)).toBeDefined();
      }
      expect(during.size).toBe(before.size - 2);
      const gossip = await conductor.triggerGossip();
      expect(gossip.resynced).toBe(2);
      expect((await ids()).size).toBe(before.size);
      await withPg('credits', (c) => clearCorruption(c, dataDir));
      await corruptDht(conductor, config.conductorDataDir, dataDir, 2);
      expect((await ids()).size).toBe(before.size - 2);
      await withPg('credits', (c) => clearCorruption(c, dataDir));
      expect((await ids()).size).toBe(before.size);
    } finally {
      await conductor.close();
    }
  });
});
