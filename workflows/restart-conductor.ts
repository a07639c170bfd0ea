// Runbook "restart-conductor": graceful stop, start, wait for ready, verify the app is enabled
// and credits are readable. The runbook's `hc sandbox clean` is a wipe, not a restart: with
// `clean: true` it happens only after a verified export made in this run and an approval, and
// the export is imported back afterwards.
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { backupKey, formatMs } from '../common/durations';
import { Failure } from '../common/failures';
import type { RestartConductorInput, RestartConductorResult } from '../common/runbooks';
import type { Activities } from '../activities';
import { ApprovalGate } from './approval-gate';
import { longTransfer, shortStep } from './presets';
import { recorded, RunRecord } from './run-record';

const quick = proxyActivities<Activities>(shortStep);
const long = proxyActivities<Activities>(longTransfer());
/** Stopping and starting wait for the process: a little longer than a short step. */
const processStep = proxyActivities<Activities>({ ...shortStep, startToCloseTimeout: '10 minutes', heartbeatTimeout: '30s' });

export async function restartConductor(input: RestartConductorInput = {}): Promise<RestartConductorResult> {
  const run = new RunRecord('restart-conductor', input.trigger, input.severity);
  const gate = new ApprovalGate(run);
  return recorded(run, async () => {
    const started = Date.now();
    const target = await quick.describeConductor.executeWithOptions({ summary: 'read the configured conductor' }, []);
    run.target(target.appId);
    run.step('check conductor');
    const before = await quick.conductorLiveness.executeWithOptions({ summary: 'conductor liveness before (list_apps)' }, []);
    const plan = [
      `conductor at ${target.adminUrl}: ${before.alive ? 'answers' : `does not answer (${before.error ?? 'no answer'})`}`,
      ...(input.clean
        ? ['export every credit and verify the export', 'wait for an approval (the wipe deletes all conductor data)', 'graceful stop', `wipe the conductor data (${target.service})`]
        : ['graceful stop (SIGINT; SIGKILL after the grace time)']),
      'start, wait until list_apps answers',
      'install/enable the app if needed',
      ...(input.clean ? ['import the export and verify every credit'] : []),
      'read credits back through a zome call',
    ];
    const base = { runbook: 'restart-conductor' as const, aliveBefore: before.alive, cleaned: false };
    if (input.dryRun) {
      run.finish('dry-run', plan.map((p) => `- ${p}`).join('\n'));
      return { ...base, outcome: 'dry-run', durationMs: Date.now() - started, plan };
    }

    let exportPath: string | undefined;
    if (input.clean) {
      if (!target.canClean) {
        throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `no clean command is configured for ${target.service}`, nonRetryable: true });
      }
      if (!before.alive) {
        throw ApplicationFailure.create({
          type: Failure.PreconditionFailed,
          message: 'refusing to wipe a conductor that does not answer: no export of its current state can be made first',
          nonRetryable: true,
        });
      }
      run.step('export before wipe');
      const key = backupKey(workflowInfo().startTime);
      const exp = await long.exportDht.executeWithOptions({ summary: `export every credit before the wipe (slot ${key})` }, [{ key }]);
      exportPath = exp.path;
      const id = workflowInfo().workflowId;
      run.step('awaiting approval', `The wipe deletes all conductor data. A verified export of ${exp.manifest.credits} credits is at ${exp.path}.\n\nApprove with \`runbook approve ${id} --by <name>\`.`);
      const approval = await gate.wait(input.approvalTimeoutSeconds ?? 4 * 3600, 'wait for an approval of the wipe (runbook approve|reject)');
      if (!approval?.approved) {
        run.finish('rejected', approval ? `rejected by ${approval.by}; nothing was wiped` : 'no approval in time; nothing was wiped');
        return { ...base, outcome: approval ? 'rejected' : 'approval-timeout', approval, export: exportPath, durationMs: Date.now() - started };
      }
    }

    run.step('stop');
    await processStep.stopConductor.executeWithOptions({ summary: 'graceful stop of the conductor' }, []);
    if (input.clean) {
      run.step('wipe');
      await quick.cleanConductor.executeWithOptions({ summary: 'wipe the conductor data' }, [{ verifiedExport: exportPath!, approvedBy: gate.approval!.by }]);
    }
    run.step('start');
    await processStep.startConductor.executeWithOptions({ summary: 'start the conductor and wait until it answers' }, []);
    run.step('app');
    const app = await quick.ensureConductorApp.executeWithOptions({ summary: 'install/enable the app if needed' }, []);
    let imported: number | undefined;
    if (input.clean) {
      run.step('import');
      const r = await long.importDht.executeWithOptions({ summary: 'import the export made before the wipe' }, [{ path: exportPath! }]);
      imported = r.imported;
      const check = await long.checkDhtAgainstExport.executeWithOptions({ summary: 'verify every exported credit' }, [{ path: exportPath! }]);
      if (!check.matches) {
        throw ApplicationFailure.create({ type: Failure.RestoreMismatch, message: `after the wipe and import, ${check.missing.length} credits are missing and ${check.different.length} differ`, nonRetryable: true });
      }
    }
    run.step('verify');
    const readable = await quick.verifyCreditsReadable.executeWithOptions({ summary: 'read credits back through a zome call' }, []);
    run.finish('succeeded', `conductor restarted${input.clean ? ' (wiped and restored)' : ''}; ${readable.credits} credits readable, ${readable.peers} peers; in ${formatMs(Date.now() - started)}`);
    return {
      ...base,
      outcome: 'succeeded',
      cleaned: input.clean === true,
      approval: gate.approval,
      export: exportPath,
      appInstalled: app.installed,
      appEnabled: app.enabled,
      imported,
      creditsReadable: readable.credits,
      durationMs: Date.now() - started,
    };
  });
}
