// The reads and actions of the alert response runbooks: the evidence each alert's response
// gathers (latency by stage, the log's errors by kind, unhealthy nodes, rate-limit offenders,
// memory and the metrics window), the remedies the application's operations API offers (node
// restarts and bans, a rate-limit change, the metrics window), and verification by the alert's
// own KPI measured over an interval. Changes to nodes and limits go into the audit trail.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import os from 'node:os';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import {
  adminAnswers,
  type AdminOp,
  intervalFigures,
  intervalLevels,
  parseMetrics,
  type ErrorEvidence,
  type IntervalFigures,
  type LatencyEvidence,
  type MemoryEvidence,
  type MetricsReading,
  type NodeEvidence,
  type RateLimitEvidence,
  type Statement,
} from '../common/alert-response';
import { Failure } from '../common/failures';
import { kpiRules, type KpiLevel, type KpiName } from '../common/kpi';
import { runCommand } from '../adapters/process';
import type { LoadedConfig } from '../config/load';
import type { ActivityDeps } from './deps';
import { metricsUrl, readStatusReport, sampleMemory } from './status-report';

export function adminUrl(config: LoadedConfig, op: string): string {
  return new URL(op, config.application.adminUrl ?? new URL('/admin/', config.application.statusUrl)).toString();
}

/** Calls the application's operations API; a refusal is not retried (it says what was wrong), nor
 * an answer of another shape than the operation's (adminAnswers). */
async function admin<Op extends AdminOp>(config: LoadedConfig, op: Op, body?: unknown): Promise<z.output<(typeof adminAnswers)[Op]>> {
  const url = adminUrl(config, op);
  let res: Response;
  try {
    res = await fetch(url, { method: body === undefined ? 'GET' : 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    throw new Error(`the application's operations API ${url} does not answer: ${(e as Error).message}`, { cause: e });
  }
  const text = await res.text();
  if (!res.ok) throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `${url} refused: HTTP ${res.status} ${text.slice(0, 300)}` });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const checked = adminAnswers[op].safeParse(json);
  if (!checked.success) {
    const issues = checked.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`).join('; ');
    throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `${url} answered in an unexpected shape (${issues}); found ${text.slice(0, 200)}` });
  }
  return checked.data as z.output<(typeof adminAnswers)[Op]>;
}

async function readMetrics(config: LoadedConfig): Promise<MetricsReading> {
  const url = metricsUrl(config);
  const res = await fetch(url, { signal: AbortSignal.timeout(config.healthCheck.timeoutSeconds * 1000) });
  if (!res.ok) throw new Error(`${url} answered HTTP ${res.status}`);
  return parseMetrics(await res.text(), Date.now());
}

/** The last `bytes` of a file as lines (the first, partial, line dropped). */
function tailLines(file: string, bytes: number): string[] {
  if (!existsSync(file)) return [];
  const size = statSync(file).size;
  const start = Math.max(0, size - bytes);
  const buf = Buffer.alloc(size - start);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, buf.length, start);
  } finally {
    closeSync(fd);
  }
  const lines = buf.toString('utf8').split('\n');
  if (start > 0) lines.shift();
  return lines.filter(Boolean);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface KpiVerification {
  ok: boolean;
  details: string;
  levels: Array<{ kpi: KpiName; value?: number; level: KpiLevel; warning: number }>;
}

export function createAlertResponseActivities(deps: ActivityDeps) {
  const cfg = deps.config;
  const pg = deps.postgres;

  async function statements(): Promise<{ probeMs: number; slowStatements: Statement[]; lockWaits: Statement[] }> {
    const t = Date.now();
    return pg.withClient(undefined, async (c) => {
      await c.query('SELECT count(*) FROM nodes');
      const probeMs = Date.now() - t;
      const rows = (
        await c.query<{ pid: number; seconds: number; state: string; query: string; blocked_by: number[] }>(
          `SELECT pid, extract(epoch FROM now() - query_start)::float8 AS seconds, coalesce(state, '?') AS state, left(query, 200) AS query, pg_blocking_pids(pid) AS blocked_by
             FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query_start IS NOT NULL
            ORDER BY query_start`,
        )
      ).rows;
      const shape = (r: (typeof rows)[number]): Statement => ({ pid: r.pid, seconds: Math.round(r.seconds * 10) / 10, state: r.state, query: r.query.replace(/\s+/g, ' '), ...(r.blocked_by.length ? { blockedBy: r.blocked_by } : {}) });
      return { probeMs, lockWaits: rows.filter((r) => r.blocked_by.length).map(shape), slowStatements: rows.filter((r) => !r.blocked_by.length && r.seconds > 5).map(shape) };
    });
  }

  /** What changed lately: runbook runs that restart, scale or reconfigure (Temporal visibility)
   * and the newest configuration backup. */
  async function recentChanges(hours: number): Promise<string[]> {
    const since = new Date(Date.now() - hours * 3_600_000).toISOString();
    const out: string[] = [];
    const kinds = ['restart-conductor', 'horizontal-scale', 'vertical-scale', 'config-backup', 'restore-database', 'restore-cluster', 'disaster-recovery', 'database-archiving'];
    const own = Context.current().info.workflowExecution?.workflowId ?? '\0';
    try {
      const query = `RunbookName IN (${kinds.map((k) => `"${k}"`).join(', ')}) AND StartTime > "${since}"`;
      for await (const w of Context.current().client.workflow.list({ query })) {
        if (w.workflowId.startsWith(own)) continue;
        out.push(`${String((w.searchAttributes?.RunbookName as string[] | undefined)?.[0] ?? w.type)} ${w.workflowId} started ${w.startTime.toISOString()} (${w.status.name.toLowerCase()})`);
        if (out.length >= 20) break;
      }
    } catch (e) {
      out.push(`runbook runs: not listed (${(e as Error).message})`);
    }
    if (!out.length) out.push(`no restart, scaling, restore or configuration run in the last ${hours} h`);
    return out;
  }

  async function latencyEvidence(): Promise<LatencyEvidence> {
    // The stages are probed while the application's own events are counted: the interval is the
    // step's length, the probes take a fraction of it.
    const [interval, status, live, db, recent] = await Promise.all([
      // 3 s of the application's events; none (a stall, or a quiet hour) and the status report
      // decides. One event in 3 s where 20 a second are usual already says how slow it is: waiting
      // for a second 6-second event doubled the step and told nothing new.
      measureInterval(3, 1, Date.now() + 3_000).catch((e: Error) => ({ error: e.message })),
      readStatusReport(cfg).then((r) => r.report),
      deps.conductor.liveness(),
      statements().catch((e: Error) => ({ probeMs: undefined, slowStatements: [], lockWaits: [], error: e.message })),
      recentChanges(24),
    ]);
    return {
      status: status ? { avgMs: status.metrics.performance.avg_response_ms, p99Ms: status.metrics.performance.p99_response_ms } : undefined,
      recent: 'error' in interval ? { events: 0 } : { events: interval.events, seconds: Math.round(interval.seconds), avgMs: interval.figures.avgResponseMs, p99Ms: interval.figures.p99ResponseMs },
      conductor: { alive: live.alive, roundTripMs: live.latencyMs, error: live.error },
      database: db,
      loadPerCpu: Math.round((os.loadavg()[0]! / os.cpus().length) * 100) / 100,
      recentChanges: recent,
    };
  }

  /** ERROR lines of the application's logs in the last `minutes`, grouped by kind; the database
   * connections by state against max_connections (waiting: sessions waiting on a lock or a client). */
  async function errorEvidence(input: { minutes: number }): Promise<ErrorEvidence> {
    const since = new Date(Date.now() - input.minutes * 60_000).toISOString();
    const groups = new Map<string, { count: number; last: string; sample: string }>();
    let linesRead = 0;
    for (const f of cfg.logFiles) {
      for (const line of tailLines(f.path, 4 * 1024 * 1024)) {
        linesRead++;
        const m = /^(\S+) ERROR kind=(\S+) (.*)$/.exec(line);
        if (!m || m[1]! < since) continue;
        const g = groups.get(m[2]!) ?? { count: 0, last: m[1]!, sample: m[3]!.slice(0, 200) };
        g.count++;
        g.last = m[1]!;
        groups.set(m[2]!, g);
      }
    }
    const pool = await pg
      .withClient(undefined, async (c) => {
        const rows = (await c.query<{ state: string; n: string; waiting: string }>(`SELECT coalesce(state, 'background') AS state, count(*) AS n, count(*) FILTER (WHERE wait_event_type IN ('Lock', 'Client')) AS waiting FROM pg_stat_activity GROUP BY 1`)).rows;
        const max = Number((await c.query<{ setting: string }>(`SELECT setting FROM pg_settings WHERE name = 'max_connections'`)).rows[0]!.setting);
        const byState = Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
        return { byState, total: rows.filter((r) => r.state !== 'background').reduce((n, r) => n + Number(r.n), 0), max, waiting: rows.reduce((n, r) => n + Number(r.waiting), 0) };
      })
      .catch((e: Error) => ({ byState: {}, total: 0, max: 0, waiting: 0, error: e.message }));
    const live = await deps.conductor.liveness();
    const now = await errorsNow(3).catch(() => undefined);
    return { errors: [...groups].map(([kind, g]) => ({ kind, ...g })), linesRead, pool, conductor: { alive: live.alive && live.appEnabled, error: live.error }, ...(now ? { now } : {}) };
  }

  /** The error counters by kind, read twice `seconds` apart (a restart in between: unreadable). */
  async function errorsNow(seconds: number): Promise<{ seconds: number; byKind: Record<string, number> }> {
    const a = await readMetrics(cfg);
    await sleep(seconds * 1000);
    const f = intervalFigures(a, await readMetrics(cfg));
    if ('error' in f) throw new Error(f.error);
    return { seconds, byKind: f.errorsByKind };
  }

  async function nodeEvidence(): Promise<NodeEvidence> {
    const reading = await readMetrics(cfg);
    return pg.withClient(undefined, async (c) => {
      const nodes = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM nodes')).rows[0]!.n);
      const rows = (
        await c.query<{ node_id: string; last_seen_at: Date; last_event: Date | null }>(
          `SELECT n.node_id, n.last_seen_at, (SELECT max(created_at) FROM credits c WHERE c.holder = n.node_id AND c.created_at > now() - interval '1 hour') AS last_event
             FROM nodes n WHERE NOT n.healthy ORDER BY n.node_id LIMIT 500`,
        )
      ).rows;
      return {
        active: reading.activeNodes ?? 0,
        healthy: reading.healthyNodes ?? 0,
        nodes,
        unhealthy: rows.map((r) => ({ node: r.node_id, lastHeartbeat: r.last_seen_at.toISOString(), ...(r.last_event ? { lastEvent: r.last_event.toISOString() } : {}) })),
      };
    });
  }

  async function restartNodes(input: { nodes: string[] }): Promise<{ restarted: string[]; failed: Array<{ node: string; why: string }> }> {
    return admin(cfg, 'nodes/restart', { nodes: input.nodes });
  }

  async function rateLimitEvidence(): Promise<RateLimitEvidence> {
    return admin(cfg, 'rate-limits');
  }

  /** A ban or a limit change, applied through the application and written to its audit trail. */
  async function applyRateLimitChange(input: { ban?: { nodes: string[]; seconds: number }; limit?: { eventType: string; limit: number }; approvedBy: string; incident: string }): Promise<string> {
    let done: string;
    if (input.ban) {
      await admin(cfg, 'nodes/ban', input.ban);
      done = `banned ${input.ban.nodes.join(', ')} for ${input.ban.seconds} s`;
    } else if (input.limit) {
      await admin(cfg, 'rate-limits', input.limit);
      done = `set the ${input.limit.eventType} limit to ${input.limit.limit}`;
    } else throw ApplicationFailure.create({ type: Failure.InvalidInput, message: 'expected a ban or a limit change' });
    await pg.withClient(undefined, (c) =>
      c.query(`INSERT INTO audit_trail (credit_id, action, actor, details, at) VALUES ('-', $1, $2, $3, now())`, [
        input.ban ? 'nodes-banned' : 'rate-limit-changed',
        `runbook (approved by ${input.approvedBy})`,
        JSON.stringify({ ...(input.ban ?? input.limit), incident: input.incident }),
      ]),
    );
    return done;
  }

  /** Load shedding through the application's settings: `fraction` of the events turned away for
   * `seconds` (it ends by itself), written to its audit trail. */
  async function shedLoad(input: { fraction: number; seconds: number; approvedBy: string; incident: string }): Promise<string> {
    const r = await admin(cfg, 'load-shedding', { fraction: input.fraction, seconds: input.seconds });
    await pg.withClient(undefined, (c) =>
      c.query(`INSERT INTO audit_trail (credit_id, action, actor, details, at) VALUES ('-', 'load-shedding', $1, $2, now())`, [
        `runbook (approved by ${input.approvedBy})`,
        JSON.stringify({ fraction: input.fraction, seconds: input.seconds, until: r.until, incident: input.incident }),
      ]),
    );
    return `the application turns away ${Math.round(r.fraction * 100)}% of its events until ${r.until ?? 'now'}`;
  }

  async function memoryEvidence(input: { samples: number; intervalSeconds: number }): Promise<MemoryEvidence> {
    const { samples, perMinute } = await sampleMemory(cfg, input.samples, input.intervalSeconds);
    const window = await admin(cfg, 'metrics').then(
      (w) => ({ minutes: w.windowMinutes, entries: w.entries }),
      () => undefined,
    );
    let processes: MemoryEvidence['processes'] = [];
    try {
      const ps = await runCommand(['ps', '-eo', 'pid=,rss=,comm=', '--sort=-rss'], { timeoutMs: 5000 });
      processes = ps.stdout
        .split('\n')
        .filter(Boolean)
        .slice(0, 5)
        .map((l) => l.trim().split(/\s+/))
        .map(([pid, rss, ...cmd]) => ({ pid: Number(pid), rssBytes: Number(rss) * 1024, command: cmd.join(' ') }));
    } catch {
      // ps is missing on a minimal host: the evidence goes on without the process list
    }
    return {
      samples: samples.map((s) => s.bytes),
      growthBytesPerMinute: perMinute === undefined ? undefined : Math.round(perMinute),
      window,
      processes,
    };
  }

  async function clearOldMetrics(input: { keepSeconds: number }): Promise<{ dropped: number; freedBytes: number }> {
    return admin(cfg, 'metrics/clear', input);
  }

  async function setMetricsWindow(input: { minutes: number }): Promise<{ windowMinutes: number; entries: number }> {
    return admin(cfg, 'metrics/window', input);
  }

  /** One interval's KPIs: two readings `seconds` apart with at least `minEvents` credit events
   * between them (the interval grows until it has them, up to the deadline). */
  async function measureInterval(seconds: number, minEvents: number, deadline: number): Promise<IntervalFigures | { error: string }> {
    const a = await readMetrics(cfg);
    let last: IntervalFigures | { error: string };
    do {
      await sleep(Math.min(seconds * 1000, Math.max(0, deadline - Date.now())));
      last = intervalFigures(a, await readMetrics(cfg));
      if ('error' in last || last.events >= minEvents) return last;
      Context.current().heartbeat(`${last.events} events so far`);
    } while (Date.now() < deadline);
    return 'error' in last ? last : { ...last, figures: {} };
  }

  /** Waits until the alert's KPIs are within their warning thresholds over an interval: the
   * application's own counters, read twice, so a repaired fault shows at once. */
  async function verifyKpis(input: { kpis: KpiName[]; timeoutSeconds: number; intervalSeconds?: number }): Promise<KpiVerification> {
    const deadline = Date.now() + input.timeoutSeconds * 1000;
    let details = 'not measured';
    let levels: KpiVerification['levels'] = [];
    const needsEvents = input.kpis.some((k) => k === 'avgResponseMs' || k === 'p99ResponseMs' || k === 'errorRate');
    while (Date.now() < deadline) {
      Context.current().heartbeat(details);
      let m: IntervalFigures | { error: string };
      try {
        m = await measureInterval(input.intervalSeconds ?? 3, needsEvents ? 3 : 0, deadline);
      } catch (e) {
        details = `metrics unreadable: ${(e as Error).message}`;
        await sleep(1000);
        continue;
      }
      if ('error' in m) {
        details = m.error;
        continue;
      }
      levels = intervalLevels(m, input.kpis, cfg.kpi);
      details = `over ${m.seconds.toFixed(1)} s (${m.events} events): ${levels.map((l) => `${l.kpi} ${l.value === undefined ? 'not measured' : round(l.value)} (${l.level}, warning at ${l.warning})`).join('; ')}`;
      if (levels.every((l) => l.level === 'ok' || l.level === 'outside-target')) return { ok: true, details, levels };
    }
    return { ok: false, details: `after ${input.timeoutSeconds} s: ${details}`, levels };
  }

  /** A KPI's configured thresholds. */
  async function kpiThresholds(input: { kpi: KpiName }): Promise<{ warning: number; critical: number }> {
    const rule = kpiRules(cfg.kpi).find((r) => r.name === input.kpi);
    if (!rule) throw ApplicationFailure.create({ type: Failure.InvalidInput, message: `expected a KPI name, found ${input.kpi}` });
    return { warning: rule.warning, critical: rule.critical };
  }

  /** Ends what each session that still blocks another one now is doing: an active statement is
   * cancelled; an idle transaction holding the lock is terminated (its transaction rolls back).
   * A session that blocks nobody any more (or is gone) is left alone: the pids were read earlier. */
  async function cancelBlockers(input: { pids: number[] }): Promise<{ cancelled: number[]; terminated: number[]; gone: number[] }> {
    return pg.withClient(undefined, async (c) => {
      const blocking = new Map(
        (
          await c.query<{ pid: number; state: string }>(
            `SELECT a.pid, coalesce(a.state, '?') AS state FROM pg_stat_activity a
              WHERE a.pid IN (SELECT DISTINCT unnest(pg_blocking_pids(w.pid)) FROM pg_stat_activity w WHERE w.datname = current_database())`,
          )
        ).rows.map((r) => [r.pid, r.state]),
      );
      const out = { cancelled: [] as number[], terminated: [] as number[], gone: [] as number[] };
      for (const pid of input.pids) {
        const state = blocking.get(pid);
        if (state === undefined) {
          out.gone.push(pid);
          continue;
        }
        const fn = state === 'active' ? 'pg_cancel_backend' : 'pg_terminate_backend';
        const ok = (await c.query<{ ok: boolean }>(`SELECT ${fn}($1) AS ok`, [pid])).rows[0]!.ok;
        (ok ? (state === 'active' ? out.cancelled : out.terminated) : out.gone).push(pid);
      }
      return out;
    });
  }

  /** Detections over the last `minutes`, per detected node (with its distinct validators) and
   * per minute: the pattern a watch follows. */
  async function detectionPattern(input: { minutes: number }): Promise<{ total: number; nodes: Array<{ node: string; detections: number; validators: number; reputation: string }>; perMinute: number[] }> {
    return pg.withClient(undefined, async (c) => {
      const since = `now() - make_interval(mins => $1)`;
      const nodes = (
        await c.query<{ node: string; n: string; v: string; reputation: string }>(
          `SELECT d.detected_id AS node, count(*) AS n, count(DISTINCT d.detector_id) AS v, n.reputation::text AS reputation
             FROM byzantine_detections d JOIN nodes n ON n.node_id = d.detected_id
            WHERE d.detected_at > ${since} GROUP BY d.detected_id, n.reputation ORDER BY count(*) DESC, d.detected_id LIMIT 20`,
          [input.minutes],
        )
      ).rows;
      const total = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM byzantine_detections WHERE detected_at > ${since}`, [input.minutes])).rows[0]!.n);
      const minutes = (await c.query<{ m: number; n: string }>(`SELECT floor(extract(epoch FROM now() - detected_at) / 60)::int AS m, count(*) AS n FROM byzantine_detections WHERE detected_at > now() - interval '10 minutes' GROUP BY 1`)).rows;
      const perMinute = Array.from({ length: 10 }, (_, i) => Number(minutes.find((r) => r.m === 9 - i)?.n ?? 0));
      return { total, nodes: nodes.map((r) => ({ node: r.node, detections: Number(r.n), validators: Number(r.v), reputation: r.reputation })), perMinute };
    });
  }

  /** Lowers each node's reputation one level (a penalty), in the audit trail with its approver. */
  async function penalizeNodes(input: { nodes: string[]; approvedBy: string; incident: string }): Promise<Array<{ node: string; from: string; to: string }>> {
    const order = ['blacklisted', 'critical', 'warning', 'normal', 'trusted', 'elite'];
    return pg.withClient(undefined, async (c) => {
      const out: Array<{ node: string; from: string; to: string }> = [];
      // All or none, each change with its audit row: a retry after a failure starts clean.
      await c.query('BEGIN');
      try {
      for (const node of input.nodes) {
        const prev = (await c.query<{ reputation: string }>('SELECT reputation::text FROM nodes WHERE node_id = $1', [node])).rows[0];
        if (!prev) throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `node ${JSON.stringify(node)}: expected a known node, found none` });
        // A retried activity whose first attempt committed: the penalty is there, not applied twice.
        const done = (await c.query<{ to: string; from: string }>(`SELECT details->>'to' AS to, details->>'from' AS from FROM audit_trail WHERE action = 'reputation-penalized' AND details->>'incident' = $1 AND details->>'node' = $2`, [input.incident, node])).rows[0];
        if (done) {
          out.push({ node, from: done.from, to: done.to });
          continue;
        }
        const to = order[Math.max(0, order.indexOf(prev.reputation) - 1)]!;
        await c.query('UPDATE nodes SET reputation = $2::reputation_level WHERE node_id = $1', [node, to]);
        await c.query(`INSERT INTO audit_trail (credit_id, action, actor, details, at) VALUES ('-', 'reputation-penalized', $1, $2, now())`, [
          `runbook (approved by ${input.approvedBy})`,
          JSON.stringify({ node, from: prev.reputation, to, incident: input.incident }),
        ]);
        out.push({ node, from: prev.reputation, to });
      }
      await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
      return out;
    });
  }

  return { detectionPattern, penalizeNodes, kpiThresholds, cancelBlockers, latencyEvidence, errorEvidence, nodeEvidence, restartNodes, rateLimitEvidence, applyRateLimitChange, shedLoad, memoryEvidence, clearOldMetrics, setMetricsWindow, verifyKpis };
}

function round(v: number): number {
  return Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 1000) / 1000;
}
