// What the alert response runbooks share on top of the incident lifecycle: a restart of the
// component the evidence names, bounded like incident-system-unresponsive's (the service's
// restart budget, the target's lock); an approval that production asks for and the sandbox does
// not; and the end every response has: verification by the alert's own KPIs over an interval,
// resolved, or escalated with the evidence and what stayed broken.
import { executeChild, proxyActivities, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { IncidentResult } from '../common/incident';
import type { KpiName } from '../common/kpi';
import type { Approval } from '../common/runbooks';
import type { Activities } from '../activities';
import { lockTargets } from './guards';
import type { Incident } from './incident';
import type { Placement } from '../activities/placement';
import { on, placement } from './placement';
import { configRead, extend, shortStep } from './presets';
import { restartConductor } from './restart-conductor';
import { failureMessage } from './run-record';

const quick = proxyActivities<Activities>(shortStep);
const local = proxyLocalActivities<Activities>(configRead);
const slowPreset = extend(shortStep, { startToCloseTimeout: '1 hour', maximumAttempts: 1 });
const slow = proxyActivities<Activities>({ ...slowPreset, heartbeatTimeout: '30s' });

export type Restartable = 'application' | 'database' | 'conductor';

/** Restarts one component within its restart budget and under its target's lock. Returns why it
 * did not happen or did not work, or undefined. A spent budget is not a failure to retry: the
 * breaker is open, and the incident escalates with the evidence. */
export async function restartComponent(incident: Incident, service: Restartable, why: string): Promise<string | undefined> {
  const budget = await quick.spendRestartBudget.executeWithOptions({ summary: `spend one automatic restart of ${service}` }, [{ service, action: `restart the ${service}: ${why}` }]);
  if (!budget.allowed) {
    incident.record(`restart the ${service}`, 'skipped', `circuit breaker open: ${budget.breaker?.reason ?? 'budget spent'}`);
    incident.state.followUps.push(`find out why ${service} keeps failing, then close its circuit breaker: runbook breaker reset ${service} --reason "<what was fixed>"`);
    return `the restart budget of ${service} is spent (${budget.max} per ${budget.windowSeconds} s): its circuit breaker is open`;
  }
  if (service === 'conductor') return restartConductorChild(incident);
  const target = service === 'database' ? `database:${(await quick.describeDatabaseTarget.executeWithOptions({ summary: 'the database target' }, [])).database}` : 'application';
  let locks;
  try {
    locks = await lockTargets([target]);
  } catch (e) {
    incident.record(`restart the ${service}`, 'skipped', failureMessage(e));
    return `another run holds ${target}: ${failureMessage(e)}`;
  }
  try {
    return await restartThroughServiceControl(incident, await placement(), service, why);
  } finally {
    await locks.release();
  }
}

/** The conductor restarted by a restart-conductor child run; why that failed, or undefined. */
export async function restartConductorChild(incident: Incident): Promise<string | undefined> {
  const r = await incident.act(
    'restart the conductor (child run restart-conductor)',
    () =>
      executeChild(restartConductor, {
        args: [{ trigger: 'parent', severity: incident.state.severity, requestedBy: incident.requestedBy }],
        workflowId: `${workflowInfo().workflowId}-restart-conductor`,
        staticSummary: `restart-conductor for ${incident.state.runbook}`,
      }),
    (v) => `${v.outcome}; ${v.creditsReadable ?? 0} credits readable`,
  );
  return r.ok ? undefined : r.error;
}

/** The application or PostgreSQL restarted through service control on the host that runs it (its
 * own task queue when hosts are configured); why that failed or did not happen, or undefined. */
export async function restartThroughServiceControl(incident: Incident, where: Placement, service: 'application' | 'database', why?: string): Promise<string | undefined> {
  const r = await incident.act(`restart the ${service}`, () => on(where, service, slowPreset).restartService.executeWithOptions({ summary: `restart the ${service} through service control${why ? `: ${why}` : ''}` }, [{ service }]), (v) => v.how);
  if (!r.ok) return r.error;
  return r.value.restarted ? undefined : r.value.how;
}

/** On a production target, an approval of `what`; elsewhere the change goes ahead, recorded as
 * such. Undefined: rejected or not decided in time (recorded by the incident). */
export async function approvalOnProduction(incident: Incident, what: string, details: string): Promise<Approval | undefined> {
  const policy = await local.approvalPolicy.executeWithOptions({ summary: 'read the approval policy' }, []);
  if (!policy.production) {
    incident.record(`approval of: ${what}`, 'skipped', 'not a production target: no approval needed');
    return { approved: true, by: 'policy (not production)', at: new Date().toISOString() };
  }
  const d = await incident.approval(what, details);
  return d?.approved ? d : undefined;
}

/** Resolve: the alert's KPIs within their warning thresholds over an interval, or escalate with
 * why. `failed` short-cuts to the escalation (the remedy did not happen). */
export async function verifyOrEscalate(incident: Incident, o: { kpis: KpiName[]; diagnosis: string; failed?: string; unresolved?: string[]; undo?: () => Promise<unknown> }): Promise<IncidentResult> {
  incident.phase('resolve', `verify: ${o.kpis.join(', ')} within their warning thresholds`);
  const verified = o.failed
    ? undefined
    : await slow.verifyKpis.executeWithOptions({ summary: `verify: ${o.kpis.join(', ')} back within their thresholds (up to ${incident.settings.verifyTimeoutSeconds} s)` }, [
        { kpis: o.kpis, timeoutSeconds: incident.settings.verifyTimeoutSeconds },
      ]);
  if (verified?.ok) {
    incident.state.recoveredAt = new Date().toISOString();
    incident.record('verify', 'succeeded', verified.details);
    for (const u of o.unresolved ?? []) incident.state.followUps.push(u);
    return incident.close('resolved', { diagnosis: o.diagnosis });
  }
  const why = o.failed ?? `verification failed: ${verified?.details}`;
  if (verified) incident.record('verify', 'failed', verified.details);
  // A change that did not help is taken back before the escalation (the remedy's own undo).
  if (verified && o.undo) await o.undo();
  incident.finding(`the response did not work: ${why}`, ...(o.unresolved ?? []));
  incident.state.followUps.push(`investigate by hand (${o.diagnosis}): ${why}`, ...(o.unresolved ?? []));
  await incident.escalate(`${o.diagnosis}: ${why}${o.unresolved?.length ? `; ${o.unresolved.join('; ')}` : ''}`);
  return incident.close('escalated', { diagnosis: o.diagnosis });
}

/** Ends a response whose cause has no automatic remedy: the findings, a follow-up, an escalation. */
export async function escalateWithEvidence(incident: Incident, diagnosis: string, followUp: string, reason: string): Promise<IncidentResult> {
  incident.record('no automatic remedy', 'skipped', reason);
  incident.state.followUps.push(followUp);
  await incident.escalate(`${diagnosis}: ${reason}`);
  return incident.close('escalated', { diagnosis });
}
