// The runbook's four KPI tables (throughput, security, availability, capacity) with their warning
// and critical thresholds, and their evaluation. Pure: the health-check workflow, the CLI and the
// tests share it. The defaults are the runbook's tables; every threshold is configuration.

export type KpiTable = 'throughput' | 'security' | 'availability' | 'capacity';
/** ok: within its target; outside-target: not yet at a threshold, but not where it should be
 * (no alert; the reviews and `runbook status` show it). */
export type KpiLevel = 'ok' | 'outside-target' | 'warning' | 'critical' | 'unknown';

/** The figures a KPI check reads: the status report's metrics plus host figures. */
export interface KpiFigures {
  eventsPerMinute: number;
  creditsPerHour: number;
  avgResponseMs: number;
  p99ResponseMs: number;
  /** 0..1 */
  detectionRate: number;
  /** 0..1 */
  falsePositiveRate: number;
  detectionLatencySeconds: number;
  /** 0..1 */
  uptime: number;
  /** healthy nodes / active nodes, 0..1 */
  healthyNodeRatio: number;
  /** 0..1 */
  errorRate: number;
  rateLimitViolationsPerHour: number;
  activeNodes: number;
  memoryBytes: number;
  storageGrowthBytesPerDay: number;
}

export type KpiName = keyof KpiFigures;

export interface KpiRule {
  name: KpiName;
  table: KpiTable;
  label: string;
  /** "below": bad when the value falls under a threshold; "above": when it exceeds one. */
  bad: 'below' | 'above';
  warning: number;
  critical: number;
  unit: string;
  /** The runbook's Target column: the range the value should stay in (either bound may be open). */
  target: { min?: number; max?: number };
}

const GB = 1024 ** 3;
const MB = 1024 ** 2;

/** The runbook's KPI tables, as written there (strict comparisons: "<5" warns at 4.9, not at 5). */
export const defaultKpiRules: readonly KpiRule[] = [
  { name: 'eventsPerMinute', table: 'throughput', label: 'Events per minute', bad: 'below', warning: 5, critical: 2, unit: '/min', target: { min: 10, max: 50 } },
  { name: 'creditsPerHour', table: 'throughput', label: 'Credits per hour', bad: 'below', warning: 500, critical: 100, unit: '/h', target: { min: 1000, max: 10_000 } },
  { name: 'avgResponseMs', table: 'throughput', label: 'Average response time', bad: 'above', warning: 3000, critical: 5000, unit: 'ms', target: { max: 1000 } },
  { name: 'p99ResponseMs', table: 'throughput', label: 'P99 response time', bad: 'above', warning: 5000, critical: 10000, unit: 'ms', target: { max: 3000 } },
  { name: 'detectionRate', table: 'security', label: 'Byzantine detection rate', bad: 'below', warning: 0.9, critical: 0.85, unit: 'ratio', target: { min: 0.95 } },
  { name: 'falsePositiveRate', table: 'security', label: 'False positive rate', bad: 'above', warning: 0.02, critical: 0.05, unit: 'ratio', target: { max: 0.01 } },
  { name: 'detectionLatencySeconds', table: 'security', label: 'Detection latency', bad: 'above', warning: 10, critical: 30, unit: 's', target: { max: 5 } },
  { name: 'uptime', table: 'availability', label: 'System uptime', bad: 'below', warning: 0.995, critical: 0.99, unit: 'ratio', target: { min: 0.999 } },
  { name: 'healthyNodeRatio', table: 'availability', label: 'Healthy node %', bad: 'below', warning: 0.9, critical: 0.85, unit: 'ratio', target: { min: 0.95 } },
  { name: 'errorRate', table: 'availability', label: 'Error rate', bad: 'above', warning: 0.01, critical: 0.05, unit: 'ratio', target: { max: 0.001 } },
  { name: 'rateLimitViolationsPerHour', table: 'availability', label: 'Rate limit violations', bad: 'above', warning: 50, critical: 100, unit: '/h', target: { max: 10 } },
  { name: 'activeNodes', table: 'capacity', label: 'Active nodes', bad: 'above', warning: 150, critical: 200, unit: 'nodes', target: { min: 50, max: 100 } },
  { name: 'memoryBytes', table: 'capacity', label: 'Memory usage', bad: 'above', warning: 4 * GB, critical: 6 * GB, unit: 'bytes', target: { max: 2 * GB } },
  { name: 'storageGrowthBytesPerDay', table: 'capacity', label: 'Storage growth', bad: 'above', warning: 500 * MB, critical: 1 * GB, unit: 'bytes/day', target: { max: 100 * MB } },
];

export type KpiOverrides = Partial<Record<KpiName, { warning?: number; critical?: number }>>;

/** Why a rule's thresholds are out of order (the warning must be the milder), or undefined. */
export function thresholdOrderProblem(rule: KpiRule): string | undefined {
  const ordered = rule.bad === 'below' ? rule.critical <= rule.warning : rule.critical >= rule.warning;
  return ordered
    ? undefined
    : `expected the critical threshold to be ${rule.bad === 'below' ? 'at or below' : 'at or above'} the warning threshold, found warning ${rule.warning} and critical ${rule.critical}`;
}

/** The rules with configured thresholds applied; a warning must be the milder of the two. */
export function kpiRules(overrides: KpiOverrides = {}): KpiRule[] {
  return defaultKpiRules.map((r) => {
    const o = overrides[r.name];
    const rule = { ...r, warning: o?.warning ?? r.warning, critical: o?.critical ?? r.critical };
    const problem = thresholdOrderProblem(rule);
    if (problem) throw new Error(`kpi.${r.name}: ${problem}`);
    return rule;
  });
}

export interface KpiResult {
  name: KpiName;
  table: KpiTable;
  label: string;
  value: number | undefined;
  level: KpiLevel;
  threshold?: number;
  /** The Target column (targetText). */
  target?: string;
}

/** A level that raises an alert (the KPI is past its warning or critical threshold). */
export function isBreach(level: KpiLevel): level is 'warning' | 'critical' {
  return level === 'warning' || level === 'critical';
}

export function levelOf(rule: KpiRule, value: number | undefined): KpiLevel {
  if (value === undefined || Number.isNaN(value)) return 'unknown';
  const worse = (v: number, t: number): boolean => (rule.bad === 'below' ? v < t : v > t);
  if (worse(value, rule.critical)) return 'critical';
  if (worse(value, rule.warning)) return 'warning';
  if ((rule.target.min !== undefined && value < rule.target.min) || (rule.target.max !== undefined && value > rule.target.max)) return 'outside-target';
  return 'ok';
}

/** The Target column as the runbook writes it: "10-50", "<1000", ">0.95". */
export function targetText(rule: Pick<KpiRule, 'target'>): string {
  const { min, max } = rule.target;
  if (min !== undefined && max !== undefined) return `${min}-${max}`;
  if (max !== undefined) return `<${max}`;
  return min !== undefined ? `>${min}` : '';
}

export function evaluateKpis(figures: Partial<KpiFigures>, rules: readonly KpiRule[] = defaultKpiRules): KpiResult[] {
  return rules.map((rule) => {
    const value = figures[rule.name];
    const level = levelOf(rule, value);
    return {
      name: rule.name,
      table: rule.table,
      label: rule.label,
      value,
      level,
      threshold: level === 'critical' ? rule.critical : level === 'warning' ? rule.warning : undefined,
      target: targetText(rule),
    };
  });
}

/** The status report's shape (the production monitor's get_status_report). */
export interface StatusReport {
  timestamp: string;
  system_status: 'healthy' | 'degraded' | 'critical';
  metrics: {
    throughput: { events_per_minute: number; events_per_hour: number; credits_per_minute: number; credits_per_hour: number };
    performance: { avg_response_ms: number; p95_response_ms: number; p99_response_ms: number };
    /** detection_latency_seconds and false_positive_rate: absent from monitors that do not measure them. */
    security: { byzantine_detections_last_hour: number; detection_rate: number; detection_latency_seconds?: number; false_positive_rate?: number };
    /** uptime: the share of the last 30 days the application ran, absent when not measured. */
    health: { active_nodes: number; healthy_nodes: number; error_rate: number; rate_limit_violations: number; uptime?: number };
  };
  alerts: Array<{ severity: string; category: string; message: string; resolution?: string }>;
}

/** KPI figures from a status report (and host figures the report does not carry). */
export function figuresFromStatusReport(r: StatusReport, host: Partial<KpiFigures> = {}): Partial<KpiFigures> {
  const m = r.metrics;
  return {
    eventsPerMinute: m.throughput.events_per_minute,
    creditsPerHour: m.throughput.credits_per_hour,
    avgResponseMs: m.performance.avg_response_ms,
    p99ResponseMs: m.performance.p99_response_ms,
    detectionRate: m.security.detection_rate,
    falsePositiveRate: m.security.false_positive_rate,
    detectionLatencySeconds: m.security.detection_latency_seconds,
    uptime: m.health.uptime,
    healthyNodeRatio: m.health.active_nodes > 0 ? m.health.healthy_nodes / m.health.active_nodes : undefined,
    errorRate: m.health.error_rate,
    rateLimitViolationsPerHour: m.health.rate_limit_violations,
    activeNodes: m.health.active_nodes,
    ...host,
  };
}
