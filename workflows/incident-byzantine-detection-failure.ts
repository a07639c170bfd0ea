// Runbook "incident-byzantine-detection-failure" (the runbook's Incident 2): read the audit trail
// of detections; check that PoGQ scores are computed and validators are active; compare the
// threshold the application runs with against the configured one; cross-check validators against
// each other. A wrong threshold gets a proposed change that takes effect only after an approval;
// anything else is reported and escalated (a compromised validator is a security engineer's
// call, not a script's).
import { proxyActivities } from '@temporalio/workflow';
import type { IncidentInput, IncidentResult } from '../common/incident';
import type { Activities } from '../activities';
import type { DetectionAudit } from '../activities/byzantine';
import { Incident, type IncidentCarry } from './incident';
import { extend, shortStep } from './presets';
import { recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);
const slow = proxyActivities<Activities>(extend(shortStep, { startToCloseTimeout: '1 hour', maximumAttempts: 1 }));

/** What the audit points to, in the order the runbook's resolution lists them. */
export function detectionCause(a: DetectionAudit): { cause: 'pogq-not-computed' | 'no-active-validators' | 'threshold' | 'suspect-validators' | 'unknown'; explain: string } {
  if (a.pogq.qualityEventsLast10Min > 0 && a.pogq.scoredLast10Min === 0) return { cause: 'pogq-not-computed', explain: 'quality-gradient events carry no PoGQ score' };
  if (a.validators.healthy === 0) return { cause: 'no-active-validators', explain: 'no healthy validator' };
  if (a.threshold.current !== undefined && Math.abs(a.threshold.current - a.threshold.expected) > 1e-9) {
    return { cause: 'threshold', explain: `the application runs with PoGQ threshold ${a.threshold.current}, the configured one is ${a.threshold.expected}` };
  }
  if (a.suspectValidators.length) return { cause: 'suspect-validators', explain: a.suspectValidators.map((s) => `${s.validator}: ${s.why}`).join('; ') };
  return { cause: 'unknown', explain: 'scores computed, validators active, threshold as configured, no validator stands out' };
}

export async function incidentByzantineDetectionFailure(input: IncidentInput = {}, carry?: IncidentCarry): Promise<IncidentResult> {
  const incident = new Incident('incident-byzantine-detection-failure', input, carry);
  return recorded(incident.run, async () => {
    if (incident.resumed) return incident.resume();
    await incident.open('byzantine-detection');
    incident.phase('assess', 'audit trail of detections, PoGQ scoring, validators, threshold, cross-check');
    const audit = await quick.detectionAudit.executeWithOptions({ summary: 'read the detection audit trail and check scoring, validators and threshold' }, []);
    incident.finding(...audit.findings);
    const { cause, explain } = detectionCause(audit);
    incident.finding(`diagnosis: ${cause}: ${explain}`);
    const expected = audit.threshold.expected;
    const plan = [
      ...audit.findings,
      `diagnosis: ${cause}`,
      cause === 'threshold'
        ? `propose PoGQ threshold ${audit.threshold.current} -> ${expected}; apply it only after an approval; verify new detections`
        : 'report the findings and escalate (no automatic change for this cause)',
    ];
    if (incident.dryRun) return incident.close('dry-run', { diagnosis: cause, plan });

    incident.phase('respond', cause === 'threshold' ? 'propose a threshold change' : 'report and escalate');
    if (cause !== 'threshold') {
      incident.state.followUps.push(`security review: ${explain}`);
      if (cause === 'suspect-validators') incident.state.followUps.push('cross-check the suspect validators by hand; quarantine any confirmed compromised validator');
      await incident.escalate(`no automatic resolution: ${explain}`);
      return incident.close('escalated', { diagnosis: cause });
    }
    const change = `set the PoGQ threshold from ${audit.threshold.current} to ${expected}`;
    incident.record(change, 'planned', `last set by ${audit.threshold.updatedBy} at ${audit.threshold.updatedAt}`);
    const decision = await incident.approval(change, `Findings:\n${audit.findings.map((f) => `- ${f}`).join('\n')}`);
    if (!decision && incident.closed) return incident.close(incident.closedOutcome, { diagnosis: cause });
    if (!decision?.approved) {
      incident.finding(decision ? `the change was rejected by ${decision.by}` : 'no decision on the change in time');
      incident.state.followUps.push(`decide on: ${change}`);
      await incident.escalate(decision ? `threshold change rejected by ${decision.by}` : 'threshold change not approved in time');
      return incident.close('escalated', { diagnosis: cause });
    }
    const since = new Date().toISOString();
    const applied = await incident.act(change, () => quick.setDetectionThreshold.executeWithOptions({ summary: change }, [{ value: expected, approvedBy: decision.by }]));
    if (!applied.ok) {
      await incident.escalate(`applying the threshold failed: ${applied.error}`);
      return incident.close('escalated', { diagnosis: cause });
    }

    incident.phase('resolve', 'verify: new detections recorded');
    const seen = await slow.waitForDetections.executeWithOptions({ summary: 'verify: detections recorded again' }, [{ since, timeoutSeconds: incident.settings.verifyTimeoutSeconds }]);
    if (seen.detections > 0) {
      incident.state.recoveredAt = new Date().toISOString();
      incident.record('verify: detections recorded again', 'succeeded', `${seen.detections} since the change`);
      incident.state.followUps.push(`find out who or what set the threshold to ${audit.threshold.current} (${audit.threshold.updatedBy})`);
      return incident.close('resolved', { diagnosis: cause });
    }
    incident.record('verify: detections recorded again', 'failed', `none within ${incident.settings.verifyTimeoutSeconds} s`);
    await incident.escalate('no detections after the threshold change');
    return incident.close('escalated', { diagnosis: cause });
  });
}
