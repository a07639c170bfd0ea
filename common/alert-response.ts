// What the alert response runbooks read and decide, kept pure so the decisions are unit-tested:
// the evidence each one gathers, the cause the evidence points to, and the KPIs measured over an
// interval from two readings of the application's metrics. An interval, not the status report:
// the monitor's window looks back an hour and still holds the fault long after it was repaired.
import { z } from 'zod';
import { kpiRules, levelOf, type KpiLevel, type KpiName, type KpiOverrides } from './kpi';

// ---------------------------------------------------------------- the application's answers

// What the operations API answers is checked before a runbook decides on it: a node id it names
// goes into a ban, the audit trail and the decisions the workflow code makes; a malformed answer
// would otherwise fail the workflow's own code, where Temporal retries it forever.
const nodeId = z.string().min(1).max(200);
const count = z.number().int().min(0);
export const adminAnswers = {
  'nodes/restart': z.object({ restarted: z.array(nodeId), failed: z.array(z.object({ node: nodeId, why: z.string().max(500) })) }),
  'nodes/ban': z.looseObject({}),
  'rate-limits': z.object({
    limits: z.record(z.string().max(100), z.object({ limit: count, per: z.string().max(20) })),
    violations: z.array(z.object({ node: nodeId, byType: z.record(z.string().max(100), count) })).max(100_000),
    perMinute: z.array(z.object({ at: z.string().max(40), violations: count })).max(100_000),
    activeNodes: count,
    banned: z.array(nodeId),
  }),
  metrics: z.object({ windowMinutes: z.number().positive(), entries: count }),
  'metrics/window': z.object({ windowMinutes: z.number().positive(), entries: count }),
  'metrics/clear': z.object({ dropped: count, freedBytes: count }),
  'load-shedding': z.object({ fraction: z.number().min(0).max(1), until: z.string().max(40).nullable(), shed: count }),
};
export type AdminOp = keyof typeof adminAnswers;

// ---------------------------------------------------------------- KPIs over an interval

/** One reading of the application's /metrics: the counters and gauges the KPIs are made of. */
export interface MetricsReading {
  at: number;
  /** zerotrustml_response_time_seconds histogram: cumulative counts per upper bound (seconds). */
  buckets: Array<[number, number]>;
  latencySum: number;
  latencyCount: number;
  errors: number;
  /** zerotrustml_errors_total by its kind label (the stage that failed). */
  errorsByKind: Record<string, number>;
  violations: number;
  activeNodes?: number;
  healthyNodes?: number;
  memoryBytes?: number;
}

/** Parses a Prometheus text exposition into a reading (labels summed over). */
export function parseMetrics(text: string, at: number): MetricsReading {
  const sums = new Map<string, number>();
  const buckets = new Map<number, number>();
  const errorsByKind: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    if (m[1] === 'zerotrustml_response_time_seconds_bucket') {
      const le = /le="([^"]+)"/.exec(m[2] ?? '')?.[1];
      if (le !== undefined) buckets.set(le === '+Inf' ? Infinity : Number(le), value);
      continue;
    }
    if (m[1] === 'zerotrustml_errors_total') {
      const kind = /kind="([^"]*)"/.exec(m[2] ?? '')?.[1] ?? '';
      errorsByKind[kind] = (errorsByKind[kind] ?? 0) + value;
    }
    sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + value);
  }
  const get = (n: string): number | undefined => sums.get(n);
  return {
    at,
    buckets: [...buckets].sort((a, b) => a[0] - b[0]),
    latencySum: get('zerotrustml_response_time_seconds_sum') ?? 0,
    latencyCount: get('zerotrustml_response_time_seconds_count') ?? 0,
    errors: get('zerotrustml_errors_total') ?? 0,
    errorsByKind,
    violations: get('zerotrustml_rate_limit_violations_total') ?? 0,
    activeNodes: get('zerotrustml_active_nodes'),
    healthyNodes: get('zerotrustml_healthy_nodes'),
    memoryBytes: get('zerotrustml_memory_usage_bytes'),
  };
}

export interface IntervalFigures {
  seconds: number;
  /** Credit events in the interval, successful and failed. */
  events: number;
  /** Failed events in the interval by the stage that failed (only kinds that failed). */
  errorsByKind: Record<string, number>;
  figures: Partial<Record<KpiName, number>>;
}

/** The KPIs over the interval between two readings, or why they cannot be had (a counter went
 * back: the application restarted in between). */
export function intervalFigures(a: MetricsReading, b: MetricsReading): IntervalFigures | { error: string } {
  const dCount = b.latencyCount - a.latencyCount;
  const dErrors = b.errors - a.errors;
  const dViolations = b.violations - a.violations;
  if (dCount < 0 || dErrors < 0 || dViolations < 0) return { error: 'a counter went back (the application restarted between the readings)' };
  const seconds = (b.at - a.at) / 1000;
  const figures: Partial<Record<KpiName, number>> = {};
  if (dCount > 0) {
    figures.avgResponseMs = Math.round(((b.latencySum - a.latencySum) / dCount) * 1000);
    // The smallest bucket bound holding 99% of the interval's events (the histogram's resolution).
    const before = new Map(a.buckets);
    const p99 = b.buckets.find(([le, n]) => n - (before.get(le) ?? 0) >= 0.99 * dCount)?.[0];
    if (p99 !== undefined) figures.p99ResponseMs = Number.isFinite(p99) ? p99 * 1000 : Math.max(...b.buckets.map(([le]) => (Number.isFinite(le) ? le : 0))) * 1000 * 2;
  }
  if (dCount + dErrors > 0) figures.errorRate = dErrors / (dCount + dErrors);
  if (seconds > 0) figures.rateLimitViolationsPerHour = Math.round((dViolations / seconds) * 3600);
  if (b.activeNodes !== undefined && b.healthyNodes !== undefined && b.activeNodes > 0) figures.healthyNodeRatio = b.healthyNodes / b.activeNodes;
  if (b.memoryBytes !== undefined) figures.memoryBytes = b.memoryBytes;
  const errorsByKind = Object.fromEntries(Object.entries(b.errorsByKind).map(([k, n]): [string, number] => [k, n - (a.errorsByKind[k] ?? 0)]).filter(([, n]) => n > 0));
  return { seconds, events: dCount + dErrors, errorsByKind, figures };
}

/** Each KPI's level over the interval ('unknown' when the interval did not measure it). */
export function intervalLevels(f: IntervalFigures, kpis: readonly KpiName[], overrides: KpiOverrides = {}): Array<{ kpi: KpiName; value?: number; level: KpiLevel; warning: number }> {
  const rules = kpiRules(overrides);
  return kpis.map((kpi) => {
    const rule = rules.find((r) => r.name === kpi)!;
    const value = f.figures[kpi];
    return { kpi, value, level: levelOf(rule, value), warning: rule.warning };
  });
}

// ---------------------------------------------------------------- high latency

export interface Statement {
  pid: number;
  seconds: number;
  state: string;
  query: string;
  /** For a statement waiting on a lock: the sessions holding it. */
  blockedBy?: number[];
}

export interface LatencyEvidence {
  /** The status report's figures (the monitor's window). */
  status?: { avgMs: number; p99Ms: number };
  /** Stage "application": the credit events of a short interval now (the application's own
   * histogram, read twice): the response time as it is, not as the window remembers it. */
  recent: { events: number; seconds?: number; avgMs?: number; p99Ms?: number };
  conductor: { alive: boolean; roundTripMs?: number; error?: string };
  database: { probeMs?: number; slowStatements: Statement[]; lockWaits: Statement[]; error?: string };
  loadPerCpu: number;
  recentChanges: string[];
}

export type LatencyCause = 'conductor' | 'database-locks' | 'database-slow' | 'load' | 'application' | 'recovered';

/** Slow now: the interval's figures when it measured them; when too few events completed to
 * measure (a stall, or a quiet hour), the status report's, so a quiet system is not restarted. */
export function latencySlowNow(e: LatencyEvidence, warning: { avgMs: number; p99Ms: number }): boolean {
  const over = (avg: number | undefined, p99: number | undefined): boolean => (avg ?? 0) > warning.avgMs || (p99 ?? 0) > warning.p99Ms;
  return e.recent.avgMs !== undefined ? over(e.recent.avgMs, e.recent.p99Ms) : e.status ? over(e.status.avgMs, e.status.p99Ms) : true;
}

/** The slowest stage, in the order the runbook's checks go: the conductor (one round trip), the
 * database (locks, then slow statements), the host's load, then the application itself. */
export function latencyCause(e: LatencyEvidence, warning: { avgMs: number; p99Ms: number }): { cause: LatencyCause; explain: string } {
  if (!e.conductor.alive) return { cause: 'conductor', explain: `the conductor does not answer: ${e.conductor.error ?? 'no answer'}` };
  if ((e.conductor.roundTripMs ?? 0) > 1000) return { cause: 'conductor', explain: `one conductor round trip takes ${e.conductor.roundTripMs} ms` };
  if (e.database.lockWaits.length) {
    const blockers = [...new Set(e.database.lockWaits.flatMap((s) => s.blockedBy ?? []))];
    return { cause: 'database-locks', explain: `${e.database.lockWaits.length} statement(s) wait on locks held by session(s) ${blockers.join(', ')}` };
  }
  if (e.database.slowStatements.length || (e.database.probeMs ?? 0) > 1000) {
    return { cause: 'database-slow', explain: e.database.slowStatements.length ? `${e.database.slowStatements.length} statement(s) running over 5 s` : `a probe query took ${e.database.probeMs} ms` };
  }
  if (!latencySlowNow(e, warning)) return { cause: 'recovered', explain: `the ${e.recent.events} events of the last ${e.recent.seconds ?? '?'} s averaged ${e.recent.avgMs} ms: the window still holds the slow ones` };
  if (e.loadPerCpu > 2) return { cause: 'load', explain: `the host's load is ${e.loadPerCpu} per CPU` };
  return {
    cause: 'application',
    explain: `the application's own stage: ${e.recent.events ? `its ${e.recent.events} events of the last ${e.recent.seconds ?? '?'} s averaged ${e.recent.avgMs} ms` : `no event completed in ${e.recent.seconds ?? '?'} s`} while the conductor answers in ${e.conductor.roundTripMs ?? '?'} ms and the database in ${e.database.probeMs ?? '?'} ms`,
  };
}

// ---------------------------------------------------------------- error rate

export interface ErrorEvidence {
  /** The application log's ERROR lines of the last minutes, grouped by the stage that failed. */
  errors: Array<{ kind: string; count: number; last: string; sample: string }>;
  /** What fails now: the application's error counters by kind over a few seconds (the log also
   * holds the errors of a fault that is over). Absent when the counters could not be read. */
  now?: { seconds: number; byKind: Record<string, number> };
  linesRead: number;
  pool: { byState: Record<string, number>; total: number; max: number; waiting: number; error?: string };
  conductor: { alive: boolean; error?: string };
}

export type ErrorCause = 'application' | 'conductor' | 'database' | 'pool-exhausted' | 'none';

export function errorCause(e: ErrorEvidence): { cause: ErrorCause; explain: string } {
  if (!e.conductor.alive) return { cause: 'conductor', explain: `the conductor does not answer: ${e.conductor.error ?? 'no answer'}` };
  if (e.pool.error) return { cause: 'database', explain: `the database does not answer: ${e.pool.error}` };
  if (e.pool.max > 0 && e.pool.total >= 0.9 * e.pool.max) return { cause: 'pool-exhausted', explain: `${e.pool.total} of ${e.pool.max} database connections in use, ${e.pool.waiting} waiting` };
  const ofKind = (kind: string): ErrorCause => (kind === 'conductor' ? 'conductor' : kind === 'database' ? 'database' : 'application');
  const sample = (kind: string): string => {
    const s = e.errors.find((x) => x.kind === kind)?.sample;
    return s ? `, e.g. "${s}"` : '';
  };
  if (e.now) {
    const [kind, n] = Object.entries(e.now.byKind).sort((a, b) => b[1] - a[1])[0] ?? [];
    const total = Object.values(e.now.byKind).reduce((a, b) => a + b, 0);
    if (!kind || !n) return { cause: 'none', explain: `no event failed in the last ${e.now.seconds} s` };
    return { cause: ofKind(kind), explain: `${n} of ${total} errors in the last ${e.now.seconds} s are in the ${kind} stage${sample(kind)}` };
  }
  const top = [...e.errors].sort((a, b) => b.count - a.count)[0];
  if (!top) return { cause: 'none', explain: `no error in the application log's last ${e.linesRead} lines` };
  const total = e.errors.reduce((n, x) => n + x.count, 0);
  return { cause: ofKind(top.kind), explain: `${top.count} of ${total} recent errors in the log are in the ${top.kind} stage${sample(top.kind)}` };
}

// ---------------------------------------------------------------- healthy nodes

export interface NodeEvidence {
  active: number;
  healthy: number;
  nodes: number;
  unhealthy: Array<{ node: string; lastHeartbeat: string; lastEvent?: string }>;
}

/** More unhealthy nodes than this share of all nodes is systemic (the network, a shared host):
 * restarting them one by one is not the answer, and restarting that many at once is a risk. */
export const SYSTEMIC_SHARE = 0.5;

// ---------------------------------------------------------------- rate limits

export type RateLimitEvidence = z.output<(typeof adminAnswers)['rate-limits']>;

export type RateLimitCause = 'spam' | 'growth' | 'none';

/** Spam: a few nodes (at most a quarter of the active ones) make at least 80% of the violations;
 * the offenders are every node in that heavy group (a tenth of the top node's count or more), so
 * none of them is left spamming. Growth: the violations are spread over many nodes. */
export function rateLimitCause(e: RateLimitEvidence): { cause: RateLimitCause; explain: string; offenders: string[]; types: string[] } {
  const per = e.violations.map((v) => ({ node: v.node, n: Object.values(v.byType).reduce((a, b) => a + b, 0) })).sort((a, b) => b.n - a.n);
  const total = per.reduce((a, b) => a + b.n, 0);
  const types = [...new Set(e.violations.flatMap((v) => Object.keys(v.byType)))].sort();
  if (!total) return { cause: 'none', explain: 'no violation in the window', offenders: [], types };
  const few = Math.max(1, Math.floor(Math.max(e.activeNodes, per.length) / 4));
  const offenders: string[] = [];
  let covered = 0;
  for (const p of per) {
    if (covered >= 0.8 * total) break;
    offenders.push(p.node);
    covered += p.n;
  }
  if (offenders.length <= few) {
    const heavy = per.filter((p) => p.n >= Math.max(2, per[0]!.n / 10));
    const share = heavy.reduce((a, b) => a + b.n, 0) / total;
    return { cause: 'spam', explain: `${heavy.length} node(s) make ${Math.round(share * 100)}% of ${total} violations`, offenders: heavy.map((p) => p.node).sort(), types };
  }
  return { cause: 'growth', explain: `${total} violations spread over ${per.length} nodes (${offenders.length} make 80%): legitimate growth`, offenders: [], types };
}

// ---------------------------------------------------------------- memory

export interface MemoryEvidence {
  samples: number[];
  growthBytesPerMinute?: number;
  window?: { minutes: number; entries: number };
  processes: Array<{ pid: number; rssBytes: number; command: string }>;
}

export type MemoryCause = 'metrics-window' | 'leak' | 'none';

/** The window's entries are the runbook's first suspect: clearing them is cheap and safe; steady
 * growth with a small window is a leak that only a restart frees. */
export function memoryCause(e: MemoryEvidence, warningBytes: number): { cause: MemoryCause; explain: string } {
  const now = e.samples[e.samples.length - 1];
  if (now === undefined || now <= warningBytes) return { cause: 'none', explain: `memory ${now === undefined ? 'unknown' : `${(now / 1024 ** 2).toFixed(0)} MiB`} is under the warning threshold` };
  if (e.window && (e.window.minutes > 30 || e.window.entries > 10_000)) return { cause: 'metrics-window', explain: `the metrics window holds ${e.window.entries} entries over ${e.window.minutes} minutes` };
  return { cause: 'leak', explain: `memory ${(now / 1024 ** 2).toFixed(0)} MiB with a ${e.window?.minutes ?? '?'}-minute window${e.growthBytesPerMinute ? `, growing ${(e.growthBytesPerMinute / 1024 ** 2).toFixed(1)} MiB per minute` : ''}` };
}
