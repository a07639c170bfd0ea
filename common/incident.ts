// The incident lifecycle the runbook describes (Detect, Assess, Respond, Resolve, Post-mortem),
// as data every incident runbook records, and the post-mortem rendered from it. Pure: workflows
// keep the state, tests render it.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Alert } from './alerts';
import type { Approval } from './runbooks';

export type { IncidentInput } from './runbook-inputs';

export type IncidentPhase = 'detect' | 'assess' | 'respond' | 'resolve' | 'post-mortem';

export type IncidentOutcome = 'resolved' | 'escalated' | 'closed-by-operator' | 'dry-run';

export interface IncidentAction {
  name: string;
  at: string;
  outcome: 'succeeded' | 'failed' | 'skipped' | 'planned';
  detail?: string;
}

export interface IncidentEscalation {
  level: number;
  contact: string;
  at: string;
  reason: string;
}

export interface IncidentState {
  runbook: string;
  workflowId: string;
  severity: 'info' | 'warning' | 'critical';
  alert?: Alert;
  /** When the problem was detected: the alert's start, else the run's. */
  detectedAt: string;
  startedAt: string;
  phases: Array<{ phase: IncidentPhase; at: string }>;
  findings: string[];
  actions: IncidentAction[];
  escalations: IncidentEscalation[];
  approvals: Array<Approval & { for: string }>;
  acknowledged?: { by: string; at: string };
  repeats: number;
  /** Fingerprints of the alerts of this incident that still fire. */
  firing: string[];
  /** Other alerts (other fingerprints) that joined this incident: same cause, same target. */
  joined: Array<{ fingerprint: string; name: string; summary: string; at: string }>;
  joinedCount?: number;
  /** When verification saw the system healthy again. */
  recoveredAt?: string;
  closedBy?: 'resolved alert' | 'verification' | 'operator' | 'escalation';
  followUps: string[];
  outcome?: IncidentOutcome;
  endedAt?: string;
  /** How many times the run's history was continued as new (one incident, several runs). */
  continuedAsNew?: number;
}

export interface IncidentResult {
  runbook: string;
  outcome: IncidentOutcome;
  diagnosis?: string;
  incident: IncidentState;
  /** Time to detect (alert start to run start) and to recover (detection to verified), ms. */
  timeToDetectMs?: number;
  timeToRecoverMs?: number;
  postMortem?: { path: string; markdown: string };
  plan?: string[];
}

/** The engineer on call takes the incident: the run records who and when. */
export const acknowledgeUpdate = defineUpdate<{ by: string; at: string }, [{ by: string }]>('acknowledge');
/** An operator closes the incident (it ends after writing its post-mortem). */
export const closeUpdate = defineUpdate<{ closed: boolean }, [{ by: string; reason?: string }]>('close');
export const incidentQuery = defineQuery<IncidentState>('incident');

function ms(a: string | undefined, b: string | undefined): number | undefined {
  return a && b ? Date.parse(b) - Date.parse(a) : undefined;
}

export function formatDuration(msValue: number | undefined): string {
  if (msValue === undefined) return 'n/a';
  const s = Math.round(msValue / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function timeToDetect(s: IncidentState): number | undefined {
  return ms(s.detectedAt, s.startedAt);
}

export function timeToRecover(s: IncidentState): number | undefined {
  return ms(s.detectedAt, s.recoveredAt);
}

/** The post-mortem: what happened, when, what was done, who decided, what is left to do. */
export function renderPostMortem(s: IncidentState): string {
  const lines: string[] = [];
  const title = s.alert ? `${s.alert.name}: ${s.alert.summary}` : s.runbook;
  lines.push(`# Post-mortem: ${title}`, '');
  lines.push(`- Runbook: \`${s.runbook}\`, run \`${s.workflowId}\``);
  lines.push(`- Severity: ${s.severity}`);
  lines.push(`- Outcome: **${s.outcome ?? 'open'}**${s.closedBy ? ` (closed by ${s.closedBy})` : ''}`);
  lines.push(`- Detected: ${s.detectedAt}; run started ${s.startedAt}; ended ${s.endedAt ?? 'n/a'}`);
  lines.push(`- Time to detect: ${formatDuration(timeToDetect(s))}; time to recover: ${s.recoveredAt ? formatDuration(timeToRecover(s)) : 'not recovered'}`);
  if (s.acknowledged) lines.push(`- Acknowledged by ${s.acknowledged.by} at ${s.acknowledged.at}`);
  if (s.repeats) lines.push(`- The alert repeated ${s.repeats} time(s) during the incident (joined this run)`);
  if (s.continuedAsNew) lines.push(`- The incident's history was continued as new ${s.continuedAsNew} time(s) to stay within its bound; this timeline spans every run`);
  if (s.joinedCount) lines.push(`- ${s.joinedCount} other alert(s) of the same cause and target joined this incident instead of starting their own: ${s.joined.slice(0, 10).map((j) => `${j.name} (${j.fingerprint})`).join(', ')}${s.joinedCount > 10 ? ', …' : ''}`);
  lines.push('', '## Timeline', '', '| time | event |', '|---|---|');
  const events: Array<[string, string]> = [
    ...(s.alert ? [[s.alert.startsAt, `alert ${s.alert.name} firing (${s.alert.source})`] as [string, string]] : []),
    ...s.phases.map((p) => [p.at, `phase: ${p.phase}`] as [string, string]),
    ...s.actions.map((a) => [a.at, `${a.outcome}: ${a.name}${a.detail ? ` (${a.detail})` : ''}`] as [string, string]),
    ...s.escalations.map((e) => [e.at, `escalation level ${e.level} to ${e.contact}: ${e.reason}`] as [string, string]),
    ...s.approvals.map((a) => [a.at, `${a.approved ? 'approved' : 'rejected'} by ${a.by}: ${a.for}${a.reason ? ` (${a.reason})` : ''}`] as [string, string]),
  ];
  if (s.recoveredAt) events.push([s.recoveredAt, 'verified: system healthy']);
  events.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [at, what] of events) lines.push(`| ${at} | ${what.replace(/\|/g, '\\|')} |`);
  lines.push('', '## Findings', '');
  for (const f of s.findings.length ? s.findings : ['none recorded']) lines.push(`- ${f}`);
  lines.push('', '## Actions and their outcomes', '');
  for (const a of s.actions.length ? s.actions : []) lines.push(`- ${a.name}: **${a.outcome}**${a.detail ? `: ${a.detail}` : ''}`);
  if (!s.actions.length) lines.push('- none');
  lines.push('', '## Approvals', '');
  for (const a of s.approvals) lines.push(`- ${a.for}: ${a.approved ? 'approved' : 'rejected'} by ${a.by} at ${a.at}${a.reason ? ` (${a.reason})` : ''}`);
  if (!s.approvals.length) lines.push('- none needed');
  lines.push('', '## Follow-ups', '');
  for (const f of s.followUps.length ? s.followUps : ['review this post-mortem in the weekly health review']) lines.push(`- [ ] ${f}`);
  return lines.join('\n') + '\n';
}
