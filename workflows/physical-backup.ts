// Runbook "physical-backup": a pgBackRest backup (full, differential or incremental), then its
// verification: every file's checksum and size (pgbackrest verify) and the WAL it needs, without
// a gap, from its first segment to the archive's last. A backup that does not verify fails the run.
import { ApplicationFailure, proxyLocalActivities } from '@temporalio/workflow';
import { formatBytes, formatMs } from '../common/durations';
import { Failure } from '../common/failures';
import type { PhysicalBackupInput, PhysicalBackupResult } from '../common/runbooks';
import type { Activities } from '../activities';
import { on, placement } from './placement';
import { configRead, longTransfer } from './presets';
import { openRun, recorded } from './run-record';

const local = proxyLocalActivities<Activities>(configRead);

export async function physicalBackup(raw: PhysicalBackupInput = {}): Promise<PhysicalBackupResult> {
  const { run, input } = openRun('physical-backup', raw);
  return recorded(run, async () => {
    const started = Date.now();
    const type = input.type ?? 'incr';
    run.step('describe target');
    const [target, where] = await Promise.all([local.describePhysicalTarget.executeWithOptions({ summary: 'read the physical tier configuration' }, []), placement()]);
    run.target(target.stanza);
    const long = on(where, 'database', longTransfer(input.heartbeatTimeoutSeconds));
    const plan = [
      `pgbackrest backup --type=${type} of ${target.dataDirectory} (stanza ${target.stanza}) into ${target.repository}${type === 'full' ? '' : ' (a full one when there is none to build on)'}`,
      "record the database's per-table figures beside it",
      'verify: every file of the backup (pgbackrest verify) and the WAL from its first segment to the archive\'s last, without a gap',
      "pgBackRest's retention expires backups past the configured number of full ones",
    ];
    const base = { runbook: 'physical-backup' as const, type };
    if (input.dryRun) {
      run.finish('dry-run', plan.map((p) => `- ${p}`).join('\n'));
      return { ...base, outcome: 'dry-run', label: '', size: 0, repositoryDelta: 0, walFrom: '', walTo: '', verified: false, tables: {}, durationMs: 0, plan };
    }
    run.step('backup', `pgbackrest --type=${type}`);
    const made = await long.takePhysicalBackup.executeWithOptions({ summary: `pgbackrest backup --type=${type} (stanza ${target.stanza})` }, [{ type }]);
    run.step('verify', made.backup.label);
    const check = await long.verifyPhysicalBackup.executeWithOptions({ summary: `verify ${made.backup.label}: files and WAL` }, [{ label: made.backup.label }]);
    if (!check.ok) {
      throw ApplicationFailure.create({ type: Failure.BackupDamaged, message: `backup ${made.backup.label} does not verify: ${check.problems.join('; ')}`, nonRetryable: true });
    }
    const durationMs = Date.now() - started;
    run.finish('succeeded', `${made.backup.type} backup ${made.backup.label}: ${formatBytes(made.backup.size)} of data, ${formatBytes(made.backup.repositoryDelta)} added to the repository; WAL ${check.walFrom}..${check.walTo} verified; in ${formatMs(durationMs)}`);
    return {
      ...base,
      type: made.backup.type,
      outcome: 'succeeded',
      label: made.backup.label,
      size: made.backup.size,
      repositoryDelta: made.backup.repositoryDelta,
      walFrom: check.walFrom,
      walTo: check.walTo,
      verified: true,
      tables: made.figures.rows,
      durationMs,
    };
  });
}
