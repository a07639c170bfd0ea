// The scaling procedures. "vertical-scale": wait for the maintenance window, take a fresh backup
// (database-backup as a child), measure performance, stop the application, upgrade (the
// configured hook, or an operator's "upgraded" Update), start it, and verify performance is no
// worse. "horizontal-scale": provision a node (hook), let it join, verify it is active and healthy.
import { condition, defineUpdate, executeChild, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { RunbookInput } from '../common/runbook-inputs';
import type { Activities } from '../activities';
import type { PerformanceSample } from '../activities/scaling';
import { extend, shortStep } from './presets';
import { databaseBackup } from './database-backup';
import { lockTargets } from './guards';
import { on, placement } from './placement';
import { openRun, recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);
const slowPreset = extend(shortStep, { startToCloseTimeout: '2 hours', maximumAttempts: 1 });
const slow = proxyActivities<Activities>(slowPreset);

/** The operator says the upgrade is done (when no upgrade hook is configured). */
export const upgradedUpdate = defineUpdate<{ by: string; at: string }, [{ by: string; note?: string }]>('upgraded');

export type VerticalScaleInput = RunbookInput<'vertical-scale'>;

export interface VerticalScaleResult {
  runbook: 'vertical-scale';
  outcome: 'succeeded' | 'failed' | 'dry-run';
  backup?: string;
  upgrade?: { by: string; how: string };
  before?: PerformanceSample;
  after?: PerformanceSample;
  verdict?: string;
  plan?: string[];
}

export async function verticalScale(raw: VerticalScaleInput = {}): Promise<VerticalScaleResult> {
  const { run, input } = openRun('vertical-scale', raw, 'warning');
  let upgraded: { by: string; note?: string; at: string } | undefined;
  let waiting = false;
  setHandler(
    upgradedUpdate,
    (u) => {
      upgraded = { by: u.by.trim(), note: u.note, at: new Date().toISOString() };
      return upgraded;
    },
    {
      validator: (u) => {
        if (!waiting) throw new Error('upgraded: the run is not waiting for an upgrade');
        if (!u.by?.trim()) throw new Error("upgraded: expected the operator's name (--by), found nothing");
      },
    },
  );
  return recorded(run, async () => {
    run.target('credits-service');
    const settings = await quick.scalingSettings.executeWithOptions({ summary: 'read the scaling settings' }, []);
    // The application is stopped, upgraded and started on its own host.
    const where = await placement();
    const application = on(where, 'application', shortStep);
    const upgradeStep = on(where, 'application', slowPreset);
    const plan = [
      `maintenance window: ${input.windowStart ?? 'now'}`,
      'fresh backup: database-backup (child run)',
      `performance before: ${input.samples ?? 10} status-report samples`,
      'stop the application',
      settings.upgradeHook ? `upgrade: ${settings.upgradeHook}` : 'upgrade: wait for an operator (`upgraded` Update) ',
      'start the application',
      `performance after: no worse than ${settings.tolerance}x the average response time before`,
    ];
    if (input.dryRun) {
      run.finish('dry-run', plan.map((p) => `- ${p}`).join('\n'));
      return { runbook: 'vertical-scale', outcome: 'dry-run', plan };
    }
    if (input.windowStart) {
      const wait = Date.parse(input.windowStart) - Date.now();
      if (wait > 0) {
        run.step('waiting for the maintenance window', input.windowStart);
        await sleep(wait);
      }
    }
    run.step('lock the target', 'application');
    const locks = await lockTargets(['application']);
    try {
      run.step('fresh backup');
      const backup = await executeChild(databaseBackup, {
        args: [{ trigger: 'parent', requestedBy: input.requestedBy }],
        workflowId: `${workflowInfo().workflowId}-backup`,
        staticSummary: 'database-backup before vertical-scale',
      });
      run.step('performance before');
      const samples = input.samples ?? 10;
      const before = await slow.samplePerformance.executeWithOptions({ summary: `${samples} status-report samples before` }, [{ count: samples, intervalMs: 1000 }]);
      run.step('stop the application');
      await application.runApplicationCommand.executeWithOptions({ summary: 'stop the application' }, [{ action: 'stop' }]);
      let upgrade: { by: string; how: string };
      const hook = await upgradeStep.runUpgradeHook.executeWithOptions({ summary: 'the upgrade hook, if configured' }, []);
      if (hook.ran) {
        upgrade = { by: 'hook', how: hook.command! };
      } else {
        run.step('awaiting the upgrade', `Upgrade the instance (CPU, memory, storage), then: \`runbook upgraded ${workflowInfo().workflowId} --by <name>\``);
        waiting = true;
        const done = await condition(() => upgraded !== undefined, `${input.upgradeTimeoutSeconds ?? 4 * 3600}s`, { summary: 'wait for the operator to finish the upgrade' });
        waiting = false;
        if (!done) {
          run.step('start the application', 'no upgrade within the timeout: back to service as it was');
          await application.runApplicationCommand.executeWithOptions({ summary: 'start the application' }, [{ action: 'start' }]);
          run.finish('failed', 'no upgrade was reported in time; the application was started again unchanged');
          return { runbook: 'vertical-scale', outcome: 'failed', backup: backup.path, before, verdict: 'no upgrade within the timeout' };
        }
        upgrade = { by: upgraded!.by, how: upgraded!.note ?? 'by hand' };
      }
      run.step('start the application');
      await application.runApplicationCommand.executeWithOptions({ summary: 'start the application' }, [{ action: 'start' }]);
      run.step('performance after');
      const after = await slow.samplePerformance.executeWithOptions({ summary: `${samples} status-report samples after` }, [{ count: samples, intervalMs: 1000 }]);
      const ok = after.avgResponseMs <= Math.max(1, before.avgResponseMs) * settings.tolerance;
      const verdict = `average response ${before.avgResponseMs} ms before, ${after.avgResponseMs} ms after (${ok ? 'no worse' : 'WORSE'} than ${settings.tolerance}x); p99 ${before.p99ResponseMs} -> ${after.p99ResponseMs} ms`;
      run.finish(ok ? 'succeeded' : 'failed', verdict);
      return { runbook: 'vertical-scale', outcome: ok ? 'succeeded' : 'failed', backup: backup.path, upgrade, before, after, verdict };
    } finally {
      await locks.release();
    }
  });
}

export type HorizontalScaleInput = RunbookInput<'horizontal-scale'>;

export interface HorizontalScaleResult {
  runbook: 'horizontal-scale';
  outcome: 'succeeded' | 'failed' | 'dry-run';
  nodeId: string;
  provisioned?: string;
  verification?: { active: boolean; healthy: boolean; credits: number; activeNodes?: number };
  plan?: string[];
}

export async function horizontalScale(raw: HorizontalScaleInput): Promise<HorizontalScaleResult> {
  const { run, input } = openRun('horizontal-scale', raw, 'info');
  return recorded(run, async () => {
    run.target(input.nodeId);
    const plan = [`provision ${input.nodeId} (the provisioning hook)`, 'join the network', `verify: ${input.nodeId} healthy and issuing credits within ${input.verifyTimeoutSeconds ?? 60} s`];
    if (input.dryRun) {
      run.finish('dry-run', plan.map((p) => `- ${p}`).join('\n'));
      return { runbook: 'horizontal-scale', outcome: 'dry-run', nodeId: input.nodeId, plan };
    }
    const since = new Date().toISOString();
    run.step('provision and join', input.nodeId);
    const p = await slow.provisionNode.executeWithOptions({ summary: `provision ${input.nodeId}` }, [{ nodeId: input.nodeId }]);
    run.step('verify');
    const v = await slow.verifyNodeActive.executeWithOptions({ summary: `${input.nodeId} active and healthy` }, [{ nodeId: input.nodeId, since, timeoutSeconds: input.verifyTimeoutSeconds ?? 60 }]);
    const ok = v.active && v.healthy;
    run.finish(ok ? 'succeeded' : 'failed', `${input.nodeId}: ${v.healthy ? 'healthy' : 'NOT healthy'}, ${v.credits} credits since joining${v.activeNodes === undefined ? '' : `; ${v.activeNodes} active nodes`}`);
    return { runbook: 'horizontal-scale', outcome: ok ? 'succeeded' : 'failed', nodeId: input.nodeId, provisioned: p.command, verification: v };
  });
}
