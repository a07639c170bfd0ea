// Runbook "restore-dht": verify the export before anything is imported; start the conductor if
// needed; install and enable the app if missing; import (idempotent by credit id); verify every
// exported credit against the manifest's content.
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import { formatMs } from '../common/durations';
import { Failure } from '../common/failures';
import type { DhtCheck, RestoreDhtInput, RestoreDhtResult } from '../common/runbooks';
import type { Activities } from '../activities';
import { lockTargets } from './guards';
import { on, placement } from './placement';
import { longTransfer, shortStep } from './presets';
import { openRun, recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

export async function restoreDht(raw: RestoreDhtInput = {}): Promise<RestoreDhtResult> {
  const { run, input } = openRun('restore-dht', raw);
  return recorded(run, async () => {
    const started = Date.now();
    const target = await quick.describeDhtTarget.executeWithOptions({ summary: 'read the configured conductor' }, []);
    run.target(target.appId);
    // Export files are read where the backups live; the conductor is started on its own host.
    const where = await placement();
    const long = on(where, 'backups', longTransfer(input.heartbeatTimeoutSeconds));
    const backups = on(where, 'backups', shortStep);
    const conductor = on(where, 'conductor', shortStep);
    run.step('find export');
    const exp = await backups.resolveDhtExport.executeWithOptions({ summary: `find DHT export: ${input.export ?? 'latest verified'}` }, [{ export: input.export }]);
    run.step('verify export', exp.path);
    await long.verifyDhtExport.executeWithOptions({ summary: 'verify export: SHA-256, every record, count and content hash' }, [{ path: exp.path }]);
    const plan = [
      `verified ${exp.path}: ${exp.manifest.credits} credits (slot ${exp.manifest.key})`,
      `start the conductor at ${target.adminUrl} if it does not answer`,
      `install and enable app ${target.appId} if missing`,
      `import_state in batches of ${target.pageSize} (idempotent by credit id)`,
      'compare every exported credit with the DHT (per-credit hash)',
    ];
    const base = { runbook: 'restore-dht' as const, export: exp.path, credits: exp.manifest.credits };
    if (input.dryRun) {
      run.finish('dry-run', plan.map((p) => `- ${p}`).join('\n'));
      return { ...base, outcome: 'dry-run', durationMs: Date.now() - started, plan };
    }
    run.step('lock the target', `conductor:${target.appId}`);
    const locks = await lockTargets([`conductor:${target.appId}`]);
    let start: { started: boolean };
    let app: { installed: boolean };
    let imported: { imported: number; skipped: number; restartedConductor: boolean };
    let check: DhtCheck;
    try {
      run.step('start conductor');
      start = await conductor.startConductor.executeWithOptions({ summary: 'start the conductor if it does not answer' }, []);
      run.step('install app');
      app = await conductor.ensureConductorApp.executeWithOptions({ summary: `install and enable ${target.appId} if missing` }, []);
      run.step('import', `${exp.manifest.credits} credits`);
      imported = await long.importDht.executeWithOptions({ summary: `import_state: ${exp.manifest.credits} credits in batches` }, [{ path: exp.path }]);
      run.step('verify');
      check = await long.checkDhtAgainstExport.executeWithOptions({ summary: 'verify every exported credit in the DHT' }, [{ path: exp.path }]);
    } finally {
      await locks.release();
    }
    if (!check.matches) {
      throw ApplicationFailure.create({
        type: Failure.RestoreMismatch,
        message: `after the import, ${check.missing.length} exported credits are missing and ${check.different.length} differ (e.g. ${[...check.missing, ...check.different].slice(0, 3).join(', ')})`,
        nonRetryable: true,
      });
    }
    run.finish('succeeded', `${imported.imported} imported, ${imported.skipped} already present; all ${check.exported} exported credits verified in ${formatMs(Date.now() - started)}`);
    return {
      ...base,
      outcome: 'succeeded',
      startedConductor: start.started || imported.restartedConductor,
      installedApp: app.installed,
      imported: imported.imported,
      skipped: imported.skipped,
      check,
      durationMs: Date.now() - started,
    };
  });
}
