// Runbook "incident-high-detection-activity": the response to the high detection activity alert
// (info: a possible coordinated attack, no page). A watch: it follows the detections for its
// window (sampled, so the pattern shows: rising, steady, over), checks the most flagged nodes for
// false positives (the checks of troubleshoot-unexpected-detections: their own PoGQ scores, how
// many validators flag them), and proposes a penalty (reputation one level down) for confirmed
// repeat offenders (flagged often, by two validators or more, their own work under the
// threshold), applied only after an approval and written to the audit trail. Likely false
// positives are named for the validators' review, never penalized.
import { proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { IncidentResult } from '../common/incident';
import type { RunbookInput } from '../common/runbook-inputs';
import type { Activities } from '../activities';
import { escalateWithEvidence } from './alert-response';
import { Incident, type IncidentCarry } from './incident';
import { shortStep } from './presets';
import { recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

/** A repeat offender: flagged at least this often in the hour, by at least two validators. */
const REPEATS = 3;
/** Nodes reviewed (the most flagged ones). */
const REVIEWED = 10;

export async function incidentHighDetectionActivity(input: RunbookInput<'incident-high-detection-activity'> = {}, carry?: IncidentCarry): Promise<IncidentResult> {
  const incident = new Incident('incident-high-detection-activity', input, carry);
  return recorded(incident.run, async () => {
    if (incident.resumed) return incident.resume();
    await incident.open('byzantine detections');
    const watchSeconds = input.watchSeconds ?? incident.settings.detectionWatchSeconds ?? 600;
    incident.phase('assess', `watch the detections for ${watchSeconds} s, then review the most flagged nodes for false positives`);
    const samples: number[] = [];
    const every = Math.max(1, Math.floor(watchSeconds / 5));
    for (let t = 0; t < watchSeconds && !incident.closed && !incident.dryRun; t += every) {
      samples.push((await quick.detectionPattern.executeWithOptions({ summary: `watch: detections of the last minute (${t} s of ${watchSeconds} s)` }, [{ minutes: 1 }])).total);
      await sleep(`${every}s`);
    }
    const hour = await quick.detectionPattern.executeWithOptions({ summary: 'the detections of the last hour, by node' }, [{ minutes: 60 }]);
    const trend = samples.length > 1 ? (samples[samples.length - 1]! > samples[0]! * 1.2 ? 'rising' : samples[samples.length - 1]! < samples[0]! * 0.8 ? 'falling' : 'steady') : 'not watched';
    const reviews = [];
    for (const n of hour.nodes.slice(0, REVIEWED)) reviews.push(await quick.nodeDetectionReview.executeWithOptions({ summary: `false-positive check of ${n.node}` }, [{ nodeId: n.node }]));
    const falsePositives = reviews.filter((r) => r.likelyFalsePositive);
    // A penalty needs the evidence to agree: flagged often, by two validators at least, and the
    // node's own work scoring under the threshold. Good own scores flagged by several validators
    // are left to a human (unconfirmed), never penalized by a script.
    const offenders = reviews.filter((r) => !r.likelyFalsePositive && r.detections >= REPEATS && r.distinctValidators >= 2 && r.avgPogq !== undefined && r.avgPogq < r.threshold && r.reputation !== 'blacklisted');
    incident.finding(
      `${hour.total} detections in the last hour; per minute over the last 10: ${hour.perMinute.join(' ')}`,
      `watched ${samples.length} sample(s) of the last minute's detections: ${samples.join(' -> ') || 'none'} (${trend})`,
      ...reviews.map((r) => `  ${r.nodeId} (${r.reputation}): ${r.detections} detections in 24 h by ${r.distinctValidators} validator(s); own PoGQ ${r.avgPogq ?? 'n/a'} (threshold ${r.threshold})${r.likelyFalsePositive ? ': likely a false positive' : offenders.includes(r) ? ': confirmed repeat offender' : ': unconfirmed'}`),
      `diagnosis: ${offenders.length} confirmed repeat offender(s), ${falsePositives.length} likely false positive(s)`,
    );
    const proposal = offenders.length ? `lower the reputation of ${offenders.map((o) => o.nodeId).join(', ')} one level each (a penalty)` : '';
    const plan = [...incident.state.findings, proposal ? `proposal: ${proposal}, after an approval, recorded in the audit trail` : 'no penalty to propose'];
    const diagnosis = offenders.length ? 'repeat-offenders' : falsePositives.length ? 'false-positives' : 'no-offenders';
    if (incident.dryRun) return incident.close('dry-run', { diagnosis, plan });

    incident.phase('respond', proposal || 'report');
    for (const f of falsePositives) incident.state.followUps.push(`review the validators flagging ${f.nodeId}: its own scores are above the threshold (troubleshoot-unexpected-detections)`);
    if (!offenders.length) {
      incident.record('no penalty proposed', 'skipped', 'no confirmed repeat offender');
      incident.state.recoveredAt = new Date().toISOString();
      return incident.close('resolved', { diagnosis });
    }
    const decision = await incident.approval(proposal, `Findings:\n${incident.state.findings.map((f) => `- ${f}`).join('\n')}`);
    if (!decision && incident.closed) return incident.close(incident.closedOutcome, { diagnosis });
    if (!decision?.approved) return escalateWithEvidence(incident, diagnosis, `decide on: ${proposal}`, decision ? `the penalty was rejected by ${decision.by}` : 'no decision on the penalty in time');
    const r = await incident.act(proposal, () => quick.penalizeNodes.executeWithOptions({ summary: proposal }, [{ nodes: offenders.map((o) => o.nodeId), approvedBy: decision.by, incident: workflowInfo().workflowId }]), (v) => v.map((p) => `${p.node} ${p.from} -> ${p.to}`).join(', '));
    if (!r.ok) return escalateWithEvidence(incident, diagnosis, `apply by hand: ${proposal}`, `the penalty failed: ${r.error}`);
    incident.state.recoveredAt = new Date().toISOString();
    incident.state.followUps.push('watch the penalized nodes in the weekly health review; raise the penalties if they go on');
    return incident.close('resolved', { diagnosis });
  });
}
