// Runbook "restore-database": verify the backup before touching anything, restore into a scratch
// database, check it against the manifest, then swap names so the live database is kept (renamed)
// until the final verification passes. A production target (or a parent that asks for it) waits
// for an approval bound to this plan; one restore per database at a time.
import { ApplicationFailure, CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { previousDatabaseName, scratchDatabaseName } from '../common/database-names';
import { formatMs } from '../common/durations';
import { Failure } from '../common/failures';
import type { ValidRunbookInput } from '../common/runbook-inputs';
import type { RestoreDatabaseInput, RestoreDatabaseResult } from '../common/runbooks';
import type { Activities } from '../activities';
import { ApprovalGate } from './approval-gate';
import { lockTargets, type HeldLocks } from './guards';
import { on, placement } from './placement';
import { longTransfer, shortStep } from './presets';
import { failureMessage, openRun, recorded, type RunRecord } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

export async function restoreDatabase(raw: RestoreDatabaseInput = {}): Promise<RestoreDatabaseResult> {
  const { run, input } = openRun('restore-database', raw);
  return recorded(run, () => restore(run, input));
}

async function restore(run: RunRecord, input: ValidRunbookInput<'restore-database'>): Promise<RestoreDatabaseResult> {
  const started = Date.now();
  const gate = new ApprovalGate(run);

  run.step('describe target');
  const target = await quick.describeDatabaseTarget.executeWithOptions({ summary: 'read the configured database target' }, []);
  run.target(target.database);
  // The backup is read, expanded and restored where the backups live; the application is
  // stopped and started on its own host.
  const where = await placement();
  const long = on(where, 'backups', longTransfer(input.heartbeatTimeoutSeconds));
  const backups = on(where, 'backups', shortStep);
  const application = on(where, 'application', shortStep);

  run.step('find backup');
  const backup = await backups.resolveBackup.executeWithOptions({ summary: `find backup: ${input.backup ?? 'latest verified'}` }, [{ backup: input.backup, allowFlagged: input.allowFlagged }]);

  const suffix = workflowInfo().runId.slice(0, 8);
  // Both always fit PostgreSQL's 63 bytes and differ from the live name (a cut name would not).
  const scratch = scratchDatabaseName(target.database, suffix);
  const previous = previousDatabaseName(target.database, backup.manifest.key, suffix);
  const needsApproval = target.production || input.requireApproval === true;
  const plan = [
    `restore database ${target.database} on ${target.host}:${target.port} from ${backup.file} (slot ${backup.manifest.key}, SHA-256 ${backup.manifest.sha256}, ${Object.keys(backup.manifest.tables).length} tables)`,
    ...(backup.flagged ? [`this backup is FLAGGED: ${backup.flagged}`] : []),
    `verify ${backup.file} end to end before anything is touched`,
    ...(needsApproval ? [`wait for an approval (${target.production ? 'production target' : 'asked for by the starter'})`] : []),
    `restore into a new scratch database ${scratch} with pg_restore -e -j`,
    "check every table's row count against the manifest",
    ...(target.applicationStop ? ['stop the application'] : []),
    `swap: ${target.database} -> ${previous}, ${scratch} -> ${target.database}`,
    `verify ${target.database} is the checked database (same OID, the manifest's tables); otherwise swap back`,
    ...(target.applicationStop ? ['start the application (if this run stopped it)'] : []),
    input.keepPrevious ? `keep ${previous}` : `drop ${previous} once verified`,
  ];
  const base = { runbook: 'restore-database' as const, database: target.database, backup: backup.path };
  const restoreSource = { path: backup.path, scratch, compression: backup.manifest.compression };

  // Refuse a damaged backup before anything is touched. When the restore follows at once, the
  // verifying read also writes the expanded copy that pg_restore -j needs; a dry-run or a run
  // that waits for a human keeps nothing on disk (restoreIntoScratch verifies and expands again).
  run.step('verify backup', backup.path);
  const expandNow = !input.dryRun && !needsApproval;
  try {
    await long.verifyAndExpandBackup.executeWithOptions({ summary: 'verify backup: SHA-256 and a full read of every block' }, [{ ...restoreSource, expand: expandNow }]);
  } catch (err) {
    if (expandNow) await CancellationScope.nonCancellable(() => backups.discardExpandedBackup.executeWithOptions({ summary: 'discard the expanded copy' }, [restoreSource]));
    throw err;
  }
  if (input.dryRun) {
    run.finish('dry-run', plan.map((p) => `- ${p}`).join('\n'));
    return { ...base, outcome: 'dry-run', previousKept: true, durationMs: Date.now() - started, plan };
  }

  // One restore (or recovery) per database at a time; the lock is held through the approval wait
  // so two restores cannot both be approved and run.
  run.step('lock the target', `database:${target.database}`);
  let locks: HeldLocks;
  try {
    locks = await lockTargets([`database:${target.database}`, ...(target.applicationStop ? ['application'] : [])]);
  } catch (err) {
    if (expandNow) await CancellationScope.nonCancellable(() => backups.discardExpandedBackup.executeWithOptions({ summary: 'discard the expanded copy' }, [restoreSource]));
    throw err;
  }
  try {
    if (needsApproval) {
      const id = workflowInfo().workflowId;
      run.step(
        'awaiting approval',
        `${target.production ? 'Production target' : 'Target'} ${target.database}. Approve with \`runbook approve ${id}\` or reject with \`runbook reject ${id}\` (the plan's SHA-256 binds the decision).\n\n${plan.map((p) => `- ${p}`).join('\n')}`,
      );
      const approval = await gate.wait({ what: `restore ${target.database} from ${backup.file}`, plan, timeoutSeconds: input.approvalTimeoutSeconds ?? 4 * 3600, summary: 'wait for an approval (runbook approve|reject)' });
      if (!approval) {
        run.finish('rejected', 'no approval arrived in time; nothing was changed');
        return { ...base, outcome: 'approval-timeout', previousKept: true, durationMs: Date.now() - started, plan };
      }
      if (!approval.approved) {
        run.finish('rejected', `rejected by ${approval.by}${approval.reason ? `: ${approval.reason}` : ''}; nothing was changed`);
        return { ...base, outcome: 'rejected', approval, previousKept: true, durationMs: Date.now() - started, plan };
      }
    }
    return await restoreAndSwap();
  } finally {
    await locks.release();
  }

  async function restoreAndSwap(): Promise<RestoreDatabaseResult> {
    let swapped = false;
    let stopped = false;
    try {
      run.step('restore into scratch', scratch);
      try {
        await long.restoreIntoScratch.executeWithOptions({ summary: `pg_restore -j into scratch database ${scratch}` }, [restoreSource]);
      } finally {
        await CancellationScope.nonCancellable(() => backups.discardExpandedBackup.executeWithOptions({ summary: 'discard the expanded copy' }, [restoreSource]));
      }
      run.step('check scratch');
      const scratchCheck = await long.requireMatch.executeWithOptions({ summary: `check ${scratch}: every table's row count against the manifest` }, [
        { database: scratch, tables: backup.manifest.tables, what: 'restored scratch database' },
      ]);

      // A database with any session (autovacuum starts on a large restore) cannot be renamed: wait
      // for it to be idle while the application still runs, so the wait is not downtime.
      run.step('scratch idle', scratch);
      await long.awaitDatabaseIdle.executeWithOptions({ summary: `wait until nothing (autovacuum included) works on ${scratch}` }, [{ database: scratch, timeoutSeconds: 600 }]);

      if (target.applicationStop) {
        run.step('stop application');
        const stop = await application.runApplicationCommand.executeWithOptions({ summary: 'stop the application (if it runs)' }, [{ action: 'stop' }]);
        // Only an application this run stopped is started again afterwards.
        stopped = stop.ran;
      }
      run.step('swap', `${target.database} -> ${previous}; ${scratch} -> ${target.database}`);
      await backups.swapDatabases.executeWithOptions({ summary: `swap ${scratch} in as ${target.database}` }, [{ target: target.database, scratch, previous }]);
      swapped = true;

      run.step('final verification');
      const check = await backups.verifySwapped.executeWithOptions({ summary: `verify ${target.database} is the restored, checked database` }, [
        { database: target.database, oid: scratchCheck.oid, tables: backup.manifest.tables },
      ]);
      if (!check.matches) {
        throw ApplicationFailure.create({ type: Failure.RestoreMismatch, message: `final verification of ${target.database} failed: ${check.differences.join('; ')}`, nonRetryable: true });
      }
      const liveAfterMs = Date.now() - started;
      if (stopped) {
        run.step('start application');
        await application.runApplicationCommand.executeWithOptions({ summary: 'start the application' }, [{ action: 'start' }]);
        stopped = false;
      }
      let previousKept = true;
      if (!input.keepPrevious) {
        run.step('drop previous', previous);
        await backups.dropDatabase.executeWithOptions({ summary: `drop the pre-restore database ${previous}` }, [{ name: previous, protect: target.database }]);
        previousKept = false;
      }
      run.finish('succeeded', `restored ${target.database} from ${backup.path} in ${formatMs(Date.now() - started)}${previousKept ? `; the pre-restore database is kept as ${previous}` : ''}`);
      return {
        ...base,
        outcome: 'succeeded',
        approval: gate.approval,
        previousDatabase: previous,
        previousKept,
        tables: scratchCheck.tables,
        liveAfterMs,
        durationMs: Date.now() - started,
      };
    } catch (err) {
      // Put things back as they were, even if the run is being cancelled.
      await CancellationScope.nonCancellable(async () => {
        if (swapped) {
          await backups.swapBack.executeWithOptions({ summary: `swap back: ${previous} -> ${target.database}` }, [{ target: target.database, previous, failedName: scratchDatabaseName(target.database, `failed_${suffix}`) }]);
        } else {
          await backups.dropDatabase.executeWithOptions({ summary: `drop scratch ${scratch}` }, [{ name: scratch, protect: target.database }]);
        }
        if (stopped) await application.runApplicationCommand.executeWithOptions({ summary: 'start the application' }, [{ action: 'start' }]);
      });
      run.finish('failed', `${failureMessage(err)}; ${swapped ? `swapped back: ${target.database} is the database it was before` : `${target.database} was not touched`}`);
      throw err;
    }
  }
}
