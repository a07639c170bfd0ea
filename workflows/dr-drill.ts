// Runbook "dr-drill" (monthly, and on demand): the disaster recovery, rehearsed in an isolated
// environment (a cluster on its own port and directory, a conductor on its own port and data
// directory), verified, measured and torn down, reported as Markdown with the recovery time and
// point achieved and any step that failed. It reads production's backups and never touches
// production itself. Its environment is a new directory under the data directory that the drill
// creates and marks as this run's; tear-down removes only a directory carrying that mark, so no
// input and no failure can make it delete anything else.
import { CancellationScope, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { formatMs } from '../common/durations';
import type { RunbookInput } from '../common/runbook-inputs';
import type { Activities } from '../activities';
import type { DrillEnvironment, DrPrerequisites } from '../activities/disaster-recovery';
import type { ArchiverState, PhysicalRecoveryPoint } from '../activities/physical-backup';
import { timedStep, type RecoveryStep } from './disaster-recovery';
import { on, placement } from './placement';
import { extend, longTransfer, shortStep } from './presets';
import { failureMessage, openRun, recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);
const slowPreset = extend(shortStep, { startToCloseTimeout: '1 hour', maximumAttempts: 1 });
const longPreset = extend(longTransfer(60), { maximumAttempts: 1 });

export type DrDrillInput = RunbookInput<'dr-drill'>;

export interface DrDrillResult {
  runbook: 'dr-drill';
  outcome: 'passed' | 'failed' | 'dry-run';
  rtoMs: number;
  rpo?: { databaseSeconds: number; dhtSeconds: number; configSeconds?: number };
  steps: RecoveryStep[];
  failedStep?: string;
  error?: string;
  tornDown: boolean;
  report?: { path: string; markdown: string };
  environment: DrillEnvironment;
  /** With the physical tier: the point recovered to and what proves the recovery point. */
  pointInTime?: DrillPointInTime;
  /** The physical tier as the drill found it (its recovery point, or why it was not used). */
  physical?: PhysicalRecoveryPoint;
}

export interface DrillPointInTime {
  target: string;
  backup: string;
  lastTransactionAt?: string;
  tables: number;
  rows: number;
  /** The live server's archiver at the drill's start: how old the oldest unarchived change was. */
  archiver?: ArchiverState;
  archiveTimeoutSeconds: number;
  /** The recovery point a failure at the drill's start would have had, and whether it met the
   * archive timeout. */
  rpoSeconds?: number;
  rpoMet?: boolean;
}

function render(r: Omit<DrDrillResult, 'report'>, pre: DrPrerequisites | undefined): string {
  return [
    `# DR drill ${workflowInfo().workflowId}: ${r.outcome === 'passed' ? 'PASSED' : 'FAILED'}`,
    '',
    `- Recovery time achieved (RTO): ${formatMs(r.rtoMs)}`,
    ...(r.pointInTime
      ? [
          `- Recovery point achieved (RPO): ${r.pointInTime.rpoSeconds === undefined ? 'unknown (the live server did not say)' : formatMs(r.pointInTime.rpoSeconds * 1000)} of WAL not yet archived at the drill's start (goal: at most archive_timeout, ${r.pointInTime.archiveTimeoutSeconds} s): ${r.pointInTime.rpoMet ? 'met' : 'NOT met'}`,
          `- Point-in-time recovery: physical backup ${r.pointInTime.backup} recovered to ${r.pointInTime.target} (last transaction replayed: ${r.pointInTime.lastTransactionAt ?? 'not reported'}); ${r.pointInTime.tables} tables, ${r.pointInTime.rows} rows`,
        ]
      : [
          r.rpo
            ? `- Recovery point achieved (RPO): database backup ${formatMs(r.rpo.databaseSeconds * 1000)} old, DHT export ${formatMs(r.rpo.dhtSeconds * 1000)} old${r.rpo.configSeconds === undefined ? ', no configuration backup' : `, configuration ${formatMs(r.rpo.configSeconds * 1000)} old`}`
            : '- Recovery point: unknown (prerequisites failed)',
        ]),
    ...(pre?.database && !r.pointInTime ? [`- Database backup: ${pre.database.path}`] : []),
    ...(pre ? [`- DHT export: ${pre.dht.path}${r.pointInTime ? ` (${formatMs(pre.dht.ageSeconds * 1000)} old)` : ''}`] : []),
    ...(r.physical && !r.physical.usable ? [`- Physical tier not used: ${r.physical.reason}`] : []),
    `- Environment: ${r.environment.dir}, PostgreSQL port ${r.environment.postgresPort}, conductor port ${r.environment.conductorPort}; torn down: ${r.tornDown ? 'yes' : 'NO'}`,
    ...(r.failedStep ? [`- **Failed step: ${r.failedStep}**: ${r.error}`] : []),
    '',
    '| step | duration | outcome | detail |',
    '|---|---|---|---|',
    ...r.steps.map((s) => `| ${s.step} | ${formatMs(s.durationMs)} | ${s.outcome} | ${(s.detail ?? '').replace(/\|/g, '\\|')} |`),
    '',
  ].join('\n');
}

export async function drDrill(raw: DrDrillInput = {}): Promise<DrDrillResult> {
  const { run, input } = openRun('dr-drill', raw, 'info');
  return recorded(run, async () => {
    const started = Date.now();
    // The drill reads the backups and builds its environment where the backups live.
    const where = await placement();
    const here = on(where, 'backups', shortStep);
    const slow = on(where, 'backups', slowPreset);
    const long = on(where, 'backups', longPreset);
    const environment = await here.drillSettings.executeWithOptions({ summary: 'the drill environment' }, [{ postgresPort: input.postgresPort, conductorPort: input.conductorPort }]);
    run.target('dr-drill');
    const steps: RecoveryStep[] = [];
    let pre: DrPrerequisites | undefined;
    let failedStep: string | undefined;
    let error: string | undefined;
    let provisioned = false;
    let physical: PhysicalRecoveryPoint | undefined;
    let pointInTime: DrillPointInTime | undefined;
    try {
      await timedStep(steps, run, 'no other drill running', async () => {
        const others = await quick.runningRuns.executeWithOptions({ summary: 'another dr-drill running?' }, [{ runbooks: ['dr-drill'] }]);
        if (others.length) throw new Error(`another drill is running (${others.join(', ')}): they would share the drill environment`);
      });
      // The physical tier, when it can: the cluster recovered to a point in time ("5 minutes
      // ago"), which proves the WAL archive as well as the backup. Patched: runs recorded before
      // rehearsed the dump only.
      const askPhysical = patched('dr-drill-physical-tier') && input.backup === undefined && input.tier !== 'logical';
      const target = new Date(started - (input.recoverToSecondsAgo ?? 300) * 1000).toISOString();
      [pre, physical] = await timedStep(
        steps,
        run,
        'check prerequisites',
        async () => {
          const found = await Promise.all([
            here.drPrerequisites.executeWithOptions({ summary: 'latest verified backups and their ages' }, [{ requireConfig: false, backup: input.backup }]),
            askPhysical
              ? where.database === where.backups
                ? on(where, 'database', shortStep).physicalRecoveryPoint.executeWithOptions({ summary: `the physical tier: a backup ended before ${target} and its archive?` }, [{ before: target }])
                : { usable: false as const, reason: `the drill's environment is on the backups host (${where.backups}) and the physical repository is read on the database host (${where.database})` }
              : undefined,
          ]);
          if (input.tier === 'physical' && !found[1]?.usable) throw new Error(`the physical tier was asked for and cannot recover to ${target}: ${found[1] && !found[1].usable ? found[1].reason : 'not checked'}`);
          return found;
        },
        ([p, ph]) => `${ph?.usable ? `physical backup ${ph.label} to recover to ${target}; ` : ph ? `physical tier not used (${ph.reason}); ` : ''}database backup ${formatMs(p.database!.ageSeconds * 1000)} old, DHT export ${formatMs(p.dht.ageSeconds * 1000)} old`,
      );
      const usePhysical = physical?.usable ? physical : undefined;
      if (input.dryRun) {
        const plan = [
          usePhysical ? `rehearse the point-in-time recovery: physical backup ${usePhysical.label} and the WAL archive to ${target}; DHT export ${pre.dht.path}` : `rehearse with ${pre.database!.path} and ${pre.dht.path}`,
          `in ${environment.dir} (created and marked by the drill): PostgreSQL on port ${environment.postgresPort}, conductor on port ${environment.conductorPort}`,
          'restore, verify every table and every credit, tear down, report',
        ];
        run.finish('dry-run', plan.map((p) => `- ${p}`).join('\n'));
        return { runbook: 'dr-drill', outcome: 'dry-run', rtoMs: 0, steps, tornDown: true, environment, physical };
      }
      // From here on the tear-down runs whatever happens; it removes only what carries this run's mark.
      provisioned = true;
      await timedStep(steps, run, 'provision the drill environment', () => slow.drillProvision.executeWithOptions({ summary: usePhysical ? 'a conductor of its own (the cluster comes from the physical tier)' : 'a cluster and a conductor of its own' }, [usePhysical ? { ...environment, cluster: false } : environment]), (v) => v.how.join('; '));
      if (usePhysical) {
        const db = on(where, 'database', shortStep);
        const dbLong = on(where, 'database', longPreset);
        pointInTime = await timedStep(
          steps,
          run,
          'restore the database',
          async () => {
            // What a failure now would lose (the archiver's state), then the WAL up to now archived,
            // so the archive reaches past the target.
            const archiver = await db.archiverState.executeWithOptions({ summary: "the live server's archiver: what is not archived yet" }, []).catch(() => undefined);
            await db.archiveCurrentWal.executeWithOptions({ summary: "close and archive the live server's current WAL segment" }, []);
            const r = await dbLong.restoreDrillCluster.executeWithOptions({ summary: `pgbackrest restore --set=${usePhysical.label} into the drill environment; recover to ${target}` }, [
              { environment: environment.dir, port: environment.postgresPort, label: usePhysical.label, target: { kind: 'time', time: target }, runId: workflowInfo().runId },
            ]);
            const rows = Object.values(r.figures.rows).reduce((a, b) => a + b, 0);
            const timeout = (await db.describePhysicalTarget.executeWithOptions({ summary: 'the archive timeout' }, [])).archiveTimeoutSeconds;
            return {
              target,
              backup: usePhysical.label,
              lastTransactionAt: r.lastTransactionAt,
              tables: Object.keys(r.figures.rows).length,
              rows,
              archiver,
              archiveTimeoutSeconds: timeout,
              rpoSeconds: archiver?.atRiskSeconds,
              rpoMet: archiver?.atRiskSeconds !== undefined && archiver.atRiskSeconds <= timeout && !archiver.failing,
            };
          },
          (v) => `physical backup ${v.backup} recovered to ${v.target} (last transaction ${v.lastTransactionAt ?? 'not reported'}); ${v.tables} tables, ${v.rows} rows; unarchived WAL at the start ${v.rpoSeconds ?? '?'} s old`,
        );
      } else {
        // The drill asks for the dump as required: present here.
        const backup = pre.database!.path;
        await timedStep(steps, run, 'restore the database', () => long.drillRestoreDatabase.executeWithOptions({ summary: `verify and restore ${backup} into the drill cluster` }, [{ env: environment, backup }]), (v) => `${v.tables} tables, ${v.rows} rows as in the manifest`);
      }
      await timedStep(steps, run, 'restore the DHT', () => long.drillRestoreDht.executeWithOptions({ summary: `import ${pre!.dht.path} into the drill conductor` }, [{ env: environment, export: pre!.dht.path }]), (v) => `${v.credits} credits, each as exported`);
    } catch (e) {
      const failed = steps.find((s) => s.outcome === 'failed');
      failedStep = failed?.step ?? 'drill';
      error = failed?.detail ?? failureMessage(e);
    }
    const rtoMs = Date.now() - started;
    let tornDown = !provisioned;
    if (provisioned) {
      // Always torn down, even after a failure or a cancellation: a drill leaves nothing behind.
      await CancellationScope.nonCancellable(async () => {
        const t = await slow.drillTeardown
          .executeWithOptions({ summary: 'tear the drill environment down (only what this run created)' }, [environment])
          .catch((e: unknown) => ({ removed: false, detail: failureMessage(e) }));
        tornDown = t.removed;
        steps.push({ step: 'tear down', startedAt: new Date().toISOString(), durationMs: 0, outcome: t.removed ? 'succeeded' : 'failed', detail: t.detail });
      });
    }
    const rpo = pre?.database ? { databaseSeconds: pre.database.ageSeconds, dhtSeconds: pre.dht.ageSeconds, configSeconds: pre.config?.ageSeconds } : undefined;
    const result: Omit<DrDrillResult, 'report'> = { runbook: 'dr-drill', outcome: failedStep ? 'failed' : 'passed', rtoMs, rpo, steps, failedStep, error, tornDown, environment, pointInTime, physical };
    const markdown = render(result, pre);
    const { path } = await quick.writeReport.executeWithOptions({ summary: 'write the drill report' }, [{ name: `dr-drill-${workflowInfo().workflowId}.md`, markdown }]);
    run.finish(failedStep ? 'failed' : 'succeeded', markdown);
    return { ...result, report: { path, markdown } };
  });
}
