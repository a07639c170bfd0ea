// The credits-service simulator: stands in for the Zero-TrustML Credits application that the
// runbook operates. It issues credit events by the original integration's rules through the
// conductor (create_credit) and into PostgreSQL, keeps the production monitor's sliding window,
// and serves /metrics (Prometheus) and /status (the status report). Faults are injected through
// a switch file, per process, like the conductor stand-in's.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { Pool } from 'pg';
import { EVENT_RULES } from '../../common/credit-rules';
import { evaluateKpis, figuresFromStatusReport, type StatusReport } from '../../common/kpi';
import type { ConductorClient } from '../../adapters/conductor';
import { FaultSwitch } from '../fault-switch';
import { LogFiles } from './log-files';
import { MetricsWindow } from './metrics-window';

export type FaultMode = 'hang' | 'slow' | 'blind' | 'errors' | 'ratelimit' | 'unhealthy' | 'memory';
export interface Faults {
  modes: FaultMode[];
  delayMs?: number;
  /** The "memory" fault's size, MiB (default 512). */
  ballastMb?: number;
  pid?: number;
}

export { EVENT_RULES };
type EventType = keyof typeof EVENT_RULES;

export const REPUTATION_MULTIPLIER: Record<string, number> = { blacklisted: 0, critical: 0.5, warning: 0.75, normal: 1, trusted: 1.2, elite: 1.5 };

export function baseCredits(type: EventType, pogq: number): number {
  switch (type) {
    case 'quality_gradient':
      return Math.round(pogq * 100 * 100) / 100;
    case 'byzantine_detection':
      return 50;
    case 'peer_validation':
      return 10;
    default:
      return 1;
  }
}

export interface ServiceOptions {
  dataDir: string;
  port: number;
  /** The address /status and /metrics listen on (default loopback). */
  host?: string;
  pgUrl: string;
  conductor: ConductorClient;
  eventsPerSecond: number;
  log?: (l: string) => void;
  /** Write app.log and monitor.log here (reopened on reopenLogs()). */
  logDir?: string;
}

export function faultFile(dataDir: string): string {
  return path.join(dataDir, 'faults.json');
}

export class CreditsService {
  readonly window = new MetricsWindow();
  // A pool, not one client: a restarted PostgreSQL costs some failed events, not the service.
  private pg: Pool | undefined;
  private http: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private faults: Faults = { modes: [] };
  private readonly faultSwitch: FaultSwitch<Faults>;
  private nodes: Array<{ id: string; reputation: string; healthy: boolean }> = [];
  private readonly counts = new Map<string, number[]>();
  private readonly ballast: Buffer[] = [];
  private seq = 0;
  private attempts = 0;
  totals = { credits: 0, events: 0, detections: 0, violations: 0, errors: 0, byType: new Map<string, number>(), errorsByKind: new Map<string, number>() };
  /** Violations per node and event type in the window, for the rate-limit review (GET /admin/rate-limits). */
  private readonly violationLog: Array<{ at: number; nodeId: string; type: string }> = [];
  /** Nodes banned until a time (POST /admin/nodes/ban): their events are refused, not counted. */
  private readonly banned = new Map<string, number>();
  /** Load shedding (POST /admin/load-shedding): this share of the events is turned away, with a
   * "retry later", until the time given; a setting that is forgotten ends by itself. */
  private shedding = { fraction: 0, until: 0, shed: 0 };
  /** Per event type, a limit that replaces the rule's (POST /admin/rate-limits). */
  private readonly limits = new Map<string, number>();
  private readonly histogram = { bounds: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], counts: new Array<number>(10).fill(0), sum: 0, count: 0 };
  private readonly log: (l: string) => void;
  private inFlight = false;
  private logs: LogFiles | undefined;
  private eventSeq = 0;
  private monitorTimer: NodeJS.Timeout | undefined;
  private figuresTimer: NodeJS.Timeout | undefined;
  /** Confirmed false positives (reputation restores) per detection in the last hour. */
  private falsePositiveRate: number | undefined;
  private readonly uptime: UptimeRecord;
  /** The PoGQ score under which a gradient is flagged Byzantine (detection_settings). */
  threshold = 0.5;
  private thresholdReadAt = 0;
  private validators: string[] = [];

  constructor(private readonly o: ServiceOptions) {
    this.log = o.log ?? ((l) => process.stdout.write(l + '\n'));
    this.faultSwitch = new FaultSwitch<Faults>(faultFile(o.dataDir), { modes: [] });
    this.uptime = new UptimeRecord(path.join(o.dataDir, 'uptime.json'));
  }

  has(mode: FaultMode): boolean {
    return this.faults.modes.includes(mode);
  }

  async start(): Promise<void> {
    this.pg = new Pool({ connectionString: this.o.pgUrl, max: 3, connectionTimeoutMillis: 3000 });
    this.pg.on('error', () => undefined);
    // Databases created before the settings table existed get it here.
    await this.pg.query(`CREATE TABLE IF NOT EXISTS detection_settings (key text PRIMARY KEY, value double precision NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), updated_by text NOT NULL DEFAULT 'install')`);
    await this.pg.query(`INSERT INTO detection_settings (key, value) VALUES ('pogq_threshold', 0.5) ON CONFLICT (key) DO NOTHING`);
    await this.readThreshold();
    await this.loadNodes();
    this.http = createServer((req, res) => {
      if (this.has('hang')) return; // never answers, like a hung application
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(this.prometheus());
      } else if (req.url === '/status') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.statusReport()));
      } else if (req.url === '/health') {
        res.writeHead(200).end('ok');
      } else if (req.url?.startsWith('/admin/')) {
        void this.admin(req.method ?? 'GET', req.url, req).then(
          (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
          (e: Error) => res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: e.message })),
        );
      } else {
        res.writeHead(404).end('not found');
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.http!.once('error', reject);
      this.http!.listen(this.o.port, this.o.host ?? '127.0.0.1', () => resolve());
    });
    if (this.o.logDir) {
      this.logs = new LogFiles(this.o.logDir);
      this.monitorTimer = setInterval(() => {
        const f = this.window.figures(Date.now());
        this.logs?.write('monitor.log', `${new Date().toISOString()} events/min=${f.eventsPerMinute} p99=${f.p99ResponseMs}ms detection=${f.detectionRate.toFixed(3)} errors=${f.errorRate.toFixed(3)}`);
      }, 1000);
    }
    const slowFigures = (): void => {
      this.uptime.mark(Date.now());
      void this.pg!.query<{ fp: number | null }>(
        `SELECT (SELECT count(*) FROM audit_trail WHERE action = 'reputation-restored' AND at > now() - interval '1 hour')::float8
                / nullif((SELECT count(*) FROM byzantine_detections WHERE detected_at > now() - interval '1 hour'), 0) AS fp`,
      ).then(
        (r) => void (this.falsePositiveRate = r.rows[0]?.fp ?? 0),
        () => undefined,
      );
    };
    slowFigures();
    this.figuresTimer = setInterval(slowFigures, 10_000);
    this.timer = setInterval(() => {
      this.readFaults();
      void this.tick().catch(() => undefined);
    }, Math.max(5, 1000 / this.o.eventsPerSecond));
  }

  /** SIGHUP: move to freshly opened log files, and pick up nodes that joined. */
  reopenLogs(): void {
    this.logs?.reopen();
    void this.loadNodes().catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.monitorTimer) clearInterval(this.monitorTimer);
    if (this.figuresTimer) clearInterval(this.figuresTimer);
    const closed = new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
    // Requests a hang left open are dropped now: close() alone would wait for them forever.
    this.http?.closeAllConnections();
    await closed;
    await this.pg?.end().catch(() => undefined);
    await this.o.conductor.close();
    this.logs?.close();
  }

  private async loadNodes(): Promise<void> {
    const r = await this.pg!.query<{ node_id: string; reputation: string; healthy: boolean }>('SELECT node_id, reputation::text, healthy FROM nodes ORDER BY node_id');
    this.nodes = r.rows.map((n) => ({ id: n.node_id, reputation: n.reputation, healthy: n.healthy }));
    this.validators = (await this.pg!.query<{ node_id: string }>('SELECT node_id FROM nodes WHERE is_validator ORDER BY node_id')).rows.map((v) => v.node_id);
  }

  private async readThreshold(): Promise<void> {
    this.thresholdReadAt = Date.now();
    const r = await this.pg!.query<{ value: number }>(`SELECT value FROM detection_settings WHERE key = 'pogq_threshold'`);
    if (r.rows[0]) this.threshold = r.rows[0].value;
  }

  private readFaults(): void {
    const next = this.faultSwitch.poll();
    if (!next) return;
    // "blind" is a bad threshold pushed to the settings (0: nothing scores below it), so it
    // outlives a restart until the threshold is put right (the runbook) or the fault is cleared.
    const wasBlind = this.has('blind');
    const blind = next.modes.includes('blind');
    if (blind && !wasBlind) void this.pg!.query(`UPDATE detection_settings SET value = 0, updated_at = now(), updated_by = 'fault: blind' WHERE key = 'pogq_threshold'`).then(() => this.readThreshold()).catch(() => undefined);
    if (!blind && wasBlind) void this.pg!.query(`UPDATE detection_settings SET value = 0.5, updated_at = now(), updated_by = 'fault cleared' WHERE key = 'pogq_threshold'`).then(() => this.readThreshold()).catch(() => undefined);
    this.faults = next;
    this.log(`faults: ${next.modes.join(', ') || 'none'}`);
    if (next.modes.includes('unhealthy')) void this.pg!.query(`UPDATE nodes SET healthy = (CASE WHEN node_id ~ '^node-[0-9]+$' THEN substr(node_id, 6)::int % 4 <> 0 ELSE true END)`).then(() => this.loadNodes()).catch(() => undefined);
    else void this.pg!.query(`UPDATE nodes SET healthy = true WHERE NOT healthy AND (CASE WHEN node_id ~ '^node-[0-9]+$' THEN substr(node_id, 6)::int % 23 <> 0 ELSE true END)`).then(() => this.loadNodes()).catch(() => undefined);
    const chunks = Math.max(1, Math.min(1024, Math.round((Number.isFinite(next.ballastMb) ? next.ballastMb! : 512) / 8)));
    if (next.modes.includes('memory')) for (let i = 0; i < chunks; i++) this.ballast.push(Buffer.alloc(8 * 1024 * 1024, 1));
    else this.ballast.length = 0;
  }

  private pickType(): EventType {
    let r = Math.random();
    for (const [t, rule] of Object.entries(EVENT_RULES)) {
      r -= rule.weight;
      if (r <= 0) return t as EventType;
    }
    return 'quality_gradient';
  }

  /** Per node and type, counts within the rule's period (hour or day). */
  private overLimit(nodeId: string, type: EventType, now: number): boolean {
    const rule = EVENT_RULES[type];
    const key = `${nodeId}/${type}`;
    const period = rule.per === 'hour' ? 3_600_000 : 86_400_000;
    const list = (this.counts.get(key) ?? []).filter((t) => t >= now - period);
    // A storm: every node acts as if it had used up its allowance.
    const over = list.length >= (this.limits.get(type) ?? rule.limit);
    if (!over) list.push(now);
    this.counts.set(key, list);
    return over;
  }

  private async tick(): Promise<void> {
    if (this.inFlight) return; // one event at a time, like a single integration worker
    this.inFlight = true;
    const now = Date.now();
    try {
      const node = this.nodes[this.seq++ % Math.max(1, this.nodes.length)];
      if (!node) return;
      if (now - this.thresholdReadAt > 1000) void this.readThreshold().catch(() => undefined);
      // A Byzantine node tries its luck now and then with a low-quality gradient (PoGQ 0.05 to
      // 0.45); a validator flags it when the score is under the threshold. One in a hundred slips
      // through anyway, as in production.
      if (this.seq % 5 === 0) {
        const pogq = 0.05 + Math.random() * 0.4;
        const detected = pogq < this.threshold && ++this.attempts % 100 !== 0;
        const detector = this.validators[this.seq % Math.max(1, this.validators.length)];
        let latencyMs: number | undefined;
        if (detected && detector) {
          this.totals.detections++;
          const suspect = this.nodes[(this.seq * 7) % this.nodes.length]!.id;
          // Detection latency: the attempt until its detection is recorded (slow under "slow").
          if (this.has('slow')) await new Promise((r) => setTimeout(r, this.faults.delayMs ?? 4000));
          await this.pg!.query(`INSERT INTO byzantine_detections (detector_id, detected_id, evidence, detected_at) VALUES ($1, $2, $3, now())`, [
            detector,
            suspect,
            JSON.stringify({ pogq_score: Math.round(pogq * 1000) / 1000, threshold: this.threshold, anomaly: 'low-quality-gradient' }),
          ]).then(
            () => void (latencyMs = Date.now() - now),
            () => undefined, // a database outage loses the audit row, not the service
          );
        }
        this.window.recordAttempt(now, detected, latencyMs);
      }
      const type = this.pickType();
      if ((this.banned.get(node.id) ?? 0) > now) return;
      if (this.shedding.until > now && Math.random() < this.shedding.fraction) {
        this.shedding.shed++;
        return;
      }
      // "ratelimit" is spam from a few nodes (the numbers ending in 1): each of their turns is a
      // burst of 20 requests, every one over its limit; the other nodes stay within theirs.
      const burst = this.has('ratelimit') && /1$/.test(node.id) ? 20 : this.overLimit(node.id, type, now) ? 1 : 0;
      if (burst) {
        for (let i = 0; i < burst; i++) {
          this.window.recordViolation(now);
          this.violationLog.push({ at: now, nodeId: node.id, type });
        }
        this.totals.violations += burst;
        if (this.violationLog.length > 100_000) this.violationLog.splice(0, 50_000);
        return;
      }
      const pogq = 0.7 + Math.random() * 0.3;
      const credits = Math.round(baseCredits(type, pogq) * (REPUTATION_MULTIPLIER[node.reputation] ?? 1) * 100) / 100;
      const started = Date.now();
      let ok = true;
      // Which stage failed: the log's error lines say it, as the application's would.
      let stage = 'application';
      try {
        if (this.has('errors') && Math.random() < 0.5) throw new Error('internal error in the credit calculation (fault: errors)');
        stage = 'conductor';
        if (this.has('slow')) await new Promise((r) => setTimeout(r, this.faults.delayMs ?? 4000));
        const creditId = await this.o.conductor.call<string>('create_credit', {
          holder: node.id,
          amount: credits,
          earned_from: `${type}-${this.seq}`,
          verifiers: [],
          event_type: type,
          nonce: `${process.pid}-${this.seq}`,
        });
        stage = 'database';
        await this.pg!.query(
          `INSERT INTO credits (credit_id, holder, amount, event_type, earned_from, pogq_score, verifiers, response_ms)
           VALUES ($1, $2, $3, $4, $5, $6, '{}', $7)`,
          [creditId, node.id, credits, type, `${type}-${this.seq}`, type === 'quality_gradient' ? pogq : null, Date.now() - started],
        );
      } catch (e) {
        ok = false;
        this.totals.errors++;
        this.totals.errorsByKind.set(stage, (this.totals.errorsByKind.get(stage) ?? 0) + 1);
        this.logs?.write('app.log', `${new Date().toISOString()} ERROR kind=${stage} holder=${node.id} ${type}: ${((e as Error).message ?? String(e)).replace(/\s+/g, ' ').slice(0, 300)}`);
      }
      const responseMs = Date.now() - started;
      this.window.record({ at: now, nodeId: node.id, eventType: type, credits: ok ? credits : 0, responseMs, ok });
      if (ok) {
        this.logs?.write('app.log', `${new Date().toISOString()} seq=${++this.eventSeq} ${type} holder=${node.id} credits=${credits} ms=${responseMs}`);
        this.totals.credits += credits;
        this.totals.events++;
        this.totals.byType.set(type, (this.totals.byType.get(type) ?? 0) + 1);
        const seconds = responseMs / 1000;
        const i = this.histogram.bounds.findIndex((b) => seconds <= b);
        this.histogram.counts[i < 0 ? this.histogram.bounds.length : i]!++;
        this.histogram.sum += seconds;
        this.histogram.count++;
      }
    } finally {
      this.inFlight = false;
    }
  }

  /** The application's operations API, which the response runbooks act through: node restarts
   * and bans, rate limits, and the metrics window (size, clearing old entries). */
  private async admin(method: string, url: string, req: AsyncIterable<Buffer>): Promise<unknown> {
    let raw = '';
    for await (const chunk of req) {
      raw += chunk.toString('utf8');
      if (raw.length > 65_536) throw new Error('body over 64 KiB');
    }
    const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
    const now = Date.now();
    const nodeList = (): string[] => {
      const nodes = body.nodes;
      if (!Array.isArray(nodes) || !nodes.every((n) => typeof n === 'string')) throw new Error('expected "nodes": a list of node ids');
      return nodes;
    };
    const route = `${method} ${url.split('?')[0]}`;
    switch (route) {
      case 'POST /admin/nodes/restart': {
        // A node's process comes back unless its host is gone (here: the numbers divisible by 23).
        const ids = nodeList();
        const broken = (id: string): boolean => /^node-[0-9]+$/.test(id) && Number(id.slice(5)) % 23 === 0;
        const known = new Set(this.nodes.map((n) => n.id));
        const restarted = ids.filter((id) => known.has(id) && !broken(id));
        await this.pg!.query(`UPDATE nodes SET healthy = true, last_seen_at = now() WHERE node_id = ANY($1)`, [restarted]);
        await this.loadNodes();
        return { restarted, failed: ids.filter((id) => !restarted.includes(id)).map((id) => ({ node: id, why: known.has(id) ? 'did not come back after the restart (its host does not answer)' : 'unknown node' })) };
      }
      case 'POST /admin/nodes/ban': {
        const seconds = Number(body.seconds);
        if (!Number.isInteger(seconds) || seconds < 1 || seconds > 30 * 86_400) throw new Error('expected "seconds": a whole number from 1 to 2592000');
        for (const id of nodeList()) this.banned.set(id, now + seconds * 1000);
        return { banned: [...this.banned].filter(([, until]) => until > now).map(([node, until]) => ({ node, until: new Date(until).toISOString() })) };
      }
      case 'GET /admin/rate-limits': {
        const from = now - this.window.windowMs;
        const byNode = new Map<string, Record<string, number>>();
        for (const v of this.violationLog) {
          if (v.at < from) continue;
          const m = byNode.get(v.nodeId) ?? {};
          m[v.type] = (m[v.type] ?? 0) + 1;
          byNode.set(v.nodeId, m);
        }
        const perMinute = new Map<number, number>();
        for (const v of this.violationLog) if (v.at >= from) perMinute.set(Math.floor(v.at / 60_000), (perMinute.get(Math.floor(v.at / 60_000)) ?? 0) + 1);
        return {
          limits: Object.fromEntries(Object.entries(EVENT_RULES).map(([t, r]) => [t, { limit: this.limits.get(t) ?? r.limit, per: r.per }])),
          violations: [...byNode].map(([node, byType]) => ({ node, byType })),
          perMinute: [...perMinute].sort((a, b) => a[0] - b[0]).map(([m, n]) => ({ at: new Date(m * 60_000).toISOString(), violations: n })),
          activeNodes: this.window.activeNodes(now).size,
          banned: [...this.banned].filter(([, until]) => until > now).map(([node]) => node),
        };
      }
      case 'POST /admin/rate-limits': {
        const type = String(body.eventType);
        const limit = Number(body.limit);
        if (!Object.hasOwn(EVENT_RULES, type)) throw new Error(`expected "eventType" among ${Object.keys(EVENT_RULES).join(', ')}`);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1_000_000) throw new Error('expected "limit": a whole number from 1 to 1000000');
        this.limits.set(type, limit);
        return { eventType: type, limit };
      }
      case 'GET /admin/load-shedding':
        return { fraction: this.shedding.until > now ? this.shedding.fraction : 0, until: this.shedding.until > now ? new Date(this.shedding.until).toISOString() : null, shed: this.shedding.shed };
      case 'POST /admin/load-shedding': {
        const fraction = Number(body.fraction);
        const seconds = Number(body.seconds);
        if (!(fraction >= 0 && fraction <= 0.9)) throw new Error('expected "fraction": the share of events to turn away, from 0 to 0.9');
        if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86_400) throw new Error('expected "seconds": a whole number from 1 to 86400');
        this.shedding = { fraction, until: fraction > 0 ? now + seconds * 1000 : 0, shed: this.shedding.shed };
        return { fraction, until: fraction > 0 ? new Date(this.shedding.until).toISOString() : null, shed: this.shedding.shed };
      }
      case 'GET /admin/metrics': {
        return { windowMinutes: this.window.windowMs / 60_000, entries: this.window.size(), memoryBytes: process.memoryUsage().rss };
      }
      case 'POST /admin/metrics/window': {
        const minutes = Number(body.minutes);
        if (!Number.isInteger(minutes) || minutes < 5 || minutes > 24 * 60) throw new Error('expected "minutes": a whole number from 5 to 1440');
        this.window.windowMs = minutes * 60_000;
        this.window.figures(now); // prunes what is now outside it
        return { windowMinutes: minutes, entries: this.window.size() };
      }
      case 'POST /admin/metrics/clear': {
        const keepSeconds = Number(body.keepSeconds);
        if (!Number.isInteger(keepSeconds) || keepSeconds < 0) throw new Error('expected "keepSeconds": a whole number of seconds to keep');
        const dropped = this.window.clearOlderThan(now, keepSeconds * 1000);
        // The "memory" fault is a bloated metrics collector: clearing it frees the bloat.
        const freed = this.ballast.reduce((n, b) => n + b.length, 0);
        this.ballast.length = 0;
        (globalThis as { gc?: () => void }).gc?.();
        return { dropped, freedBytes: freed, entries: this.window.size() };
      }
      default:
        throw new Error(`no such operation: ${route}`);
    }
  }

  /** Active nodes (an event in the window) and, of those, the healthy ones. */
  nodeHealth(now: number): { active: number; healthy: number } {
    const active = this.window.activeNodes(now);
    return { active: active.size, healthy: this.nodes.filter((n) => n.healthy && active.has(n.id)).length };
  }

  statusReport(now = Date.now()): StatusReport {
    const f = this.window.figures(now);
    const { active, healthy } = this.nodeHealth(now);
    const report: StatusReport = {
      timestamp: new Date(now).toISOString(),
      system_status: 'healthy',
      metrics: {
        throughput: { events_per_minute: f.eventsPerMinute, events_per_hour: f.eventsPerHour, credits_per_minute: f.creditsPerMinute, credits_per_hour: f.creditsPerHour },
        performance: { avg_response_ms: Math.round(f.avgResponseMs), p95_response_ms: f.p95ResponseMs, p99_response_ms: f.p99ResponseMs },
        security: {
          byzantine_detections_last_hour: f.detectionsLastHour,
          detection_rate: f.detectionRate,
          ...(f.detectionLatencySeconds === undefined ? {} : { detection_latency_seconds: f.detectionLatencySeconds }),
          ...(this.falsePositiveRate === undefined ? {} : { false_positive_rate: this.falsePositiveRate }),
        },
        health: { active_nodes: active, healthy_nodes: healthy, error_rate: f.errorRate, rate_limit_violations: f.rateLimitViolations, uptime: this.uptime.ratio(now) },
      },
      alerts: [],
    };
    // The monitor raises its alerts from the same KPI tables the runbook uses.
    const results = evaluateKpis(figuresFromStatusReport(report, { memoryBytes: process.memoryUsage().rss }));
    report.alerts = results
      .filter((r) => r.level === 'warning' || r.level === 'critical')
      .map((r) => ({ severity: r.level, category: r.table, message: `${r.label}: ${r.value} (threshold ${r.threshold})` }));
    report.system_status = report.alerts.some((a) => a.severity === 'critical') ? 'critical' : report.alerts.length ? 'degraded' : 'healthy';
    return report;
  }

  prometheus(now = Date.now()): string {
    const f = this.window.figures(now);
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: Array<[string, number]>): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
    };
    metric('zerotrustml_credits_issued_total', 'counter', 'Total credits issued', [['', this.totals.credits]]);
    metric('zerotrustml_events_total', 'counter', 'Credit events issued, by type', [...this.totals.byType].map(([t, n]) => [`{event_type="${t}"}`, n]));
    lines.push('# HELP zerotrustml_response_time_seconds Response time of credit events', '# TYPE zerotrustml_response_time_seconds histogram');
    let cumulative = 0;
    this.histogram.bounds.forEach((b, i) => {
      cumulative += this.histogram.counts[i]!;
      lines.push(`zerotrustml_response_time_seconds_bucket{le="${b}"} ${cumulative}`);
    });
    lines.push(`zerotrustml_response_time_seconds_bucket{le="+Inf"} ${this.histogram.count}`);
    lines.push(`zerotrustml_response_time_seconds_sum ${this.histogram.sum}`, `zerotrustml_response_time_seconds_count ${this.histogram.count}`);
    metric('zerotrustml_byzantine_detections_total', 'counter', 'Byzantine detections', [['', this.totals.detections]]);
    metric('zerotrustml_byzantine_detection_rate', 'gauge', 'Detected share of Byzantine attempts in the window', [['', f.detectionRate]]);
    const nodes = this.nodeHealth(now);
    metric('zerotrustml_active_nodes', 'gauge', 'Active nodes (an event within the window)', [['', nodes.active]]);
    metric('zerotrustml_healthy_nodes', 'gauge', 'Healthy nodes among the active ones', [['', nodes.healthy]]);
    metric('zerotrustml_error_rate', 'gauge', 'Failed share of credit events in the window', [['', f.errorRate]]);
    metric('zerotrustml_rate_limit_violations_total', 'counter', 'Rate-limit violations', [['', this.totals.violations]]);
    metric('zerotrustml_events_shed_total', 'counter', 'Credit events turned away by load shedding', [['', this.shedding.shed]]);
    if (f.detectionLatencySeconds !== undefined) metric('zerotrustml_detection_latency_seconds', 'gauge', 'Mean time from a Byzantine attempt to its recorded detection in the window', [['', f.detectionLatencySeconds]]);
    if (this.falsePositiveRate !== undefined) metric('zerotrustml_false_positive_rate', 'gauge', 'Confirmed false positives (reputation restores) per detection in the last hour', [['', this.falsePositiveRate]]);
    metric('zerotrustml_uptime_ratio', 'gauge', 'Share of the last 30 days the service ran (its own record)', [['', this.uptime.ratio(now)]]);
    metric('zerotrustml_errors_total', 'counter', 'Failed credit events, by the stage that failed', [...this.totals.errorsByKind].map(([k, n]) => [`{kind="${k}"}`, n]));
    metric('zerotrustml_memory_usage_bytes', 'gauge', 'Resident memory of the service', [['', process.memoryUsage().rss]]);
    return lines.join('\n') + '\n';
  }
}

/** The minutes the service ran over the last 30 days, kept in a file as ranges, so a restart
 * shows its gap: the application's own uptime figure. */
export class UptimeRecord {
  private ranges: Array<[number, number]> = [];
  private static readonly DAYS = 30;

  constructor(private readonly file: string) {
    try {
      const r = JSON.parse(readFileSync(file, 'utf8')) as { ranges?: unknown };
      if (Array.isArray(r.ranges)) this.ranges = r.ranges.filter((x): x is [number, number] => Array.isArray(x) && x.length === 2 && x.every(Number.isInteger));
    } catch {
      // no record yet (or a damaged one): it starts now
    }
  }

  mark(now: number): void {
    const minute = Math.floor(now / 60_000);
    const last = this.ranges[this.ranges.length - 1];
    if (last && minute <= last[1] + 1) last[1] = Math.max(last[1], minute);
    else this.ranges.push([minute, minute]);
    const from = minute - UptimeRecord.DAYS * 1440;
    this.ranges = this.ranges.filter((r) => r[1] >= from).map((r) => [Math.max(r[0], from), r[1]]);
    try {
      writeFileSync(this.file, JSON.stringify({ ranges: this.ranges }));
    } catch {
      // a read-only data directory: the figure stays in memory
    }
  }

  /** Minutes ran / minutes since the first record (at most 30 days); 1 with no record. Asked by
   * the running service: the current minute counts as ran even before its mark (marks are 10 s
   * apart, so a new minute would otherwise read as an outage for up to 10 s: CI saw it). */
  ratio(now: number): number {
    const first = this.ranges[0];
    const last = this.ranges[this.ranges.length - 1];
    if (!first || !last) return 1;
    const minute = Math.floor(now / 60_000);
    const ran = this.ranges.reduce((n, r) => n + (Math.min(r[1], minute) - r[0] + 1), 0) + (minute > last[1] ? 1 : 0);
    return Math.min(1, ran / (minute - first[0] + 1));
  }
}
