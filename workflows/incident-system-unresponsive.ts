// Runbook "incident-system-unresponsive" (the runbook's Incident 1): diagnose the status report,
// the conductor, the database, the application and the host; apply the one resolution the
// diagnosis points to (restart-conductor as a child, PostgreSQL or the application restarted
// through service control, or freeing what is safe and recommending scaling); verify the system
// is healthy and credits are issued again. A resolution that does not work escalates once and the
// run ends "escalated": it never loops on restarts. Its blast radius is bounded: a restart takes
// the target's lock (another run working on it makes this one wait, then diagnose again) and one
// unit of the service's restart budget; a spent budget opens the service's circuit breaker and
// the incident escalates with the evidence instead of restarting again.
import { patched, proxyActivities, sleep } from '@temporalio/workflow';
import type { BudgetDecision } from '../common/guards';
import type { IncidentInput, IncidentResult } from '../common/incident';
import type { Activities } from '../activities';
import type { Diagnosis, SystemCause } from '../activities/incident';
import { restartConductorChild, restartThroughServiceControl } from './alert-response';
import { readHostFigures } from './host-figures';
import type { Placement } from '../activities/placement';
import { lockTargets, type HeldLocks } from './guards';
import { Incident, type IncidentCarry } from './incident';
import { on, placement } from './placement';
import { extend, shortStep } from './presets';
import { failureMessage, recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);
const slowPreset = extend(shortStep, { startToCloseTimeout: '1 hour', maximumAttempts: 1 });
const slow = proxyActivities<Activities>(slowPreset);

const RESOLUTIONS: Record<SystemCause, string> = {
  'database-down': 'restart PostgreSQL through service control',
  'database-error': 'none automatic: the database answers with an error that a restart does not cure (authentication, too many connections); escalate with the error',
  'conductor-down': 'restart the conductor (runbook restart-conductor, as a child run)',
  'application-hung': 'restart the application through service control (SIGKILL after the grace time)',
  'application-down': 'start the application again through service control',
  'resources-exhausted': 'free what is safe (temp files of interrupted backups and exports that no running step owns) and recommend scaling',
  healthy: 'nothing to repair: verify that credits are issued',
};

/** The service a cause's restart acts on, and so whose restart budget it spends. */
const RESTARTED: Partial<Record<SystemCause, 'database' | 'conductor' | 'application'>> = {
  'database-down': 'database',
  'conductor-down': 'conductor',
  'application-hung': 'application',
  'application-down': 'application',
};

/** Diagnoses with the load, memory and disk of the hosts that run the services, each read by its
 * own host's worker (one read per host). A host whose worker does not pick the read up within 15 s
 * is named in the findings and the diagnosis goes on without it: a dead host must not stall it.
 * Runs started before this existed diagnose as they did (the patch keeps their histories valid). */
async function diagnose(summary: string): Promise<{ diagnosis: Diagnosis; unread: string[] }> {
  if (!patched('per-host-figures')) return { diagnosis: await quick.diagnoseSystem.executeWithOptions({ summary }, []), unread: [] };
  const { hosts, unread } = await readHostFigures(['application', 'database', 'conductor']);
  return { diagnosis: await quick.diagnoseSystem.executeWithOptions({ summary }, [{ hosts }]), unread };
}

/** How long a restart waits for another run that holds its target: 8 x 15 s. */
const LOCK_WAITS = 8;

export async function incidentSystemUnresponsive(input: IncidentInput = {}, carry?: IncidentCarry): Promise<IncidentResult> {
  const incident = new Incident('incident-system-unresponsive', input, carry);
  return recorded(incident.run, async () => {
    if (incident.resumed) return incident.resume();
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
    const first = await diagnose('diagnose: status report, conductor, database, application, hosts');
    let diagnosis: Diagnosis = first.diagnosis;
    incident.finding(...diagnosis.findings, ...first.unread, `diagnosis: ${diagnosis.cause}`);
    const service = RESTARTED[diagnosis.cause];
    const plan = [
      ...diagnosis.findings,
      ...first.unread,
      `diagnosis: ${diagnosis.cause}`,
      `resolution: ${RESOLUTIONS[diagnosis.cause]}`,
      ...(service ? [`within the restart budget of ${service} (an exhausted budget opens its circuit breaker and escalates)`] : []),
      `verify: status report healthy and new credits within ${incident.settings.verifyTimeoutSeconds} s`,
    ];
    if (incident.dryRun) return incident.close('dry-run', { diagnosis: diagnosis.cause, plan });
    const where = await placement();

    incident.phase('respond', RESOLUTIONS[diagnosis.cause]);
    let resolutionFailed: string | undefined;
    let locks: HeldLocks | undefined;
    try {
      if (diagnosis.cause === 'database-down' || diagnosis.cause === 'application-hung' || diagnosis.cause === 'application-down') {
        // The target's lock first: another run working on it (a restore, a recovery, a scaling)
        // makes this one wait, and then diagnose again: the other run may have fixed it.
        const lockTarget = diagnosis.cause === 'database-down' ? `database:${(await quick.describeDatabaseTarget.executeWithOptions({ summary: 'the database target' }, [])).database}` : 'application';
        let waited = false;
        for (let attempt = 0; !locks; attempt++) {
          try {
            locks = await lockTargets([lockTarget]);
          } catch (e) {
            if (attempt >= LOCK_WAITS || incident.closed) {
              resolutionFailed = failureMessage(e);
              break;
            }
            if (attempt === 0) incident.record(`wait: ${lockTarget} is held by another run`, 'skipped', failureMessage(e));
            waited = true;
            await sleep('15s');
          }
        }
        if (locks && waited) {
          const before = diagnosis.cause;
          diagnosis = (await diagnose('diagnose again after the other run')).diagnosis;
          incident.finding(`after waiting for the other run: ${diagnosis.cause}`);
          // Act only on what this run holds the lock of (or not at all when it is healthy now).
          const target = (c: SystemCause): string => RESTARTED[c] ?? c;
          if (diagnosis.cause !== 'healthy' && target(diagnosis.cause) !== target(before)) {
            resolutionFailed = `the diagnosis changed from ${before} to ${diagnosis.cause} while waiting for another run: not acting on a target this run did not lock`;
          }
        }
      }
      const budgetOf = RESTARTED[diagnosis.cause];
      let budget: BudgetDecision | undefined;
      if (!resolutionFailed && budgetOf) {
        budget = await quick.spendRestartBudget.executeWithOptions({ summary: `spend one automatic restart of ${budgetOf}` }, [{ service: budgetOf, action: RESOLUTIONS[diagnosis.cause] }]);
        if (!budget.allowed) {
          const evidence = budget.recent.map((r) => `${r.at} by ${r.by}`).join('; ');
          incident.record(`restart ${budgetOf}`, 'skipped', `circuit breaker open: ${budget.breaker?.reason ?? 'budget spent'}`);
          incident.finding(`the restart budget of ${budgetOf} is spent (${budget.max} per ${budget.windowSeconds} s): ${evidence || 'no restarts recorded'}; the circuit breaker is open since ${budget.breaker?.openedAt}`);
          incident.state.followUps.push(`find out why ${budgetOf} keeps failing, then close its circuit breaker: runbook breaker reset ${budgetOf} --reason "<what was fixed>"`);
          await incident.escalate(`circuit breaker open for ${budgetOf}: ${budget.breaker?.reason ?? 'restart budget spent'}`);
          return await incident.close('escalated', { diagnosis: diagnosis.cause });
        }
      }
      if (!resolutionFailed) resolutionFailed = await respond(incident, diagnosis, where);
    } finally {
      await locks?.release();
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

/** Applies the diagnosis's resolution; returns why it failed, or undefined. */
async function respond(incident: Incident, diagnosis: Diagnosis, where: Placement): Promise<string | undefined> {
  switch (diagnosis.cause) {
    case 'conductor-down':
      return restartConductorChild(incident);
    case 'database-down':
    case 'application-hung':
    case 'application-down':
      // The application holds database connections: after PostgreSQL restarts, it is restarted too
      // if it does not recover by itself (verification below tells).
      return restartThroughServiceControl(incident, where, diagnosis.cause === 'database-down' ? 'database' : 'application');
    case 'database-error': {
      incident.record('restart the database', 'skipped', `the database answers with an error: ${diagnosis.database.error}`);
      incident.state.followUps.push(`fix the database error by hand (a restart would not): ${diagnosis.database.error}`);
      return `the database answers with an error that a restart does not cure: ${diagnosis.database.error}`;
    }
    case 'resources-exhausted': {
      const r = await incident.act('free temp files of interrupted backups and exports', () => on(where, 'backups', shortStep).freeResources.executeWithOptions({ summary: 'free what is safe' }, []), (v) => `${v.removed.length} files, ${v.freedBytes} bytes${v.inUse.length ? `; ${v.inUse.length} in use by running steps, left alone` : ''}`);
      incident.state.followUps.push('scale up (more memory or disk) or out (another node): resources were exhausted');
      return r.ok ? undefined : r.error;
    }
    case 'healthy':
      incident.record('no repair needed', 'skipped', 'every component answered');
      return undefined;
  }
}
