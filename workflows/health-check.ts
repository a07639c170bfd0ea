// Runbook "health-check" (every healthCheck.intervalSeconds): the built-in alternative to
// Prometheus and Alertmanager. One evaluation of the KPI tables per run; breaches start (or join)
// the runbook they route to, recoveries resolve it.
import { proxyActivities } from '@temporalio/workflow';
import type { CommonInput } from '../common/runbooks';
import type { Activities } from '../activities';
import { shortStep } from './presets';
import { openRun, recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

export interface HealthCheckResult {
  runbook: 'health-check';
  outcome: 'succeeded';
  reachable: boolean;
  systemStatus?: string;
  breaches: Array<{ name: string; level: string; value?: number; threshold?: number }>;
  started: string[];
  joined: string[];
  resolved: string[];
}

export async function healthCheck(raw: CommonInput = {}): Promise<HealthCheckResult> {
  const { run } = openRun('health-check', raw);
  return recorded(run, async () => {
    run.target('credits-service');
    const health = await quick.evaluateHealth.executeWithOptions({ summary: 'read the status report and evaluate the KPI tables' }, []);
    const breaches = health.findings.filter((f) => f.level === 'warning' || f.level === 'critical');
    const routed = await quick.raiseHealthAlerts.executeWithOptions({ summary: `raise ${breaches.length} alert(s), resolve recovered ones` }, [{ findings: health.findings }]);
    run.finish('succeeded', breaches.length ? breaches.map((b) => `- ${b.level}: ${b.label}`).join('\n') : 'every KPI within its thresholds');
    return {
      runbook: 'health-check',
      outcome: 'succeeded',
      reachable: health.reachable,
      systemStatus: health.systemStatus,
      breaches: breaches.map((b) => ({ name: b.name, level: b.level, value: b.value, threshold: b.threshold })),
      ...routed,
    };
  });
}
