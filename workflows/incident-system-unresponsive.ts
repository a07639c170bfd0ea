// Runbook "incident-system-unresponsive" (the runbook's Incident 1): diagnose the status report,
// the conductor, the database, the application and the host; apply the one resolution the
// diagnosis points to (restart-conductor as a child, PostgreSQL or the application restarted
// through service control, or freeing what is safe and recommending scaling); verify the system
// is healthy and credits are issued again. A resolution that does not work escalates once and the
// run ends "escalated": it never loops on restarts.
import { executeChild, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { IncidentInput, IncidentResult } from '../common/incident';
import type { RestartConductorResult } from '../common/runbooks';
import type { Activities } from '../activities';
import type { Diagnosis, SystemCause } from '../activities/incident';
import { Incident } from './incident';
import { shortStep } from './presets';
import { recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);
const slow = proxyActivities<Activities>({ ...shortStep, startToCloseTimeout: '1 hour', retry: { maximumAttempts: 1 } });

const RESOLUTIONS: Record<SystemCause, string> = {
  'database-down': 'restart PostgreSQL through service control',
  'conductor-down': 'restart the conductor (runbook restart-conductor, as a child run)',
  'application-hung': 'restart the application through service control (SIGKILL after the grace time)',
  'application-down': 'start the application again through service control',
  'resources-exhausted': 'free what is safe (temp files of interrupted backups and exports) and recommend scaling',
  healthy: 'nothing to repair: verify that credits are issued',
};

export async function incidentSystemUnresponsive(input: IncidentInput = {}): Promise<IncidentResult> {
  const incident = new Incident('incident-system-unresponsive', input);
  return recorded(incident.run, async () => {
    await incident.open('credits-service');

    incident.phase('assess', 'diagnose: status report, conductor, database, application, host');
    // A recovery, restore or scaling run stops components on purpose: wait for it (and for the
    // next diagnosis) instead of restarting what it is working on.
    let held = 0;
    const disruptive = { runbooks: ['disaster-recovery', 'restore-database', 'restore-dht', 'restart-conductor', 'vertical-scale'] };
    for (let busy = await quick.runningRuns.executeWithOptions({ summary: 'any recovery, restore or scaling run in progress?' }, [disruptive]); busy.length; ) {
      if (held === 0) incident.record('hold: other runbooks are working on the system', 'skipped', busy.join(', '));
      if (incident.closed || held >= 120) break;
      await sleep('15s');
      held++;
      busy = await quick.runningRuns.executeWithOptions({ summary: 'still in progress?' }, [disruptive]);
    }
    const diagnosis: Diagnosis = await quick.diagnoseSystem.executeWithOptions({ summary: 'diagnose: status report, conductor, database, application, host' }, []);
    incident.finding(...diagnosis.findings, `diagnosis: ${diagnosis.cause}`);
    const plan = [...diagnosis.findings, `diagnosis: ${diagnosis.cause}`, `resolution: ${RESOLUTIONS[diagnosis.cause]}`, `verify: status report healthy and new credits within ${incident.settings.verifyTimeoutSeconds} s`];
    if (incident.dryRun) return incident.close('dry-run', { diagnosis: diagnosis.cause, plan });

    incident.phase('respond', RESOLUTIONS[diagnosis.cause]);
    let resolutionFailed: string | undefined;
    switch (diagnosis.cause) {
      case 'conductor-down': {
        const r = await incident.act(
          'restart the conductor (child run restart-conductor)',
          () =>
            executeChild<(i: object) => Promise<RestartConductorResult>>('restartConductor', {
              args: [{ trigger: 'parent', severity: incident.state.severity }],
              workflowId: `${workflowInfo().workflowId}-restart-conductor`,
              staticSummary: 'restart-conductor for incident-system-unresponsive',
            }),
          (v) => `${v.outcome}; ${v.creditsReadable ?? 0} credits readable`,
        );
        if (!r.ok) resolutionFailed = r.error;
        break;
      }
      case 'database-down':
      case 'application-hung':
      case 'application-down': {
        const service = diagnosis.cause === 'database-down' ? 'database' : 'application';
        const r = await incident.act(`restart the ${service}`, () => slow.restartService.executeWithOptions({ summary: `restart the ${service} through service control` }, [{ service }]), (v) => v.how);
        if (!r.ok) resolutionFailed = r.error;
        else if (!r.value.restarted) resolutionFailed = r.value.how;
        // The application holds database connections: after PostgreSQL restarts, it is restarted too
        // if it does not recover by itself (verification below tells).
        break;
      }
      case 'resources-exhausted': {
        const r = await incident.act('free temp files of interrupted backups and exports', () => quick.freeResources.executeWithOptions({ summary: 'free what is safe' }, []), (v) => `${v.removed.length} files, ${v.freedBytes} bytes`);
        if (!r.ok) resolutionFailed = r.error;
        incident.state.followUps.push('scale up (more memory or disk) or out (another node): resources were exhausted');
        break;
      }
      case 'healthy':
        incident.record('no repair needed', 'skipped', 'every component answered');
        break;
    }

    incident.phase('resolve', 'verify: healthy status report and new credits');
    const verified = resolutionFailed
      ? undefined
      : await slow.verifyRecovered.executeWithOptions({ summary: `verify: healthy and issuing credits (up to ${incident.settings.verifyTimeoutSeconds} s)` }, [
          { timeoutSeconds: incident.settings.verifyTimeoutSeconds },
        ]);
    if (verified?.healthy) {
      incident.state.recoveredAt = new Date().toISOString();
      incident.record('verify', 'succeeded', verified.details);
      return incident.close('resolved', { diagnosis: diagnosis.cause });
    }
    const why = resolutionFailed ?? `verification failed: ${verified?.details}`;
    if (verified) incident.record('verify', 'failed', verified.details);
    incident.finding(`the resolution did not work: ${why}`);
    incident.state.followUps.push(`investigate by hand: ${RESOLUTIONS[diagnosis.cause]} did not bring the system back (${why})`);
    await incident.escalate(`resolution did not work: ${why}`);
    return incident.close('escalated', { diagnosis: diagnosis.cause });
  });
}
