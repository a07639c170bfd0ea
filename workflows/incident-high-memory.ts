// Runbook "incident-high-memory": the response to the high memory alert. Assess memory over a few
// samples, the metrics collector's window (its size and entries) and the largest processes; then
// the cheapest remedy the evidence allows: clear the window's old entries and reduce it to 30
// minutes, through the application; for growth a small window does not explain (a leak), a
// graceful restart of the application in a quiet moment (no backup or restore running), after an
// approval on production. Verified by the memory KPI.
import { proxyActivities, sleep } from '@temporalio/workflow';
import { memoryCause, type MemoryCause } from '../common/alert-response';
import type { IncidentInput, IncidentResult } from '../common/incident';
import type { Activities } from '../activities';
import { approvalOnProduction, escalateWithEvidence, restartComponent, verifyOrEscalate } from './alert-response';
import { Incident, type IncidentCarry } from './incident';
import { shortStep } from './presets';
import { recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

/** The runbook's reduced window, and what clearing keeps of the old one. */
const WINDOW_MINUTES = 30;
const KEEP_SECONDS = 5 * 60;
/** What a quiet moment waits for: none of these running. */
const BUSY = ['database-backup', 'physical-backup', 'dht-export', 'restore-database', 'restore-cluster', 'restore-dht', 'disaster-recovery'];

const REMEDIES: Record<MemoryCause, string> = {
  'metrics-window': `clear the metrics older than ${KEEP_SECONDS / 60} minutes and reduce the window to ${WINDOW_MINUTES} minutes, through the application`,
  leak: 'graceful restart of the application in a quiet moment (no backup or restore running; approval on production)',
  none: 'nothing to free: verify',
};

export async function incidentHighMemory(input: IncidentInput = {}, carry?: IncidentCarry): Promise<IncidentResult> {
  const incident = new Incident('incident-high-memory', input, carry);
  return recorded(incident.run, async () => {
    if (incident.resumed) return incident.resume();
    await incident.open('credits-service memory');
    incident.phase('assess', 'memory over time, the metrics window, the largest processes');
    const e = await quick.memoryEvidence.executeWithOptions({ summary: 'sample memory; read the metrics window and the largest processes' }, [{ samples: 3, intervalSeconds: 1 }]);
    const warning = (await quick.kpiThresholds.executeWithOptions({ summary: 'the memory thresholds' }, [{ kpi: 'memoryBytes' }])).warning;
    const { cause, explain } = memoryCause(e, warning);
    const mib = (b: number): string => `${(b / 1024 ** 2).toFixed(0)} MiB`;
    incident.finding(
      `memory: ${e.samples.map(mib).join(' -> ') || 'not readable'}${e.growthBytesPerMinute === undefined ? '' : ` (${(e.growthBytesPerMinute / 1024 ** 2).toFixed(1)} MiB per minute)`}; warning at ${mib(warning)}`,
      e.window ? `metrics window: ${e.window.minutes} minutes, ${e.window.entries} entries` : 'metrics window: not readable from the application',
      `largest processes: ${e.processes.map((p) => `${p.command} (pid ${p.pid}) ${mib(p.rssBytes)}`).join(', ') || 'not listed'}`,
      `diagnosis: ${cause}: ${explain}`,
    );
    const plan = [...incident.state.findings, `remedy: ${REMEDIES[cause]}`, 'verify: memory within its warning threshold'];
    if (incident.dryRun) return incident.close('dry-run', { diagnosis: cause, plan });

    incident.phase('respond', REMEDIES[cause]);
    if (cause === 'none') {
      incident.record('no repair needed', 'skipped', explain);
      return verifyOrEscalate(incident, { kpis: ['memoryBytes'], diagnosis: cause });
    }
    if (cause === 'metrics-window') {
      const cleared = await incident.act(`clear the metrics older than ${KEEP_SECONDS / 60} minutes`, () => quick.clearOldMetrics.executeWithOptions({ summary: 'clear old metrics' }, [{ keepSeconds: KEEP_SECONDS }]), (v) => `${v.dropped} entries dropped, ${mib(v.freedBytes)} released`);
      const reduced = await incident.act(`reduce the metrics window to ${WINDOW_MINUTES} minutes`, () => quick.setMetricsWindow.executeWithOptions({ summary: 'reduce the metrics window' }, [{ minutes: WINDOW_MINUTES }]), (v) => `${v.windowMinutes} minutes, ${v.entries} entries`);
      incident.state.followUps.push(`the metrics window is ${WINDOW_MINUTES} minutes now: set it in the application's configuration too, or a restart brings back the old size`);
      return verifyOrEscalate(incident, { kpis: ['memoryBytes'], diagnosis: cause, failed: cleared.ok ? (reduced.ok ? undefined : reduced.error) : cleared.error });
    }
    // A leak: only a restart frees it. Wait for a quiet moment (bounded), then ask on production.
    for (let waited = 0; ; waited++) {
      const busy = await quick.runningRuns.executeWithOptions({ summary: 'a quiet moment: any backup or restore running?' }, [{ runbooks: BUSY }]);
      if (!busy.length) break;
      if (waited === 0) incident.record('wait for a quiet moment', 'skipped', busy.join(', '));
      if (waited >= 40 || incident.closed) return escalateWithEvidence(incident, cause, 'restart the application gracefully when the backups are done', `no quiet moment within 10 minutes: ${busy.join(', ')}`);
      await sleep('15s');
    }
    const ok = await approvalOnProduction(incident, 'restart the application gracefully (a memory leak)', incident.state.findings.map((f) => `- ${f}`).join('\n'));
    if (!ok) return escalateWithEvidence(incident, cause, 'decide on a graceful restart of the application', 'the restart was not approved');
    incident.state.followUps.push('find the leak: compare heap snapshots before the next restart');
    return verifyOrEscalate(incident, { kpis: ['memoryBytes'], diagnosis: cause, failed: await restartComponent(incident, 'application', explain) });
  });
}
