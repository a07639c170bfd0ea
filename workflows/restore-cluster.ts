// Runbook "restore-cluster": point-in-time recovery of the whole PostgreSQL cluster from the
// physical tier. The backup and the WAL it needs are verified before anything is touched; the
// restore goes into a new data directory beside the live one and is started and checked on its
// own port while the live server keeps running; only then (approved on production) the switch:
// the live server stopped, its directory kept under a new name, the copy moved into its place and
// started. A refused or failed check removes the copy and leaves the live server as it was.
import { ApplicationFailure, CancellationScope, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import { formatMs } from '../common/durations';
import { Failure } from '../common/failures';
import type { RestoreClusterInput, RestoreClusterResult } from '../common/runbooks';
import type { Activities } from '../activities';
import type { RestoreTarget } from '../activities/physical-backup';
import { ApprovalGate } from './approval-gate';
import { lockTargets } from './guards';
import { on, placement } from './placement';
import { configRead, longTransfer, shortStep } from './presets';
import { failureMessage, openRun, recorded } from './run-record';

const local = proxyLocalActivities<Activities>(configRead);

export async function restoreCluster(raw: RestoreClusterInput = {}): Promise<RestoreClusterResult> {
  const { run, input } = openRun('restore-cluster', raw);
  const gate = new ApprovalGate(run);
  return recorded(run, async () => {
    const started = Date.now();
    const target: RestoreTarget = input.toTime ? { kind: 'time', time: input.toTime } : input.toName ? { kind: 'name', name: input.toName } : { kind: 'latest' };
    const targetText = target.kind === 'time' ? `time ${target.time}` : target.kind === 'name' ? `restore point "${target.name}"` : 'the latest archived point';
    run.step('describe target');
    const [db, where] = await Promise.all([local.describePhysicalTarget.executeWithOptions({ summary: 'read the physical tier configuration' }, []), placement()]);
    run.target(db.database);
    // Everything that reads or moves the data directory runs on the database host.
    const long = on(where, 'database', longTransfer(input.heartbeatTimeoutSeconds));
    const host = on(where, 'database', { ...shortStep, startToCloseTimeout: '30 minutes' });
    const application = on(where, 'application', shortStep);

    const runId = workflowInfo().runId;
    // The WAL up to this moment into the archive first (when the live server answers), so the
    // plan sees it and a restore to a moment ago does not wait for archive_timeout.
    let archivedNow: { archived?: string; skipped?: string } | undefined;
    if (!input.dryRun && target.kind !== 'name') {
      run.step('archive current WAL');
      archivedNow = await host.archiveCurrentWal.executeWithOptions({ summary: 'close and archive the live server\'s current WAL segment (if it answers)' }, []);
    }
    run.step('plan', targetText);
    const p = await long.planClusterRestore.executeWithOptions({ summary: `choose the backup for ${targetText}; verify it and the WAL it needs` }, [{ target, runId, verify: input.dryRun === true }]);
    const needsApproval = db.production || input.requireApproval === true;
    const plan = [
      `recover cluster ${db.host}:${db.port} (data directory ${db.dataDirectory}) to ${targetText}`,
      `from ${p.backup.type} backup ${p.backup.label} (ended ${new Date(p.backup.stoppedAt * 1000).toISOString()}), ${input.dryRun ? 'verified now (pgbackrest verify)' : "every file's checksum checked as it is restored"}; WAL ${p.walFrom}..${p.walTo} checked for gaps`,
      `expected data loss: ${p.dataLoss}`,
      ...(archivedNow ? [archivedNow.archived ? `the live server's WAL up to now archived (segment ${archivedNow.archived})` : `the live server's current WAL was not archived first: ${archivedNow.skipped}`] : []),
      `restore into ${p.copyDirectory}, start it on port ${db.restorePort} (not archiving) and wait for the recovery to end`,
      `check the copy: every table the backup had, per-table row counts${input.check === 'counts' ? '' : ' and a fingerprint of every row'}, compared with the live server when it answers`,
      ...(needsApproval ? [`wait for an approval (${db.production ? 'production target' : 'asked for by the starter'})`] : []),
      ...(db.applicationStop ? ['stop the application'] : []),
      `switch: stop the live server, keep ${db.dataDirectory} as ${p.keepDirectory}, move the copy into its place, start it`,
      'verify the live server is the checked copy (system identifier and timeline, every table)',
      ...(db.applicationStop ? ['start the application (if this run stopped it)'] : []),
    ];
    const base = { runbook: 'restore-cluster' as const, target: targetText, backup: p.backup.label, walFrom: p.walFrom, walTo: p.walTo, dataLoss: p.dataLoss };
    if (input.dryRun) {
      run.finish('dry-run', plan.map((l) => `- ${l}`).join('\n'));
      return { ...base, outcome: 'dry-run', durationMs: Date.now() - started, plan };
    }

    run.step('lock the target', `database:${db.database}`);
    const locks = await lockTargets([`database:${db.database}`, ...(db.applicationStop ? ['application'] : [])]);
    let switched = false;
    let stopped = false;
    try {
      run.step('restore copy', p.copyDirectory);
      const restored = await long.restoreClusterCopy.executeWithOptions({ summary: `pgbackrest restore --set=${p.backup.label} into ${p.copyDirectory}; recover to ${targetText}` }, [
        { label: p.backup.label, target, copyDirectory: p.copyDirectory, runId },
      ]);
      run.step('check copy');
      const check = await long.checkClusterCopy.executeWithOptions({ summary: `per-table rows${input.check === 'counts' ? '' : ' and fingerprint'} of the copy; the live server's rows when it answers` }, [{ label: p.backup.label, copyDirectory: p.copyDirectory, content: input.check !== 'counts' }]);
      const rowsBehind: Record<string, number> | undefined = check.live
        ? Object.fromEntries(Object.entries(check.live.rows).map(([t, n]): [string, number] => [t, n - (check.copy.rows[t] ?? 0)]).filter(([, d]) => d !== 0))
        : undefined;
      const figures = { recoveredTo: restored.lastTransactionAt, tables: check.copy.rows, fingerprint: check.copy.fingerprint, rowsBehind, restoreMs: restored.restoreMs, recoverMs: restored.recoverMs };

      if (needsApproval) {
        const id = workflowInfo().workflowId;
        const seen = [
          ...plan,
          `the copy recovered to ${restored.lastTransactionAt ?? 'an unreported time'}; ${Object.keys(check.copy.rows).length} tables, fingerprint ${check.copy.fingerprint.slice(0, 16)}…`,
          check.live ? `compared with the live server: ${rowsBehind && Object.keys(rowsBehind).length ? Object.entries(rowsBehind).map(([t, d]) => `${t} ${d > 0 ? `${d} rows fewer` : `${-d} rows more`}`).join(', ') : 'the same row counts'}` : 'the live server does not answer',
        ];
        run.step('awaiting approval', `The checked copy is ready. Approve the switch with \`runbook approve ${id}\` or reject it with \`runbook reject ${id}\` (the copy is removed; the live server is not touched).\n\n${seen.map((l) => `- ${l}`).join('\n')}`);
        const approval = await gate.wait({ what: `switch ${db.dataDirectory} to the copy recovered to ${targetText}`, plan: seen, timeoutSeconds: input.approvalTimeoutSeconds ?? 4 * 3600, summary: 'wait for an approval of the switch (runbook approve|reject)' });
        if (!approval?.approved) {
          await CancellationScope.nonCancellable(() => host.discardClusterCopy.executeWithOptions({ summary: `remove the copy ${p.copyDirectory}` }, [{ copyDirectory: p.copyDirectory }]));
          run.finish('rejected', `${approval ? `rejected by ${approval.by}` : 'no approval in time'}; the copy was removed, the live server was not touched`);
          return { ...base, ...figures, outcome: approval ? 'rejected' : 'approval-timeout', approval, durationMs: Date.now() - started, plan: seen };
        }
      }

      if (db.applicationStop) {
        run.step('stop application');
        stopped = (await application.runApplicationCommand.executeWithOptions({ summary: 'stop the application before the switch' }, [{ action: 'stop' }])).ran;
      }
      run.step('switch', `${db.dataDirectory} -> ${p.keepDirectory}; ${p.copyDirectory} -> ${db.dataDirectory}`);
      const sw = await host.switchCluster.executeWithOptions({ summary: `stop the live server, keep its directory as ${p.keepDirectory}, start the copy in its place` }, [
        { copyDirectory: p.copyDirectory, keepDirectory: p.keepDirectory, runId },
      ]);
      switched = true;
      run.step('verify');
      const after = await host.verifySwitched.executeWithOptions({ summary: 'the live server is the checked copy (identifier and timeline) with every table' }, [{ identity: check.identity, tables: Object.keys(check.copy.rows) }]);
      if (after.identity !== check.identity || after.missingTables.length) {
        throw ApplicationFailure.create({
          type: Failure.RestoreMismatch,
          message: `after the switch the live server is not the checked copy (${after.identity} answers, ${check.identity} was checked${after.missingTables.length ? `; missing ${after.missingTables.join(', ')}` : ''}); the old data directory is kept as ${p.keepDirectory}`,
          nonRetryable: true,
        });
      }
      if (stopped) {
        run.step('start application');
        await application.runApplicationCommand.executeWithOptions({ summary: 'start the application' }, [{ action: 'start' }]);
        stopped = false;
      }
      const archivedNote = sw.timeline.archived ? `the new timeline is archived (${[...sw.timeline.marked, sw.timeline.archived].join(', ')})` : `the new timeline is NOT archived yet: ${sw.timeline.skipped}; take a physical backup once archiving works`;
      run.finish(
        'succeeded',
        `recovered to ${targetText} (last transaction ${restored.lastTransactionAt ?? 'not reported'}) from ${p.backup.label}; downtime ${formatMs(sw.downtimeMs)}; ${archivedNote}; the old data directory is kept as ${sw.kept} (remove it once you are satisfied); in ${formatMs(Date.now() - started)}`,
      );
      return { ...base, ...figures, outcome: 'succeeded', keptDirectory: sw.kept, downtimeMs: sw.downtimeMs, newTimelineArchived: sw.timeline.archived !== undefined, approval: gate.approval, durationMs: Date.now() - started };
    } catch (err) {
      await CancellationScope.nonCancellable(async () => {
        // Before the switch the copy goes and the live server was never touched; after it, the
        // old directory stays kept for the operator.
        if (!switched) await host.discardClusterCopy.executeWithOptions({ summary: `remove the copy ${p.copyDirectory}` }, [{ copyDirectory: p.copyDirectory }]).catch(() => undefined);
        if (stopped) await application.runApplicationCommand.executeWithOptions({ summary: 'start the application' }, [{ action: 'start' }]).catch(() => undefined);
      });
      run.finish('failed', `${failureMessage(err)}; ${switched ? `switched: the old data directory is kept as ${p.keepDirectory}` : 'the live server was not touched'}`);
      throw err;
    } finally {
      await locks.release();
    }
  });
}
