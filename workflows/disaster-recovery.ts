// Runbook "disaster-recovery" (the runbook's Full System Failure): check the prerequisites (latest
// verified database backup, DHT export and configuration backup, each with its age: the recovery
// point); provision through the configured hook; restore the database (restore-database as a
// child: scratch, swap, verify; a production target waits for its approval there); start the
// conductor, install the app and import the DHT state (restore-dht as a child); check the credit
// totals against the backups before the application adds any; start the application; verify the
// status report. The result records the recovery time per step and the recovery point achieved.
// One at a time: the client starts it under a fixed workflow id.
import { ApplicationFailure, executeChild, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { formatMs } from '../common/durations';
import { Failure } from '../common/failures';
import type { RunbookInput } from '../common/runbook-inputs';
import type { Activities } from '../activities';
import type { DrPrerequisites } from '../activities/disaster-recovery';
import type { PhysicalRecoveryPoint } from '../activities/physical-backup';
import { lockTargets } from './guards';
import { on, placement } from './placement';
import { extend, shortStep } from './presets';
import { restoreDatabase } from './restore-database';
import { restoreCluster } from './restore-cluster';
import { restoreDht } from './restore-dht';
import { openRun, recorded, type RunRecord } from './run-record';

const quick = proxyActivities<Activities>(shortStep);
const slow = proxyActivities<Activities>(extend(shortStep, { startToCloseTimeout: '1 hour', maximumAttempts: 2 }));

export interface RecoveryStep {
  step: string;
  startedAt: string;
  durationMs: number;
  outcome: 'succeeded' | 'failed' | 'skipped';
  detail?: string;
}

export interface DisasterRecoveryResult {
  runbook: 'disaster-recovery';
  outcome: 'succeeded' | 'dry-run' | 'failed';
  /** Recovery time achieved: from the start to the verified system, and per step. */
  rtoMs: number;
  /** Recovery point achieved: how old the restored data was when the recovery started (with the
   * physical tier: how old the archive's newest WAL was). */
  rpo: { databaseSeconds: number; dhtSeconds: number; configSeconds?: number; databaseTier?: 'physical' | 'logical'; databaseRecoveredTo?: string };
  steps: RecoveryStep[];
  prerequisites: DrPrerequisites;
  /** The physical tier as the recovery found it: its recovery point, or why it was not used. */
  physical?: PhysicalRecoveryPoint;
  plan?: string[];
}

export type DisasterRecoveryInput = RunbookInput<'disaster-recovery'>;

/** Runs a step, timing it; a failure is recorded and rethrown with the step's name. */
export async function timedStep<T>(steps: RecoveryStep[], run: RunRecord, name: string, fn: () => Promise<T>, detail?: (v: T) => string): Promise<T> {
  run.step(name);
  const startedAt = new Date();
  try {
    const v = await fn();
    steps.push({ step: name, startedAt: startedAt.toISOString(), durationMs: Date.now() - startedAt.getTime(), outcome: 'succeeded', detail: detail?.(v) });
    return v;
  } catch (e) {
    const message = (e as { cause?: { message?: string }; message?: string }).cause?.message ?? (e as Error).message;
    steps.push({ step: name, startedAt: startedAt.toISOString(), durationMs: Date.now() - startedAt.getTime(), outcome: 'failed', detail: message });
    throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `${name} failed: ${message}`, nonRetryable: true, details: [steps] });
  }
}

export async function disasterRecovery(raw: DisasterRecoveryInput = {}): Promise<DisasterRecoveryResult> {
  const { run, input } = openRun('disaster-recovery', raw, 'critical');
  return recorded(run, async () => {
    const started = Date.now();
    const steps: RecoveryStep[] = [];
    const id = workflowInfo().workflowId;
    run.target('credits');
    // The backups are found where they live; the application starts on its own host.
    const where = await placement();
    // The physical tier (continuous WAL archiving) recovers the database to seconds before the
    // failure instead of to the nightly dump: used when it has a usable backup and archive, unless
    // the input names a dump or the logical tier. Patched: runs recorded before knew only dumps.
    const askPhysical = patched('disaster-recovery-physical-tier') && input.backup === undefined && input.tier !== 'logical';
    const [pre, physical] = await timedStep(
      steps,
      run,
      'check prerequisites',
      async () => {
        const found = await Promise.all([
          // Without a dump the physical tier can still recover the database: asked for as optional.
          on(where, 'backups', shortStep).drPrerequisites.executeWithOptions({ summary: 'latest verified database backup, DHT export, configuration backup' }, [{ backup: input.backup, export: input.export, ...(askPhysical ? { databaseOptional: true } : {}) }]),
          askPhysical ? on(where, 'database', shortStep).physicalRecoveryPoint.executeWithOptions({ summary: 'the physical tier: a usable backup and its archive?' }, [{}]) : undefined,
        ]);
        const [dump, p] = found;
        if (input.tier === 'physical' && !p?.usable) throw new Error(`the physical tier was asked for and cannot recover: ${p && !p.usable ? p.reason : 'not checked'}`);
        if (!dump.database && !p?.usable) {
          throw new Error(`disaster recovery cannot start: ${dump.problems.join('; ') || 'no verified database backup'}; and the physical tier cannot recover the database either: ${p && !p.usable ? p.reason : 'not checked'}`);
        }
        return found;
      },
      ([p, ph]) =>
        `${ph?.usable ? `physical backup ${ph.label}, WAL archived until ${formatMs(ph.ageSeconds * 1000)} ago; ` : ph ? `physical tier not used (${ph.reason}); ` : ''}${p.database ? `database backup ${formatMs(p.database.ageSeconds * 1000)} old` : `no database backup (${p.problems.join('; ')})`}, DHT export ${formatMs(p.dht.ageSeconds * 1000)} old${p.config ? `, configuration ${formatMs(p.config.ageSeconds * 1000)} old` : ''}`,
    );
    const usePhysical = physical?.usable === true ? physical : undefined;
    // The dump, when the database comes from it (present then: checked in the step above).
    const dump = (): NonNullable<DrPrerequisites['database']> => pre.database!;
    const rpo: DisasterRecoveryResult['rpo'] = {
      databaseSeconds: usePhysical ? usePhysical.ageSeconds : dump().ageSeconds,
      dhtSeconds: pre.dht.ageSeconds,
      configSeconds: pre.config?.ageSeconds,
      ...(askPhysical ? { databaseTier: usePhysical ? 'physical' : 'logical' } : {}),
    };
    const plan = [
      usePhysical
        ? `recovery point: the database to the last archived WAL (${usePhysical.walTo}, archived ${formatMs(usePhysical.ageSeconds * 1000)} ago) from physical backup ${usePhysical.label}; DHT export ${pre.dht.path} (${formatMs(pre.dht.ageSeconds * 1000)} old)${pre.config ? `, configuration ${pre.config.path}` : ''}`
        : `recovery point: database backup ${dump().path} (${formatMs(dump().ageSeconds * 1000)} old), DHT export ${pre.dht.path} (${formatMs(pre.dht.ageSeconds * 1000)} old)${pre.config ? `, configuration ${pre.config.path}` : ''}${physical && !physical.usable ? ` (physical tier not used: ${physical.reason})` : ''}`,
      usePhysical ? 'provision: the configured hook (sandbox: start the conductor service; the restore starts the database)' : 'provision: the configured hook (sandbox: start the database and conductor services)',
      usePhysical
        ? 'restore the database: restore-cluster to the latest archived point (restore beside, check, switch, verify; production waits for an approval)'
        : 'restore the database: restore-database (verify, scratch, swap, verify; production waits for an approval)',
      `restore the DHT: restore-dht (start the conductor, install the app, import ${pre.dht.credits} credits, verify each)`,
      usePhysical ? `check totals: the credits the restored cluster was checked with, ${pre.dht.credits} on the DHT` : `check totals: ${dump().tables['public.credits'] ?? '?'} credits in the database, ${pre.dht.credits} on the DHT`,
      'start the application; verify the status report shows active nodes',
    ];
    if (input.dryRun) {
      run.finish('dry-run', plan.map((p) => `- ${p}`).join('\n'));
      return { runbook: 'disaster-recovery', outcome: 'dry-run', rtoMs: 0, rpo, steps, prerequisites: pre, physical, plan };
    }
    // The whole recovery holds the database, the conductor and the application: its children take
    // the same locks as steps of it, and any other destructive run is refused meanwhile.
    const target = await quick.describeDatabaseTarget.executeWithOptions({ summary: 'read the configured database target' }, []);
    const conductor = await quick.describeConductor.executeWithOptions({ summary: 'read the configured conductor' }, []);
    const locks = await timedStep(steps, run, 'lock the targets', () => lockTargets([`database:${target.database}`, `conductor:${conductor.appId}`, 'application']), (l) => l.targets.join(', '));
    try {
      await recover();
    } finally {
      await locks.release();
    }
    const rtoMs = Date.now() - started;
    run.finish('succeeded', `recovered in ${formatMs(rtoMs)}; recovery point: database ${formatMs(rpo.databaseSeconds * 1000)} (${rpo.databaseTier ?? 'logical'} tier${rpo.databaseRecoveredTo ? `, last transaction ${rpo.databaseRecoveredTo}` : ''}), DHT ${formatMs(rpo.dhtSeconds * 1000)} before the start\n\n${steps.map((s) => `- ${s.step}: ${formatMs(s.durationMs)}`).join('\n')}`);
    return { runbook: 'disaster-recovery', outcome: 'succeeded', rtoMs, rpo, steps, prerequisites: pre, physical };

    async function recover(): Promise<void> {
      await timedStep(steps, run, 'provision', () => slow.provision.executeWithOptions({ summary: 'provision the infrastructure (hook)' }, usePhysical ? [{ database: false }] : []), (v) => v.how.join('; '));
      let dbCredits: number;
      if (usePhysical) {
        const cluster = await timedStep(
          steps,
          run,
          'restore the database',
          () =>
            executeChild(restoreCluster, {
              args: [{ trigger: 'parent', severity: 'critical', requestedBy: input.requestedBy }],
              workflowId: `${id}-restore-cluster`,
              staticSummary: 'restore-cluster (latest archived point) for disaster-recovery',
            }),
          (v) => `${v.outcome}: restore-cluster to the latest archived point from ${v.backup}${v.recoveredTo ? `, last transaction ${v.recoveredTo}` : ''}${v.approval ? ` (approved by ${v.approval.by})` : ''}`,
        );
        if (cluster.outcome !== 'succeeded') throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `the cluster restore ended ${cluster.outcome}: nothing else was done`, nonRetryable: true });
        rpo.databaseRecoveredTo = cluster.recoveredTo;
        dbCredits = cluster.tables?.['public.credits'] ?? -1;
      } else {
        dbCredits = dump().tables['public.credits'] ?? -1;
        const db = await timedStep(
          steps,
          run,
          'restore the database',
          () =>
            executeChild(restoreDatabase, {
              // A backup named in the input is taken even when flagged: naming it is the explicit choice.
              args: [{ backup: dump().file, allowFlagged: input.backup !== undefined, trigger: 'parent', severity: 'critical', requestedBy: input.requestedBy }],
              workflowId: `${id}-restore-database`,
              staticSummary: 'restore-database for disaster-recovery',
            }),
          (v) => `${v.outcome}${v.approval ? ` (approved by ${v.approval.by})` : ''}`,
        );
        if (db.outcome !== 'succeeded') throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `the database restore ended ${db.outcome}: nothing else was done`, nonRetryable: true });
      }
      await timedStep(
        steps,
        run,
        'restore the DHT',
        () =>
          executeChild(restoreDht, {
            args: [{ export: pre.dht.file, trigger: 'parent', severity: 'critical', requestedBy: input.requestedBy }],
            workflowId: `${id}-restore-dht`,
            staticSummary: 'restore-dht for disaster-recovery',
          }),
        (v) => `${v.outcome}: ${v.credits} credits`,
      );
      const expected = { dbCredits, dhtCredits: pre.dht.credits };
      await timedStep(steps, run, 'check totals', async () => {
        const t = await quick.verifyTotals.executeWithOptions({ summary: 'credit totals against the backups' }, [expected]);
        if (!t.matches) throw new Error(`expected ${expected.dbCredits} credits in the database and ${expected.dhtCredits} on the DHT, found ${t.dbCredits} and ${t.dhtCredits}`);
        return t;
      }, (t) =>
        `${t.dbCredits} in the database, ${t.dhtCredits} on the DHT${t.dbCredits !== t.dhtCredits ? ` (the stores were recovered to different points: ${t.dbCredits > t.dhtCredits ? 'credits issued after the DHT export are in the database only' : 'the DHT export has credits the database lacks'}; the next data-integrity check reconciles them)` : ''}`,
      );
      await timedStep(steps, run, 'start the application', () => on(where, 'application', shortStep).startApplication.executeWithOptions({ summary: 'start the application' }, []), (v) => v.how);
      await timedStep(steps, run, 'verify', async () => {
        const v = await slow.verifyStatusReport.executeWithOptions({ summary: 'status report with active nodes' }, [{ timeoutSeconds: input.verifyTimeoutSeconds ?? 60 }]);
        if (!v.ok) throw new Error(v.details);
        return v;
      }, (v) => v.details);
    }
  });
}
