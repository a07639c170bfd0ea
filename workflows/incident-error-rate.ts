// Runbook "incident-error-rate": the response to the high error rate alert. Assess the
// application log's recent errors grouped by the stage that failed, the database connections by
// state (against max_connections, with the sessions waiting) and the conductor; then restart what
// the evidence names (the application, the conductor, PostgreSQL when it does not answer), each
// within its restart budget. An exhausted connection pool is not restarted away: the evidence
// goes to the escalation. Verified by the error-rate KPI over an interval.
import { proxyActivities } from '@temporalio/workflow';
import { errorCause, type ErrorCause } from '../common/alert-response';
import type { IncidentInput, IncidentResult } from '../common/incident';
import type { Activities } from '../activities';
import { escalateWithEvidence, restartComponent, verifyOrEscalate } from './alert-response';
import { Incident, type IncidentCarry } from './incident';
import { shortStep } from './presets';
import { recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

/** How far back the log's errors are read. */
const LOG_MINUTES = 10;

const REMEDIES: Record<ErrorCause, string> = {
  application: 'restart the application through service control',
  conductor: 'restart the conductor (runbook restart-conductor, as a child run)',
  database: 'restart PostgreSQL through service control',
  'pool-exhausted': 'none automatic: find the sessions holding connections (by application); escalate with them',
  none: 'nothing to repair: no recent error in the log; verify',
};

export async function incidentErrorRate(input: IncidentInput = {}, carry?: IncidentCarry): Promise<IncidentResult> {
  const incident = new Incident('incident-error-rate', input, carry);
  return recorded(incident.run, async () => {
    if (incident.resumed) return incident.resume();
    await incident.open('credits-service errors');
    incident.phase('assess', `the application log's errors of the last ${LOG_MINUTES} minutes by kind, the database connections, the conductor`);
    const e = await quick.errorEvidence.executeWithOptions({ summary: 'group the log errors by kind; read the database connections and the conductor' }, [{ minutes: LOG_MINUTES }]);
    const { cause, explain } = errorCause(e);
    incident.finding(
      `application log: ${e.errors.reduce((n, x) => n + x.count, 0)} errors in the last ${LOG_MINUTES} minutes (${e.linesRead} lines read)`,
      ...[...e.errors].sort((a, b) => b.count - a.count).map((g) => `  ${g.kind}: ${g.count}, last at ${g.last}: ${g.sample}`),
      e.now ? `failing now (the error counters over ${e.now.seconds} s): ${Object.entries(e.now.byKind).map(([k, n]) => `${k} ${n}`).join(', ') || 'nothing'}` : 'failing now: the error counters could not be read',
      e.pool.error ? `database connections: not readable (${e.pool.error})` : `database connections: ${e.pool.total} of ${e.pool.max} (${Object.entries(e.pool.byState).map(([s, n]) => `${n} ${s}`).join(', ')}); ${e.pool.waiting} waiting`,
      e.conductor.alive ? 'conductor: answers' : `conductor: ${e.conductor.error ?? 'app not enabled'}`,
      `diagnosis: ${cause}: ${explain}`,
    );
    const plan = [...incident.state.findings, `remedy: ${REMEDIES[cause]}`, 'verify: the error rate within its warning threshold over an interval'];
    if (incident.dryRun) return incident.close('dry-run', { diagnosis: cause, plan });

    incident.phase('respond', REMEDIES[cause]);
    switch (cause) {
      case 'application':
      case 'conductor':
      case 'database':
        return verifyOrEscalate(incident, { kpis: ['errorRate'], diagnosis: cause, failed: await restartComponent(incident, cause, explain) });
      case 'pool-exhausted':
        return escalateWithEvidence(incident, cause, 'find what holds the database connections (pg_stat_activity by application_name) and fix the pool size or the leak', explain);
      case 'none':
        incident.record('no repair needed', 'skipped', explain);
        return verifyOrEscalate(incident, { kpis: ['errorRate'], diagnosis: cause });
    }
  });
}
