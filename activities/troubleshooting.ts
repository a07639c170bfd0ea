// The checks of the runbook's troubleshooting guide, gathered by activities so an engineer gets
// them in one run instead of typing them one by one: high latency, memory growth, and connection
// failures to the conductor. (Unexpected detections use activities/byzantine.ts.)
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { StatusReport } from '../common/kpi';
import { runCommand } from '../adapters/process';
import type { ActivityDeps } from './deps';
import type { HostResources } from './incident';
import { metricsUrl, readStatusReport, sampleMemory } from './status-report';

export interface TroubleshootingChecks {
  findings: string[];
  /** Which of the guide's candidate solutions the checks point to (by their key). */
  indicated: string[];
  facts: Record<string, number | string | boolean | undefined>;
}

function tcpReachable(host: string, port: number, timeoutMs: number): Promise<{ ok: boolean; ms: number; error?: string }> {
  const t = Date.now();
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean, error?: string): void => {
      s.destroy();
      resolve({ ok, ms: Date.now() - t, error });
    };
    s.setTimeout(timeoutMs, () => done(false, `no answer within ${timeoutMs} ms`));
    s.once('connect', () => done(true));
    s.once('error', (e: NodeJS.ErrnoException) => done(false, e.code ?? e.message));
  });
}

export function createTroubleshootingActivities(deps: ActivityDeps) {
  const cfg = deps.config;

  const statusReport = async (): Promise<StatusReport | undefined> => (await readStatusReport(cfg)).report;

  /** With `hosts` (read on the application's and the database's hosts), their load is judged;
   * without, this worker's own (one host runs everything). */
  async function highLatencyChecks(input: { hosts?: HostResources[] } = {}): Promise<TroubleshootingChecks> {
    const report = await statusReport();
    const hosts = input.hosts?.length ? input.hosts : undefined;
    const load = hosts ? Math.max(...hosts.map((h) => h.load1PerCpu)) : os.loadavg()[0]! / os.cpus().length;
    const db = await deps.postgres.withClient(undefined, async (c) => {
      const slow = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND now() - query_start > interval '1 second' AND pid <> pg_backend_pid()`)).rows[0]!.n);
      const hit = (await c.query<{ r: number | null }>(`SELECT sum(blks_hit)::float8 / nullif(sum(blks_hit) + sum(blks_read), 0) AS r FROM pg_stat_database WHERE datname = current_database()`)).rows[0]!.r;
      const p95 = (await c.query<{ p: number | null }>(`SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY response_ms) AS p FROM credits WHERE created_at > now() - interval '1 hour'`)).rows[0]!.p;
      const seqScans = (await c.query<{ relname: string; seq_scan: string; idx_scan: string | null }>(`SELECT relname, seq_scan, idx_scan FROM pg_stat_user_tables ORDER BY seq_scan DESC LIMIT 1`)).rows[0];
      return { slow, hit, p95, seqScans };
    });
    const live = await deps.conductor.liveness();
    const facts = {
      p99ResponseMs: report?.metrics.performance.p99_response_ms,
      avgResponseMs: report?.metrics.performance.avg_response_ms,
      loadPerCpu: Math.round(load * 100) / 100,
      slowQueries: db.slow,
      cacheHitRatio: db.hit === null ? undefined : Math.round(db.hit * 1000) / 1000,
      dbP95ResponseMs: db.p95 === null ? undefined : Math.round(db.p95),
      conductorLatencyMs: live.latencyMs,
    };
    const indicated: string[] = [];
    if (load > 1) indicated.push('scale-horizontally');
    if (db.slow > 0) indicated.push('optimize-queries');
    if (facts.cacheHitRatio !== undefined && facts.cacheHitRatio < 0.95) indicated.push('increase-cache');
    if (db.seqScans && Number(db.seqScans.seq_scan) > 10 * Number(db.seqScans.idx_scan ?? 0) + 100) indicated.push('add-indexes');
    return {
      facts,
      indicated,
      findings: [
        report ? `status report: average ${facts.avgResponseMs} ms, p99 ${facts.p99ResponseMs} ms` : 'status report unreachable',
        ...(hosts
          ? hosts.map((h) => `system resources of host ${h.host} (${(h.roles ?? []).join(', ')}): load ${h.load1PerCpu} per CPU, ${(h.memoryAvailableRatio * 100).toFixed(1)}% memory available`)
          : [`system resources: load ${facts.loadPerCpu} per CPU, ${(os.freemem() / 1024 ** 3).toFixed(1)} GiB free memory`]),
        `database: ${db.slow} queries running longer than 1 s; buffer cache hit ratio ${facts.cacheHitRatio ?? 'n/a'}; p95 response time of the last hour's credits ${facts.dbP95ResponseMs ?? 'n/a'} ms`,
        ...(db.seqScans ? [`most sequentially scanned table: ${db.seqScans.relname} (${db.seqScans.seq_scan} sequential, ${db.seqScans.idx_scan ?? 0} index scans)`] : []),
        live.alive ? `conductor round trip (list_apps): ${live.latencyMs} ms` : `conductor does not answer: ${live.error}`,
      ],
    };
  }

  /** Memory sampled over time from the application's metrics, and lingering connections. */
  async function memoryGrowthChecks(input: { samples: number; intervalSeconds: number }): Promise<TroubleshootingChecks> {
    const { samples, perMinute } = await sampleMemory(cfg, input.samples, input.intervalSeconds);
    const last = samples[samples.length - 1];
    const report = await statusReport();
    const conns = await deps.postgres.withClient(undefined, async (c) =>
      (await c.query<{ app: string; state: string; n: string }>(`SELECT coalesce(nullif(application_name, ''), '(none)') AS app, coalesce(state, '?') AS state, count(*) AS n FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1, 2 ORDER BY 3 DESC`)).rows,
    );
    const idle = conns.filter((r) => r.state === 'idle').reduce((s, r) => s + Number(r.n), 0);
    const indicated: string[] = [];
    if (perMinute !== undefined && perMinute > 1024 * 1024) indicated.push('reduce-window', 'clear-old-metrics');
    if (idle > 20) indicated.push('close-lingering-connections');
    return {
      facts: { samples: samples.length, memoryBytes: last?.bytes, growthBytesPerMinute: perMinute === undefined ? undefined : Math.round(perMinute), eventsInWindow: report?.metrics.throughput.events_per_hour, idleConnections: idle },
      indicated,
      findings: [
        samples.length
          ? `memory ${samples.map((s) => `${(s.bytes / 1024 ** 2).toFixed(1)}`).join(' -> ')} MiB over ${input.samples} samples ${input.intervalSeconds} s apart${perMinute === undefined ? '' : ` (${(perMinute / 1024 ** 2).toFixed(2)} MiB per minute)`}`
          : `memory: ${metricsUrl(cfg)} gave no zerotrustml_memory_usage_bytes`,
        report ? `metrics window holds ${report.metrics.throughput.events_per_hour} events of the last hour` : 'status report unreachable: window size unknown',
        `database connections: ${conns.map((r) => `${r.n} ${r.state} (${r.app})`).join(', ') || 'none'}`,
      ],
    };
  }

  async function conductorConnectionChecks(): Promise<TroubleshootingChecks> {
    const live = await deps.conductor.liveness();
    const u = new URL(cfg.conductor.adminUrl);
    const tcp = await tcpReachable(u.hostname, Number(u.port || 8888), 3000);
    let firewall = 'iptables is not installed here: firewall rules not checked';
    try {
      const r = await runCommand(['iptables', '-S'], { timeoutMs: 5000 });
      const drops = r.stdout.split('\n').filter((l) => /-j (DROP|REJECT)/.test(l));
      firewall = drops.length ? `${drops.length} DROP/REJECT rules: ${drops.slice(0, 5).join('; ')}` : 'no DROP/REJECT rules';
    } catch (e) {
      if (!/ENOENT|could not be started/.test((e as Error).message)) firewall = `iptables -S failed: ${(e as Error).message}`;
    }
    const logFile = cfg.conductor.managed ? path.join(cfg.conductorDataDir, 'conductor.log') : undefined;
    const logTail = logFile && existsSync(logFile) ? readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-10) : [];
    const indicated: string[] = [];
    if (!live.alive) indicated.push('restart-conductor');
    if (!tcp.ok || !live.alive) indicated.push('check-logs');
    return {
      facts: { alive: live.alive, appEnabled: live.appEnabled, tcp: tcp.ok, tcpMs: tcp.ms },
      indicated,
      findings: [
        live.alive ? `conductor answers list_apps in ${live.latencyMs} ms (app ${live.appEnabled ? 'enabled' : 'NOT enabled'})` : `conductor does not answer: ${live.error}`,
        tcp.ok ? `TCP ${u.host} accepts connections (${tcp.ms} ms)` : `TCP ${u.host} refuses or drops connections: ${tcp.error}`,
        `firewall: ${firewall}`,
        ...(logFile ? [`last lines of ${logFile}:`, ...logTail.map((l) => `    ${l}`)] : ['conductor log: not managed here; see its systemd journal']),
      ],
    };
  }

  return { highLatencyChecks, memoryGrowthChecks, conductorConnectionChecks };
}
