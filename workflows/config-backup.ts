// Runbook "config-backup" (nightly, 02:45): the configuration files the runbook lists, archived
// with a manifest, verified by reading every member back, then retention. Disaster recovery
// refuses to start without one (unless configured otherwise).
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import { backupKey } from '../common/durations';
import type { RunbookInput } from '../common/runbook-inputs';
import type { RetentionResult } from '../common/runbooks';
import type { Activities } from '../activities';
import { shortStep } from './presets';
import { openRun, recorded, scheduledTime } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

export interface ConfigBackupResult {
  runbook: 'config-backup';
  outcome: 'succeeded' | 'dry-run';
  key: string;
  path: string;
  files: string[];
  missing: string[];
  reused: boolean;
  retention?: RetentionResult;
}

export async function configBackup(raw: RunbookInput<'config-backup'> = {}): Promise<ConfigBackupResult> {
  const { run, input } = openRun('config-backup', raw);
  return recorded(run, async () => {
    const key = input.key ?? backupKey(scheduledTime() ?? workflowInfo().startTime);
    run.target('configuration');
    if (input.dryRun) {
      run.finish('dry-run', `- archive the configured files (slot ${key}) with a manifest\n- read every member back against the manifest\n- retention`);
      return { runbook: 'config-backup', outcome: 'dry-run', key, path: '', files: [], missing: [], reused: false };
    }
    run.step('archive', `slot ${key}`);
    const b = await quick.backupConfiguration.executeWithOptions({ summary: `archive the configuration files (slot ${key}), verified` }, [{ key }]);
    run.step('retention');
    const retention = await quick.applyConfigRetention.executeWithOptions({ summary: 'retention of configuration backups' }, [{ currentKey: key }]);
    run.finish('succeeded', `${b.reused ? 'reused' : 'wrote'} ${b.path}: ${b.manifest.files.length} files${b.manifest.missing.length ? `; missing: ${b.manifest.missing.join(', ')}` : ''}`);
    return { runbook: 'config-backup', outcome: 'succeeded', key, path: b.path, files: b.manifest.files.map((f) => f.path), missing: b.manifest.missing, reused: b.reused, retention };
  });
}
