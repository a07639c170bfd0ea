// The Grafana dashboard of the runbook's four KPI tables, generated from common/kpi.ts so its
// threshold lines are the ones the health check and the alert rules use, and a row on the
// automation itself (backup ages, failed runs, incidents, schedules, WAL archiving). Writes
// zerotrustml-kpis.json beside this file: `node --import tsx deploy/grafana/dashboard.ts`.
// A test checks the committed JSON is what this produces and that every query runs in Prometheus.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultKpiRules, targetText, type KpiName, type KpiTable } from '../../common/kpi';
import { projectRoot } from '../../config/project';

/** The PromQL of each KPI, on the credits service's metrics (and postgres_exporter for storage). */
export const kpiQueries: Record<KpiName, { expr: string; unit: string; scale?: number }> = {
  eventsPerMinute: { expr: 'sum(rate(zerotrustml_events_total[5m])) * 60', unit: 'short' },
  creditsPerHour: { expr: 'increase(zerotrustml_credits_issued_total[1h])', unit: 'short' },
  avgResponseMs: { expr: '1000 * sum(rate(zerotrustml_response_time_seconds_sum[5m])) / sum(rate(zerotrustml_response_time_seconds_count[5m]))', unit: 'ms' },
  p99ResponseMs: { expr: '1000 * histogram_quantile(0.99, sum by (le) (rate(zerotrustml_response_time_seconds_bucket[5m])))', unit: 'ms' },
  detectionRate: { expr: 'zerotrustml_byzantine_detection_rate', unit: 'percentunit' },
  falsePositiveRate: { expr: 'zerotrustml_false_positive_rate', unit: 'percentunit' },
  detectionLatencySeconds: { expr: 'zerotrustml_detection_latency_seconds', unit: 's' },
  uptime: { expr: 'avg_over_time(up{job="zerotrustml-credits"}[30d])', unit: 'percentunit' },
  healthyNodeRatio: { expr: 'zerotrustml_healthy_nodes / zerotrustml_active_nodes', unit: 'percentunit' },
  errorRate: { expr: 'zerotrustml_error_rate', unit: 'percentunit' },
  rateLimitViolationsPerHour: { expr: 'increase(zerotrustml_rate_limit_violations_total[1h])', unit: 'short' },
  activeNodes: { expr: 'zerotrustml_active_nodes', unit: 'short' },
  memoryBytes: { expr: 'zerotrustml_memory_usage_bytes', unit: 'bytes' },
  storageGrowthBytesPerDay: { expr: 'deriv(pg_database_size_bytes{datname="credits"}[6h]) * 86400', unit: 'bytes' },
};

const TABLES: KpiTable[] = ['throughput', 'security', 'availability', 'capacity'];

/** The automation's own row: what protects the data and whether the runbooks run (the receiver's
 * and the physical tier's figures; thresholds as in the alert rules). */
export const automationQueries: Array<{ title: string; expr: string; unit: string; warning?: number; critical?: number }> = [
  { title: 'Backup age (newest success)', expr: '(time() - zerotrustml_runbook_last_success_timestamp_seconds{runbook=~"database-backup|dht-export|config-backup|physical-backup"}) / 3600', unit: 'h', warning: 26, critical: 48 },
  { title: 'Last run failed', expr: 'zerotrustml_runbook_last_run_failed == 1', unit: 'short', warning: 1, critical: 1 },
  { title: 'Failed runs (24 h)', expr: 'zerotrustml_runbook_failed_runs_24h > 0', unit: 'short', warning: 1, critical: 3 },
  { title: 'Open incidents (age)', expr: 'zerotrustml_incident_open_seconds / 3600', unit: 'h', warning: 1, critical: 4 },
  { title: 'Schedules: late by', expr: 'clamp_min(time() - zerotrustml_schedule_next_action_timestamp_seconds, 0)', unit: 's', warning: 300, critical: 600 },
  { title: 'WAL not archived (oldest change)', expr: 'zerotrustml_wal_at_risk_seconds', unit: 's', warning: 60, critical: 120 },
  { title: "pg_wal's disk free", expr: 'zerotrustml_pg_wal_filesystem_free_bytes / zerotrustml_pg_wal_filesystem_size_bytes', unit: 'percentunit' },
  { title: 'Physical backup age', expr: '(time() - max(zerotrustml_physical_backup_last_completion_timestamp_seconds)) / 3600', unit: 'h', warning: 26, critical: 48 },
];

export function kpiDashboard(): object {
  const panels: object[] = [];
  let id = 1;
  let y = 0;
  for (const table of TABLES) {
    panels.push({ id: id++, type: 'row', title: `${table[0]!.toUpperCase()}${table.slice(1)} KPIs`, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y: y++ }, panels: [] });
    const rules = defaultKpiRules.filter((r) => r.table === table);
    rules.forEach((rule, i) => {
      const q = kpiQueries[rule.name];
      // Green until the warning threshold, yellow to critical, red beyond; "below" KPIs invert.
      const steps =
        rule.bad === 'above'
          ? [{ color: 'green', value: null }, { color: 'yellow', value: rule.warning }, { color: 'red', value: rule.critical }]
          : [{ color: 'red', value: null }, { color: 'yellow', value: rule.critical }, { color: 'green', value: rule.warning }];
      panels.push({
        id: id++,
        type: 'timeseries',
        title: rule.label,
        description: `Runbook KPI "${rule.label}": target ${targetText(rule)}, warning ${rule.bad} ${rule.warning}, critical ${rule.bad} ${rule.critical} (${rule.unit}).`,
        datasource: { type: 'prometheus', uid: '${datasource}' },
        gridPos: { h: 7, w: 6, x: (i % 4) * 6, y: y + Math.floor(i / 4) * 7 },
        targets: [{ refId: 'A', expr: q.expr, legendFormat: rule.label, datasource: { type: 'prometheus', uid: '${datasource}' } }],
        fieldConfig: {
          defaults: { unit: q.unit, thresholds: { mode: 'absolute', steps }, custom: { thresholdsStyle: { mode: 'line+area' } } },
          overrides: [],
        },
        options: { legend: { showLegend: false }, tooltip: { mode: 'single' } },
      });
    });
    y += Math.ceil(rules.length / 4) * 7;
  }
  panels.push({ id: id++, type: 'row', title: 'Automation and backups', collapsed: false, gridPos: { h: 1, w: 24, x: 0, y: y++ }, panels: [] });
  automationQueries.forEach((q, i) => {
    const steps = q.warning === undefined ? [{ color: 'green', value: null }] : [{ color: 'green', value: null }, { color: 'yellow', value: q.warning }, { color: 'red', value: q.critical }];
    panels.push({
      id: id++,
      type: 'timeseries',
      title: q.title,
      datasource: { type: 'prometheus', uid: '${datasource}' },
      gridPos: { h: 7, w: 6, x: (i % 4) * 6, y: y + Math.floor(i / 4) * 7 },
      targets: [{ refId: 'A', expr: q.expr, datasource: { type: 'prometheus', uid: '${datasource}' } }],
      fieldConfig: { defaults: { unit: q.unit, thresholds: { mode: 'absolute', steps }, custom: { thresholdsStyle: { mode: 'line+area' } } }, overrides: [] },
      options: { legend: { showLegend: true }, tooltip: { mode: 'multi' } },
    });
  });
  return {
    title: 'Zero-TrustML Credits: KPIs',
    uid: 'zerotrustml-kpis',
    description: "The operations runbook's KPI tables with their warning and critical thresholds.",
    tags: ['zerotrustml', 'runbook'],
    schemaVersion: 39,
    version: 1,
    editable: true,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' }] },
    panels,
  };
}

export const dashboardFile = path.join(projectRoot, 'deploy', 'grafana', 'zerotrustml-kpis.json');

if (require.main === module) {
  writeFileSync(dashboardFile, JSON.stringify(kpiDashboard(), null, 2) + '\n');
  console.log(`wrote ${dashboardFile}`);
}
