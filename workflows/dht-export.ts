// Runbook "dht-export" (daily, 02:30): export every credit from the conductor to a JSON file with
// a manifest (checksum, count, content hash), verified before it counts, then retention.
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { backupKey, formatBytes, formatMs } from '../common/durations';
import { Failure } from '../common/failures';
import type { DhtExportInput, DhtExportResult } from '../common/runbooks';
import type { Activities } from '../activities';
import { on, placement } from './placement';
import { longTransfer, shortStep } from './presets';
import { openRun, recorded, scheduledTime } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

export async function dhtExport(raw: DhtExportInput = {}): Promise<DhtExportResult> {
  const { run, input } = openRun('dht-export', raw);
  return recorded(run, async () => {
    const key = input.key ?? backupKey(scheduledTime() ?? workflowInfo().startTime);
    const target = await quick.describeDhtTarget.executeWithOptions({ summary: 'read the configured conductor and export directory' }, []);
    run.target(target.appId);
    const where = await placement();
    const long = on(where, 'backups', longTransfer());
    const backups = on(where, 'backups', shortStep);
    if (input.dryRun) {
      const plan = [
        `check that the conductor at ${target.adminUrl} answers`,
        `page through export_state (${target.pageSize} credits per call) into ${target.directory} (slot ${key}), temp file then rename`,
        're-read the file: SHA-256, every record parsed, count and content hash against the manifest',
        `delete exports older than ${input.retentionDays ?? target.retentionDays} days, keeping the newest verified one`,
      ];
      run.finish('dry-run', plan.map((p) => `- ${p}`).join('\n'));
      return { runbook: 'dht-export', outcome: 'dry-run', key, path: '', bytes: 0, sha256: '', credits: 0, contentHash: '', durationMs: 0, reused: false, plan };
    }
    const started = Date.now();
    run.step('check conductor');
    const live = await quick.conductorLiveness.executeWithOptions({ summary: 'conductor liveness (list_apps)' }, []);
    if (!live.alive || !live.appEnabled) {
      throw ApplicationFailure.create({
        type: Failure.PreconditionFailed,
        message: `cannot export: the conductor ${live.alive ? `answers but app ${target.appId} is not enabled` : `does not answer (${live.error ?? 'no answer'})`}`,
        nonRetryable: true,
      });
    }
    run.step('export', `slot ${key}`);
    const exp = await long.exportDht.executeWithOptions({ summary: `export_state -> ${target.directory} (slot ${key}), verified` }, [{ key }]);
    run.step('retention');
    const retention = await backups.applyDhtRetention.executeWithOptions({ summary: 'retention of DHT exports' }, [{ currentKey: key, retentionDays: input.retentionDays }]);
    const durationMs = Date.now() - started;
    run.finish('succeeded', `${exp.reused ? 'reused' : 'wrote'} ${exp.path}: ${exp.manifest.credits} credits, ${formatBytes(exp.manifest.bytes)}, in ${formatMs(durationMs)}`);
    return {
      runbook: 'dht-export',
      outcome: 'succeeded',
      key,
      path: exp.path,
      bytes: exp.manifest.bytes,
      sha256: exp.manifest.sha256,
      credits: exp.manifest.credits,
      contentHash: exp.manifest.contentHash,
      durationMs,
      reused: exp.reused,
      retention,
    };
  });
}
