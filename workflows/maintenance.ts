// The daily maintenance runbooks: "log-rotation" (03:00) and "metrics-cleanup" (04:00). Both
// have a dry-run that lists what would be rotated or deleted.
import { proxyActivities } from '@temporalio/workflow';
import type { CommonInput } from '../common/runbooks';
import type { Activities } from '../activities';
import type { RotationResult } from '../activities/maintenance';
import { on, placement } from './placement';
import { extend, shortStep } from './presets';
import { openRun, recorded } from './run-record';

const maintenancePreset = extend(shortStep, { startToCloseTimeout: '30 minutes', maximumAttempts: 2 });
const quick = proxyActivities<Activities>(maintenancePreset);

export interface LogRotationResult {
  runbook: 'log-rotation';
  outcome: 'succeeded' | 'dry-run';
  logs: RotationResult[];
}

export async function logRotation(raw: CommonInput = {}): Promise<LogRotationResult> {
  const { run, input } = openRun('log-rotation', raw);
  return recorded(run, async () => {
    run.target('logs');
    run.step(input.dryRun ? 'plan' : 'rotate', 'rename, tell the writer to reopen, wait for it, compress, keep the newest');
    // The logs are the application's: rotated on its host.
    const logs = await on(await placement(), 'application', maintenancePreset).rotateLogs.executeWithOptions({ summary: input.dryRun ? 'list what would be rotated and deleted' : 'rotate the application and monitor logs' }, [{ dryRun: input.dryRun }]);
    const text = logs.map((l) => `- ${l.log}: ${l.skipped ?? `${l.rotated} (${l.bytes} bytes)`}${l.deleted.length ? `; deletes ${l.deleted.join(', ')}` : ''}`).join('\n');
    run.finish(input.dryRun ? 'dry-run' : 'succeeded', text);
    return { runbook: 'log-rotation', outcome: input.dryRun ? 'dry-run' : 'succeeded', logs };
  });
}

export interface MetricsCleanupResult {
  runbook: 'metrics-cleanup';
  outcome: 'succeeded' | 'dry-run';
  reports: string[];
  samplesRemoved: number;
}

export async function metricsCleanup(raw: CommonInput = {}): Promise<MetricsCleanupResult> {
  const { run, input } = openRun('metrics-cleanup', raw);
  return recorded(run, async () => {
    run.target('reports');
    run.step(input.dryRun ? 'plan' : 'clean up', 'reports and health-check samples beyond their retention');
    const r = await quick.cleanupMetrics.executeWithOptions({ summary: input.dryRun ? 'list what would be deleted' : 'delete reports and samples beyond retention' }, [{ dryRun: input.dryRun }]);
    run.finish(input.dryRun ? 'dry-run' : 'succeeded', `${input.dryRun ? 'would delete' : 'deleted'} ${r.reports.length} reports and ${r.samplesRemoved} samples\n${r.reports.map((p) => `- ${p}`).join('\n')}`);
    return { runbook: 'metrics-cleanup', outcome: input.dryRun ? 'dry-run' : 'succeeded', reports: r.reports, samplesRemoved: r.samplesRemoved };
  });
}
