// KPI evaluation at each threshold boundary of the runbook's tables: "<5" warns below 5, not at
// 5; ">3000ms" warns above 3000, not at 3000; critical wins over warning; between the target and
// the warning threshold a KPI is outside its target (no alert).
import { defaultKpiRules, evaluateKpis, figuresFromStatusReport, kpiRules, levelOf, type StatusReport } from '../../common/kpi';

const rule = (name: string) => defaultKpiRules.find((r) => r.name === name)!;

test.each([
  // [kpi, value, level]
  ['eventsPerMinute', 5, 'outside-target'],
  ['eventsPerMinute', 10, 'ok'],
  ['eventsPerMinute', 50, 'ok'],
  ['eventsPerMinute', 51, 'outside-target'],
  ['eventsPerMinute', 4.99, 'warning'],
  ['eventsPerMinute', 2, 'warning'],
  ['eventsPerMinute', 1.99, 'critical'],
  ['creditsPerHour', 500, 'outside-target'],
  ['creditsPerHour', 1000, 'ok'],
  ['creditsPerHour', 10_001, 'outside-target'],
  ['creditsPerHour', 499, 'warning'],
  ['creditsPerHour', 99, 'critical'],
  ['avgResponseMs', 1000, 'ok'],
  ['avgResponseMs', 3000, 'outside-target'],
  ['avgResponseMs', 3001, 'warning'],
  ['avgResponseMs', 5000, 'warning'],
  ['avgResponseMs', 5001, 'critical'],
  ['p99ResponseMs', 3000, 'ok'],
  ['p99ResponseMs', 5000, 'outside-target'],
  ['p99ResponseMs', 10000, 'warning'],
  ['p99ResponseMs', 10001, 'critical'],
  ['detectionRate', 0.95, 'ok'],
  ['detectionRate', 0.9, 'outside-target'],
  ['detectionRate', 0.8999, 'warning'],
  ['detectionRate', 0.85, 'warning'],
  ['detectionRate', 0.8499, 'critical'],
  ['falsePositiveRate', 0.01, 'ok'],
  ['falsePositiveRate', 0.02, 'outside-target'],
  ['falsePositiveRate', 0.021, 'warning'],
  ['falsePositiveRate', 0.051, 'critical'],
  ['detectionLatencySeconds', 5, 'ok'],
  ['detectionLatencySeconds', 10, 'outside-target'],
  ['detectionLatencySeconds', 30.5, 'critical'],
  ['uptime', 0.999, 'ok'],
  ['uptime', 0.995, 'outside-target'],
  ['uptime', 0.9949, 'warning'],
  ['uptime', 0.9899, 'critical'],
  ['healthyNodeRatio', 0.95, 'ok'],
  ['healthyNodeRatio', 0.9, 'outside-target'],
  ['healthyNodeRatio', 0.86, 'warning'],
  ['healthyNodeRatio', 0.84, 'critical'],
  ['errorRate', 0.001, 'ok'],
  ['errorRate', 0.01, 'outside-target'],
  ['errorRate', 0.0101, 'warning'],
  ['errorRate', 0.0501, 'critical'],
  ['rateLimitViolationsPerHour', 10, 'ok'],
  ['rateLimitViolationsPerHour', 50, 'outside-target'],
  ['rateLimitViolationsPerHour', 51, 'warning'],
  ['rateLimitViolationsPerHour', 101, 'critical'],
  ['activeNodes', 75, 'ok'],
  ['activeNodes', 49, 'outside-target'],
  ['activeNodes', 150, 'outside-target'],
  ['activeNodes', 151, 'warning'],
  ['activeNodes', 201, 'critical'],
  ['memoryBytes', 2 * 1024 ** 3, 'ok'],
  ['memoryBytes', 4 * 1024 ** 3, 'outside-target'],
  ['memoryBytes', 4 * 1024 ** 3 + 1, 'warning'],
  ['memoryBytes', 6 * 1024 ** 3 + 1, 'critical'],
  ['storageGrowthBytesPerDay', 100 * 1024 ** 2, 'ok'],
  ['storageGrowthBytesPerDay', 500 * 1024 ** 2, 'outside-target'],
  ['storageGrowthBytesPerDay', 1024 ** 3 + 1, 'critical'],
])('%s = %p is %s', (name, value, level) => {
  expect(levelOf(rule(name), value)).toBe(level);
});

test('a missing figure is unknown, not ok', () => {
  const results = evaluateKpis({ avgResponseMs: 100 });
  expect(results.find((r) => r.name === 'avgResponseMs')).toMatchObject({ level: 'ok', target: '<1000' });
  expect(results.find((r) => r.name === 'detectionRate')?.level).toBe('unknown');
});

test('configured thresholds replace the defaults; a warning milder than critical is required', () => {
  const rules = kpiRules({ avgResponseMs: { warning: 1000 } });
  expect(levelOf(rules.find((r) => r.name === 'avgResponseMs')!, 1500)).toBe('warning');
  expect(() => kpiRules({ detectionRate: { warning: 0.8, critical: 0.85 } })).toThrow(/kpi\.detectionRate: expected the critical threshold to be at or below the warning threshold/);
});

test('figures come from the status report shape', () => {
  const report: StatusReport = {
    timestamp: '2025-10-01T02:00:00Z',
    system_status: 'degraded',
    metrics: {
      throughput: { events_per_minute: 12, events_per_hour: 720, credits_per_minute: 30, credits_per_hour: 1800 },
      performance: { avg_response_ms: 3200, p95_response_ms: 4000, p99_response_ms: 6000 },
      security: { byzantine_detections_last_hour: 3, detection_rate: 0.97 },
      health: { active_nodes: 80, healthy_nodes: 60, error_rate: 0.002, rate_limit_violations: 4 },
    },
    alerts: [],
  };
  const byName = Object.fromEntries(evaluateKpis(figuresFromStatusReport(report, { memoryBytes: 1e9 })).map((r) => [r.name, r.level]));
  expect(byName).toMatchObject({ avgResponseMs: 'warning', p99ResponseMs: 'warning', healthyNodeRatio: 'critical', eventsPerMinute: 'ok', memoryBytes: 'ok', errorRate: 'outside-target', uptime: 'unknown' });
});
