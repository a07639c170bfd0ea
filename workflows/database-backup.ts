// Runbook "database-backup" (daily, 02:00): dump, verify end to end, then apply retention.
// Retention runs only after this run's backup verified, so a failed night deletes nothing.
import { patched, proxyActivities, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import { backupKey, formatBytes, formatMs } from '../common/durations';
import type { ValidRunbookInput } from '../common/runbook-inputs';
import type { DatabaseBackupInput, DatabaseBackupResult } from '../common/runbooks';
import type { Activities } from '../activities';
import { on, placement } from './placement';
import { configRead, longTransfer, shortStep } from './presets';
import { openRun, recorded, scheduledTime, type RunRecord } from './run-record';

const quick = proxyActivities<Activities>(shortStep);
const local = proxyLocalActivities<Activities>(configRead);

export async function databaseBackup(raw: DatabaseBackupInput = {}): Promise<DatabaseBackupResult> {
  const { run, input } = openRun('database-backup', raw);
  return recorded(run, () => backup(run, input));
}

async function backup(run: RunRecord, input: ValidRunbookInput<'database-backup'>): Promise<DatabaseBackupResult> {
  // One slot, one backup: the key comes from the scheduled time, so a retry or a second start for
  // the same slot finds the same file.
  const key = input.key ?? backupKey(scheduledTime() ?? workflowInfo().startTime);

  run.step('describe target');
  // The target is the worker's configuration: read in the workflow task itself (a local activity,
  // a marker in the history) rather than through a round trip to the server before the dump.
  // Runs begun by an earlier version recorded it as an activity, and replay it as one.
  const describe = patched('describe-target-locally') ? local.describeDatabaseTarget : quick.describeDatabaseTarget;
  const target = await describe.executeWithOptions({ summary: 'read the configured database target' }, []);
  run.target(target.database);
  // The dump is written where the backups live: the backups host's own queue.
  const where = await placement();
  const long = on(where, 'backups', longTransfer(input.heartbeatTimeoutSeconds));
  const backups = on(where, 'backups', shortStep);

  if (input.dryRun) {
    const plan = [
      `dump database ${target.database} on ${target.host}:${target.port} with pg_dump -Fc through ${target.compression} into ${target.backupDirectory} (slot ${key})`,
      'read the file back as it is written: SHA-256 of the bytes on disk and every block through the decompressor and pg_restore; count rows per table in the dump\'s snapshot',
      'write the manifest (versions, bytes, SHA-256, row counts, verification) and rename the temp file into place',
      `delete backups older than ${input.retentionDays ?? target.retentionDays} days, keeping the newest verified one and files without a manifest`,
    ];
    run.finish('dry-run', plan.map((p) => `- ${p}`).join('\n'));
    return { runbook: 'database-backup', outcome: 'dry-run', key, path: '', bytes: 0, sha256: '', durationMs: 0, reused: false, plan };
  }

  const started = Date.now();
  run.step('dump and verify', `pg_dump of ${target.database} (slot ${key}), read back as it is written`);
  const dump = await long.dumpDatabase.executeWithOptions(
    { summary: `pg_dump ${target.database} -> ${target.compression} file (slot ${key}); verify alongside: SHA-256 and a full read of every block` },
    [{ key }],
  );
  let verified = { bytes: dump.manifest.bytes, sha256: dump.manifest.sha256 };
  if (!dump.manifest.verified) {
    // A backup of this slot from an older version of this tool, or one whose check was lost.
    run.step('verify', dump.path);
    verified = await long.verifyBackup.executeWithOptions({ summary: 'verify: SHA-256 and a full read of every block' }, [{ path: dump.path, markVerified: true }]);
  }

  run.step('retention');
  const retention = await backups.applyBackupRetention.executeWithOptions({ summary: `retention: delete backups older than ${input.retentionDays ?? target.retentionDays} days` }, [
    { currentKey: key, retentionDays: input.retentionDays },
  ]);

  const durationMs = Date.now() - started;
  run.finish(
    'succeeded',
    `${dump.reused ? 'reused' : 'wrote'} ${dump.path} (${formatBytes(verified.bytes)}, sha256 ${verified.sha256.slice(0, 16)}…) in ${formatMs(durationMs)}; ` +
      `retention deleted ${retention.deleted.length}, kept ${retention.kept.length}`,
  );
  return {
    runbook: 'database-backup',
    outcome: 'succeeded',
    key,
    path: dump.path,
    bytes: verified.bytes,
    sha256: verified.sha256,
    durationMs,
    reused: dump.reused,
    manifest: dump.manifest,
    retention,
  };
}
