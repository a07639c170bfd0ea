// The production monitor's sliding window (60 minutes by default): every credit event, Byzantine
// detection attempt, error and rate-limit violation with its time, from which the status report's
// metrics are computed, as the original monitor computes them.
export interface EventRecord {
  at: number;
  nodeId: string;
  eventType: string;
  credits: number;
  responseMs: number;
  ok: boolean;
}

export interface WindowFigures {
  eventsPerMinute: number;
  eventsPerHour: number;
  creditsPerMinute: number;
  creditsPerHour: number;
  avgResponseMs: number;
  p95ResponseMs: number;
  p99ResponseMs: number;
  detectionsLastHour: number;
  detectionRate: number;
  /** Mean time from a Byzantine attempt to its detection recorded, seconds (undefined: none). */
  detectionLatencySeconds?: number;
  errorRate: number;
  rateLimitViolations: number;
}

export class MetricsWindow {
  private events: EventRecord[] = [];
  private attempts: Array<{ at: number; detected: boolean; latencyMs?: number }> = [];
  private violations: number[] = [];

  constructor(public windowMs = 60 * 60_000) {}

  /** Entries held (events, detection attempts, violations). */
  size(): number {
    return this.events.length + this.attempts.length + this.violations.length;
  }

  private prune(now: number): void {
    const from = now - this.windowMs;
    if (this.events.length && this.events[0]!.at < from) this.events = this.events.filter((e) => e.at >= from);
    if (this.attempts.length && this.attempts[0]!.at < from) this.attempts = this.attempts.filter((a) => a.at >= from);
    if (this.violations.length && this.violations[0]! < from) this.violations = this.violations.filter((v) => v >= from);
  }

  record(e: EventRecord): void {
    this.events.push(e);
  }

  recordAttempt(at: number, detected: boolean, latencyMs?: number): void {
    this.attempts.push({ at, detected, ...(latencyMs === undefined ? {} : { latencyMs }) });
  }

  recordViolation(at: number): void {
    this.violations.push(at);
  }

  /** Drops everything older than `keepMs` (the runbook's "clear old metrics"). */
  clearOlderThan(now: number, keepMs: number): number {
    const before = this.events.length;
    this.events = this.events.filter((e) => e.at >= now - keepMs);
    return before - this.events.length;
  }

  /** Nodes that issued an event within the window. */
  activeNodes(now: number): Set<string> {
    this.prune(now);
    return new Set(this.events.map((e) => e.nodeId));
  }

  figures(now: number): WindowFigures {
    this.prune(now);
    const lastMinute = this.events.filter((e) => e.at >= now - 60_000);
    const ok = this.events.filter((e) => e.ok);
    const times = ok.map((e) => e.responseMs).sort((a, b) => a - b);
    const pct = (p: number): number => (times.length ? times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)]! : 0);
    const lastHour = this.events.filter((e) => e.at >= now - 3_600_000);
    const detections = this.attempts.filter((a) => a.detected).length;
    const latencies = this.attempts.filter((a) => a.latencyMs !== undefined).map((a) => a.latencyMs!);
    return {
      eventsPerMinute: lastMinute.length,
      eventsPerHour: lastHour.length,
      creditsPerMinute: round2(lastMinute.filter((e) => e.ok).reduce((s, e) => s + e.credits, 0)),
      creditsPerHour: round2(lastHour.filter((e) => e.ok).reduce((s, e) => s + e.credits, 0)),
      avgResponseMs: times.length ? times.reduce((s, t) => s + t, 0) / times.length : 0,
      p95ResponseMs: pct(95),
      p99ResponseMs: pct(99),
      detectionsLastHour: this.attempts.filter((a) => a.detected && a.at >= now - 3_600_000).length,
      detectionRate: this.attempts.length ? detections / this.attempts.length : 1,
      detectionLatencySeconds: latencies.length ? Math.round(latencies.reduce((s, x) => s + x, 0) / latencies.length) / 1000 : undefined,
      errorRate: this.events.length ? this.events.filter((e) => !e.ok).length / this.events.length : 0,
      rateLimitViolations: this.violations.filter((v) => v >= now - 3_600_000).length,
    };
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
