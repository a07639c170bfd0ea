// Runbook "restart-conductor": graceful stop, start, wait for ready, verify the app is enabled
// and credits are readable. The runbook's `hc sandbox clean` is a wipe, not a restart: with
// `clean: true` it happens only after an approval of this plan, with the application stopped
// first (so no credit is issued after the export), a verified export made after that stop, and
// the export imported back before the application starts again.
import { ApplicationFailure, CancellationScope, patched, proxyActivities, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import { backupKey, formatMs } from '../common/durations';
import { Failure } from '../common/failures';
import type { RestartConductorInput, RestartConductorResult } from '../common/runbooks';
import type { Activities } from '../activities';
import { ApprovalGate } from './approval-gate';
import { lockTargets } from './guards';
import { on, placement } from './placement';
import { configRead, longTransfer, shortStep } from './presets';
import { failureMessage, openRun, recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);
const local = proxyLocalActivities<Activities>(configRead);
/** Stopping and starting wait for the process: a little longer than a short step. */
const processPreset = { ...shortStep, startToCloseTimeout: '10 minutes', heartbeatTimeout: '30s' };

export async function restartConductor(raw: RestartConductorInput = {}): Promise<RestartConductorResult> {
  const { run, input } = openRun('restart-conductor', raw);
  const gate = new ApprovalGate(run);
  return recorded(run, async () => {
    const started = Date.now();
    // Fewer round trips through the server (bench/cluster): the configuration is read inside the
    // workflow task (a local activity), and a plain restart takes its lock while the liveness is
    // read. Patched: runs recorded before take the old path.
    const fast = patched('restart-conductor-fewer-round-trips');
    // Fewer still (patched again): both reads at once, the start and the app check as one step on
    // the conductor's host, and the lock released while the credits are read back (a read: every
    // change is done by then).
    const fewer = fast && patched('restart-conductor-start-with-app');
    const describe = (): Promise<Awaited<ReturnType<Activities['describeConductor']>>> =>
      (fast ? local : quick).describeConductor.executeWithOptions({ summary: 'read the configured conductor' }, []);
    // The conductor's process is handled on its host, the export on the backups host, the
    // application on its own.
    const [target, where] = fewer ? await Promise.all([describe(), placement()]) : [await describe(), await placement()];
    run.target(target.appId);
    const processStep = on(where, 'conductor', processPreset);
    const conductor = on(where, 'conductor', shortStep);
    const long = on(where, 'backups', longTransfer());
    const application = on(where, 'application', shortStep);
    run.step('check conductor');
    const clean = input.clean === true;
    // A wipe checks the conductor before it locks anything (it refuses one that does not answer).
    const lockEarly = fast && !input.dryRun && !clean;
    const [before, earlyLocks] = await Promise.all([
      quick.conductorLiveness.executeWithOptions({ summary: 'conductor liveness before (list_apps)' }, []),
      lockEarly ? lockTargets([`conductor:${target.appId}`]) : Promise.resolve(undefined),
    ]);
    const plan = [
      `conductor ${target.appId} at ${target.adminUrl} (${target.service}): ${before.alive ? 'answers' : `does not answer (${before.error ?? 'no answer'})`}`,
      ...(clean
        ? [
            'wait for an approval (the wipe deletes all conductor data)',
            `stop the application (${target.applicationService ?? 'no application service configured: nothing issues credits through this tool'}), so nothing is issued after the export`,
            'export every credit and verify the export',
            'graceful stop',
            `wipe the conductor data (${target.service})`,
          ]
        : ['graceful stop (SIGINT; SIGKILL after the grace time)']),
      'start, wait until list_apps answers',
      'install/enable the app if needed',
      ...(clean ? ['import the export and verify every credit', 'start the application again (if this run stopped it)'] : []),
      'read credits back through a zome call',
    ];
    const base = { runbook: 'restart-conductor' as const, aliveBefore: before.alive, cleaned: false };
    if (input.dryRun) {
      run.finish('dry-run', plan.map((p) => `- ${p}`).join('\n'));
      return { ...base, outcome: 'dry-run', durationMs: Date.now() - started, plan };
    }
    if (clean) {
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
    }

    run.step('lock the target', `conductor:${target.appId}`);
    const locks = earlyLocks ?? (await lockTargets([`conductor:${target.appId}`, ...(clean ? ['application'] : [])]));
    let applicationStopped = false;
    let wiped = false;
    try {
      let exportPath: string | undefined;
      if (clean) {
        const id = workflowInfo().workflowId;
        run.step('awaiting approval', `The wipe deletes all conductor data. Approve with \`runbook approve ${id}\` (or reject).\n\n${plan.map((p) => `- ${p}`).join('\n')}`);
        const approval = await gate.wait({ what: `wipe conductor ${target.appId}`, plan, timeoutSeconds: input.approvalTimeoutSeconds ?? 4 * 3600, summary: 'wait for an approval of the wipe (runbook approve|reject)' });
        if (!approval?.approved) {
          run.finish('rejected', approval ? `rejected by ${approval.by}; nothing was changed` : 'no approval in time; nothing was changed');
          return { ...base, outcome: approval ? 'rejected' : 'approval-timeout', approval, durationMs: Date.now() - started };
        }
        run.step('stop application');
        applicationStopped = (await application.runApplicationCommand.executeWithOptions({ summary: 'stop the application before the export' }, [{ action: 'stop' }])).ran;
        run.step('export before wipe');
        const key = backupKey(new Date());
        const exp = await long.exportDht.executeWithOptions({ summary: `export every credit before the wipe (slot ${key})` }, [{ key }]);
        exportPath = exp.path;
      }

      run.step('stop');
      await processStep.stopConductor.executeWithOptions({ summary: 'graceful stop of the conductor' }, []);
      if (clean) {
        run.step('wipe');
        wiped = true;
        await conductor.cleanConductor.executeWithOptions({ summary: 'wipe the conductor data' }, [{ verifiedExport: exportPath!, approvedBy: gate.approval!.by }]);
      }
      run.step('start');
      let app: { installed: boolean; enabled: boolean };
      if (fewer) {
        app = await processStep.startConductorWithApp.executeWithOptions({ summary: 'start the conductor, wait until it answers, install/enable the app if needed' }, []);
      } else {
        await processStep.startConductor.executeWithOptions({ summary: 'start the conductor and wait until it answers' }, []);
        run.step('app');
        app = await conductor.ensureConductorApp.executeWithOptions({ summary: 'install/enable the app if needed' }, []);
      }
      let imported: number | undefined;
      if (clean) {
        run.step('import');
        const r = await long.importDht.executeWithOptions({ summary: 'import the export made before the wipe' }, [{ path: exportPath! }]);
        imported = r.imported;
        const check = await long.checkDhtAgainstExport.executeWithOptions({ summary: 'verify every exported credit' }, [{ path: exportPath! }]);
        if (!check.matches) {
          throw ApplicationFailure.create({ type: Failure.RestoreMismatch, message: `after the wipe and import, ${check.missing.length} credits are missing and ${check.different.length} differ`, nonRetryable: true });
        }
        if (applicationStopped) {
          run.step('start application');
          await application.runApplicationCommand.executeWithOptions({ summary: 'start the application again' }, [{ action: 'start' }]);
          applicationStopped = false;
        }
      }
      run.step('verify');
      const verify = quick.verifyCreditsReadable.executeWithOptions({ summary: 'read credits back through a zome call' }, []);
      const [readable] = fewer ? await Promise.all([verify, locks.release()]) : [await verify];
      run.finish('succeeded', `conductor restarted${clean ? ' (wiped and restored)' : ''}; ${readable.credits} credits readable, ${readable.peers} peers; in ${formatMs(Date.now() - started)}`);
      return {
        ...base,
        outcome: 'succeeded',
        cleaned: clean,
        approval: gate.approval,
        export: exportPath,
        appInstalled: app.installed,
        appEnabled: app.enabled,
        imported,
        creditsReadable: readable.credits,
        durationMs: Date.now() - started,
      };
    } catch (err) {
      // Before the wipe nothing is lost: the application goes back to work. After it, the
      // application stays stopped: it would issue credits into a conductor missing its history.
      if (applicationStopped && !wiped) {
        await CancellationScope.nonCancellable(() => application.runApplicationCommand.executeWithOptions({ summary: 'start the application again (nothing was wiped)' }, [{ action: 'start' }])).catch(() => undefined);
      }
      run.finish('failed', `${failureMessage(err)}${applicationStopped && wiped ? '; the conductor was wiped and the application is left STOPPED: restore the DHT (runbook run restore-dht) before starting it' : ''}`);
      throw err;
    } finally {
      await locks.release();
    }
  });
}
