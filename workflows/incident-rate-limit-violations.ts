// Runbook "incident-rate-limit-violations": the response to the high rate-limit violations alert.
// Assess which nodes exceed which limits (read twice, 10 s apart: what goes on now), and how the
// violations spread over nodes and over time:
// a few nodes making most of them is spam, many nodes is legitimate growth. The proposal (a
// temporary ban of the offenders, or a higher limit for the event types hit) takes effect only
// after an approval, in every environment: it decides who may earn credits. Applied through the
// application, written to its audit trail, verified by the violations' rate.
import { proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import { rateLimitCause } from '../common/alert-response';
import type { IncidentInput, IncidentResult } from '../common/incident';
import type { Activities } from '../activities';
import { escalateWithEvidence, verifyOrEscalate } from './alert-response';
import { Incident, type IncidentCarry } from './incident';
import { shortStep } from './presets';
import { recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

/** How long the assessment watches the violations. */
const WATCH_SECONDS = 10;
/** A ban lasts a day: long enough to stop a spammer, short enough to be reviewed. */
const BAN_SECONDS = 86_400;
/** A limit raised for growth: half again. */
const GROWTH_FACTOR = 1.5;

export async function incidentRateLimitViolations(input: IncidentInput = {}, carry?: IncidentCarry): Promise<IncidentResult> {
  const incident = new Incident('incident-rate-limit-violations', input, carry);
  return recorded(incident.run, async () => {
    if (incident.resumed) return incident.resume();
    await incident.open('credits rate limits');
    incident.phase('assess', 'the nodes over their limits by event type; spam or growth (spread over nodes and over time)');
    // Two readings WATCH_SECONDS apart: a spammer quiet at the first shows at the second, and no
    // new violation between them means the storm is over (nothing to ban).
    const first = await quick.rateLimitEvidence.executeWithOptions({ summary: 'read the violations by node and event type' }, []);
    await sleep(`${WATCH_SECONDS}s`);
    const e = await quick.rateLimitEvidence.executeWithOptions({ summary: `read them again after ${WATCH_SECONDS} s` }, []);
    const count = (x: typeof e): number => x.violations.reduce((n, v) => n + Object.values(v.byType).reduce((a, b) => a + b, 0), 0);
    const fresh = Math.max(0, count(e) - count(first));
    const judged = rateLimitCause(e);
    const { cause, explain, offenders, types } = fresh > 0 ? judged : { ...judged, cause: 'none' as const, explain: `no new violation in ${WATCH_SECONDS} s: the storm is over`, offenders: [] };
    const byNode = e.violations.map((v) => ({ node: v.node, n: Object.values(v.byType).reduce((a, b) => a + b, 0), byType: v.byType })).sort((a, b) => b.n - a.n);
    incident.finding(
      `${byNode.reduce((a, b) => a + b.n, 0)} violations by ${byNode.length} of ${e.activeNodes} active nodes in the window; ${fresh} new in the ${WATCH_SECONDS} s between two readings`,
      ...byNode.slice(0, 20).map((v) => `  ${v.node}: ${v.n} (${Object.entries(v.byType).map(([t, n]) => `${t} ${n}`).join(', ')})`),
      `over time: ${e.perMinute.slice(-10).map((m) => `${m.at.slice(11, 16)} ${m.violations}`).join(', ') || 'none'}`,
      `limits: ${types.map((t) => `${t} ${e.limits[t]?.limit} per ${e.limits[t]?.per}`).join(', ') || 'none hit'}`,
      ...(e.banned.length ? [`already banned: ${e.banned.join(', ')}`] : []),
      `diagnosis: ${cause}: ${explain}`,
    );
    const changes =
      cause === 'spam'
        ? [{ ban: { nodes: offenders, seconds: BAN_SECONDS } }]
        : cause === 'growth'
          ? types.map((t) => ({ limit: { eventType: t, limit: Math.ceil((e.limits[t]?.limit ?? 1) * GROWTH_FACTOR) } }))
          : [];
    const describe = (c: (typeof changes)[number]): string =>
      'ban' in c ? `ban ${c.ban.nodes.join(', ')} for ${c.ban.seconds / 3600} h` : `raise the ${c.limit.eventType} limit from ${e.limits[c.limit.eventType]?.limit} to ${c.limit.limit} per ${e.limits[c.limit.eventType]?.per}`;
    const proposal = changes.map(describe).join('; ');
    const plan = [...incident.state.findings, `proposal: ${proposal || 'none (no violation now)'}${proposal ? ', after an approval, recorded in the audit trail' : ''}`, 'verify: the violations per hour within the warning threshold'];
    if (incident.dryRun) return incident.close('dry-run', { diagnosis: cause, plan });

    incident.phase('respond', proposal || 'nothing to change');
    if (!changes.length) {
      incident.record('no change needed', 'skipped', explain);
      return verifyOrEscalate(incident, { kpis: ['rateLimitViolationsPerHour'], diagnosis: cause });
    }
    const decision = await incident.approval(proposal, `Findings:\n${incident.state.findings.map((f) => `- ${f}`).join('\n')}`);
    if (!decision && incident.closed) return incident.close(incident.closedOutcome, { diagnosis: cause });
    if (!decision?.approved) return escalateWithEvidence(incident, cause, `decide on: ${proposal}`, decision ? `the proposal was rejected by ${decision.by}` : 'no decision on the proposal in time');
    for (const c of changes) {
      const r = await incident.act(describe(c), () => quick.applyRateLimitChange.executeWithOptions({ summary: describe(c) }, [{ ...c, approvedBy: decision.by, incident: workflowInfo().workflowId }]));
      if (!r.ok) return verifyOrEscalate(incident, { kpis: ['rateLimitViolationsPerHour'], diagnosis: cause, failed: r.error });
    }
    if (cause === 'spam') incident.state.followUps.push(`review the banned nodes before the ban ends (${BAN_SECONDS / 3600} h): ${offenders.join(', ')}`);
    else incident.state.followUps.push('review the raised limits in the monthly rate-limit review');
    return verifyOrEscalate(incident, { kpis: ['rateLimitViolationsPerHour'], diagnosis: cause });
  });
}
