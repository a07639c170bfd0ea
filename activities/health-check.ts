// The built-in health check: reads the application's status report, evaluates the runbook's KPI
// tables, and raises or resolves alerts through the same routing as Alertmanager's, so both
// paths start the same runbook, once per incident.
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { Alert } from '../common/alerts';
import { evaluateKpis, figuresFromStatusReport, kpiRules, type KpiLevel, type KpiName } from '../common/kpi';
import { alertRunId, routeAlert, type AlertCounters } from '../routing/alert-router';
import type { ActivityDeps } from './deps';
import { hostFigures } from './host-figures';
import { readStatusReport } from './status-report';

export interface HealthFinding {
  name: KpiName | 'statusReport';
  label: string;
  level: KpiLevel;
  category: string;
  value?: number;
  threshold?: number;
}

export function healthFingerprint(name: string): string {
  return 'hc' + createHash('sha256').update(`health-check:${name}`).digest('hex').slice(0, 16);
}

export function createHealthCheckActivities(deps: ActivityDeps) {
  async function evaluateHealth(): Promise<{ reachable: boolean; systemStatus?: string; findings: HealthFinding[]; problems?: string[] }> {
    const { report, error } = await readStatusReport(deps.config);
    if (!report) {
      return {
        reachable: false,
        findings: [{ name: 'statusReport', label: `Status report at ${deps.config.application.statusUrl} unreachable: ${error}`, level: 'critical', category: 'availability' }],
      };
    }
    const host = await hostFigures(deps, deps.config.healthCheck.timeoutSeconds * 1000);
    const findings = evaluateKpis(figuresFromStatusReport(report, host.figures), kpiRules(deps.config.kpi)).map((r) => ({
      name: r.name,
      label: r.label,
      level: r.level,
      category: r.table,
      value: r.value,
      threshold: r.threshold,
    }));
    return { reachable: true, systemStatus: report.system_status, problems: host.problems, findings: [{ name: 'statusReport' as const, label: 'Status report', level: 'ok' as const, category: 'availability' }, ...findings] };
  }

  /** Breached KPIs raise (or repeat) their alert; KPIs back to ok resolve theirs. */
  async function raiseHealthAlerts(input: { findings: HealthFinding[] }): Promise<{ started: string[]; joined: string[]; resolved: string[] }> {
    const client = Context.current().client;
    const counters: AlertCounters = { received: 0, started: 0, joined: 0, resolved: 0, rejected: 0 };
    const out = { started: [] as string[], joined: [] as string[], resolved: [] as string[] };
    // A KPI within its thresholds resolves only an incident that is open: one visibility query per
    // check instead of a signal per healthy KPI (most of them, every interval) that finds no run.
    const open = new Set<string>();
    for await (const w of client.workflow.list({ query: 'RunbookTrigger = "alert" AND ExecutionStatus = "Running"' })) open.add(w.workflowId);
    for (const f of input.findings) {
      if (f.level === 'unknown') continue;
      const firing = f.level === 'warning' || f.level === 'critical';
      const name = f.name === 'statusReport' ? 'CreditsServiceUnresponsive' : `KPI ${f.label}`;
      if (!firing && !open.has(alertRunId(deps.config, { name, fingerprint: healthFingerprint(f.name) }))) continue;
      const alert: Alert = {
        fingerprint: healthFingerprint(f.name),
        name,
        status: firing ? 'firing' : 'resolved',
        severity: f.level === 'critical' ? 'critical' : 'warning',
        category: f.category,
        summary: f.value === undefined ? f.label : `${f.label}: ${f.value} (threshold ${f.threshold})`,
        labels: { kpi: f.name },
        startsAt: new Date().toISOString(),
        source: 'health-check',
      };
      const outcome = await routeAlert(client, deps.config, alert, counters);
      if (outcome === 'started') out.started.push(alert.name);
      else if (outcome === 'joined') out.joined.push(alert.name);
      else if (outcome === 'resolved') out.resolved.push(alert.name);
    }
    return out;
  }

  return { evaluateHealth, raiseHealthAlerts };
}
