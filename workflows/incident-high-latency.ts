// Runbook "incident-high-latency": the response to the average and the P99 response-time alerts.
// Assess the time by stage (the application's own recent events, one conductor round trip, the
// database: a probe, slow statements, lock waits), the host's load and what changed lately; then
// the remedy the slowest stage points to: the conductor or the application restarted (within its
// restart budget), the sessions that hold the locks others wait on cancelled (after an approval
// on production), or, for slow statements and load while the application's events are slow,
// load shedding through the application's settings (after an approval on production; it ends by
// itself, and is ended at once when it did not help) with a follow-up (query review, scale out).
// Verified by the latency KPIs over an interval.
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { latencyCause, latencySlowNow, type LatencyCause } from '../common/alert-response';
import type { IncidentInput, IncidentResult } from '../common/incident';
import type { Activities } from '../activities';
import { approvalOnProduction, escalateWithEvidence, restartComponent, verifyOrEscalate } from './alert-response';
import { Incident, type IncidentCarry } from './incident';
import { shortStep } from './presets';
import { recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

/** Load shedding, the remedy for slow statements and an overloaded host: half of the events
 * turned away for 30 minutes. It ends by itself, so a forgotten one cannot starve the service. */
const SHED = { fraction: 0.5, seconds: 1800 };

const REMEDIES: Record<LatencyCause, string> = {
  conductor: 'restart the conductor (runbook restart-conductor, as a child run)',
  'database-locks': 'end the work of the sessions holding the locks others wait on: cancel their statement, or terminate an idle transaction (approval on production)',
  'database-slow': `shed load: the application turns away ${SHED.fraction * 100}% of its events for ${SHED.seconds / 60} minutes (approval on production); review the slow statements (indexes, the query plan)`,
  load: `shed load: the application turns away ${SHED.fraction * 100}% of its events for ${SHED.seconds / 60} minutes (approval on production); scale out (runbook horizontal-scale) or up`,
  application: 'restart the application through service control',
  recovered: 'nothing to repair: the recent events are fast again; verify',
};

export async function incidentHighLatency(input: IncidentInput = {}, carry?: IncidentCarry): Promise<IncidentResult> {
  const incident = new Incident('incident-high-latency', input, carry);
  return recorded(incident.run, async () => {
    if (incident.resumed) return incident.resume();
    await incident.open('credits-service latency');
    incident.phase('assess', 'response time by stage: application, conductor round trip, database (slow statements, locks); load; recent changes');
    const e = await quick.latencyEvidence.executeWithOptions({ summary: 'measure the response time by stage and list recent changes' }, []);
    const avg = await quick.kpiThresholds.executeWithOptions({ summary: 'the average latency thresholds' }, [{ kpi: 'avgResponseMs' }]);
    const p99 = await quick.kpiThresholds.executeWithOptions({ summary: 'the p99 latency thresholds' }, [{ kpi: 'p99ResponseMs' }]);
    const warning = { avgMs: avg.warning, p99Ms: p99.warning };
    const { cause, explain } = latencyCause(e, warning);
    incident.finding(
      e.status ? `status report (its window): average ${e.status.avgMs} ms, p99 ${e.status.p99Ms} ms` : 'status report unreachable',
      `stage application: ${e.recent.events} events in ${e.recent.seconds ?? '?'} s just now${e.recent.avgMs === undefined ? '' : `, average ${e.recent.avgMs} ms, p99 at most ${e.recent.p99Ms} ms`}`,
      e.conductor.alive ? `stage conductor: one round trip ${e.conductor.roundTripMs} ms` : `stage conductor: no answer (${e.conductor.error})`,
      e.database.error ? `stage database: ${e.database.error}` : `stage database: probe ${e.database.probeMs} ms; ${e.database.slowStatements.length} statement(s) over 5 s; ${e.database.lockWaits.length} waiting on locks`,
      ...e.database.lockWaits.map((s) => `  waits ${s.seconds} s on session(s) ${s.blockedBy?.join(', ')}: ${s.query}`),
      ...e.database.slowStatements.map((s) => `  running ${s.seconds} s (session ${s.pid}): ${s.query}`),
      `host load: ${e.loadPerCpu} per CPU`,
      ...e.recentChanges.map((c) => `recent change: ${c}`),
      `diagnosis: ${cause}: ${explain}`,
    );
    const plan = [...incident.state.findings, `remedy: ${REMEDIES[cause]}`, 'verify: average and p99 response time within their warning thresholds over an interval'];
    if (incident.dryRun) return incident.close('dry-run', { diagnosis: cause, plan });

    incident.phase('respond', REMEDIES[cause]);
    switch (cause) {
      case 'conductor':
      case 'application':
        return verifyOrEscalate(incident, { kpis: ['avgResponseMs', 'p99ResponseMs'], diagnosis: cause, failed: await restartComponent(incident, cause, explain) });
      case 'database-locks': {
        const blockers = [...new Set(e.database.lockWaits.flatMap((s) => s.blockedBy ?? []))];
        const what = `end the work of blocking database session(s) ${blockers.join(', ')} (cancel a statement; terminate an idle transaction, which rolls it back)`;
        const ok = await approvalOnProduction(incident, what, e.database.lockWaits.map((s) => `- waits ${s.seconds} s: ${s.query}`).join('\n'));
        if (!ok) return escalateWithEvidence(incident, cause, `decide on: ${what}`, 'the cancellation was not approved');
        const r = await incident.act(what, () => quick.cancelBlockers.executeWithOptions({ summary: what }, [{ pids: blockers }]), (v) => `statements cancelled: ${v.cancelled.join(', ') || 'none'}; idle transactions terminated: ${v.terminated.join(', ') || 'none'}${v.gone.length ? `; no longer blocking: ${v.gone.join(', ')}` : ''}`);
        incident.state.followUps.push('find out what held the locks (a long transaction, a migration) so it does not happen again');
        return verifyOrEscalate(incident, { kpis: ['avgResponseMs', 'p99ResponseMs'], diagnosis: cause, failed: r.ok ? undefined : r.error });
      }
      case 'database-slow':
      case 'load': {
        const followUp = cause === 'load' ? 'scale out (runbook horizontal-scale) or up (runbook vertical-scale): the host is overloaded' : 'review the slow statements (EXPLAIN ANALYZE, indexes)';
        // Runs that started before load shedding existed escalate as they did then.
        if (!patched('latency-load-shedding')) return escalateWithEvidence(incident, cause, cause === 'load' ? followUp : `${followUp}; consider the circuit breaker if they keep requests waiting`, explain);
        // Shedding costs throughput: not while the application's own events are fast (a slow
        // report in the database, the alert's slowness already over): the statements go to review.
        // (Runs that started before this gate shed as they did then.)
        if (patched('latency-shed-only-when-slow') && !latencySlowNow(e, warning)) {
          incident.record('shed load', 'skipped', `the application's events are fast now (${e.recent.events} in ${e.recent.seconds ?? '?'} s${e.recent.avgMs === undefined ? '' : `, average ${e.recent.avgMs} ms`}): nothing to shed`);
          incident.state.followUps.push(followUp);
          return verifyOrEscalate(incident, { kpis: ['avgResponseMs', 'p99ResponseMs'], diagnosis: cause });
        }
        const what = `shed load: turn away ${SHED.fraction * 100}% of the application's events for ${SHED.seconds / 60} minutes (${explain})`;
        const approval = await approvalOnProduction(incident, what, incident.state.findings.map((f) => `- ${f}`).join('\n'));
        if (!approval) return escalateWithEvidence(incident, cause, followUp, 'load shedding was not approved');
        const shed = (fraction: number, seconds: number): Promise<string> => quick.shedLoad.executeWithOptions({ summary: fraction ? what : 'end the load shedding' }, [{ fraction, seconds, approvedBy: approval.by, incident: workflowInfo().workflowId }]);
        const r = await incident.act(what, () => shed(SHED.fraction, SHED.seconds), (v) => v);
        incident.state.followUps.push(followUp, `end the load shedding once that is done (it ends by itself after ${SHED.seconds / 60} minutes): POST {"fraction": 0, "seconds": 1} to the application's load-shedding operation`);
        // Shedding that did not bring the latency back is ended: it costs throughput for nothing.
        const undo = async (): Promise<void> => void (await incident.act('end the load shedding (it did not help)', () => shed(0, 1), (v) => v));
        return verifyOrEscalate(incident, { kpis: ['avgResponseMs', 'p99ResponseMs'], diagnosis: cause, failed: r.ok ? undefined : r.error, undo });
      }
      case 'recovered':
        incident.record('no repair needed', 'skipped', explain);
        return verifyOrEscalate(incident, { kpis: ['avgResponseMs', 'p99ResponseMs'], diagnosis: cause });
    }
  });
}
