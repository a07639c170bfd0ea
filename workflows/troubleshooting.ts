// The troubleshooting guide's four problems as runbooks: each gathers the checks the guide lists,
// reports the findings with the guide's candidate solutions (marking those the checks point to)
// as a Markdown report, and changes nothing, except one action: restoring a node's reputation after
// a confirmed false positive, which waits for an approval.
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { RunbookInput } from '../common/runbook-inputs';
import type { Approval } from '../common/runbooks';
import type { Activities } from '../activities';
import type { TroubleshootingChecks } from '../activities/troubleshooting';
import { ApprovalGate } from './approval-gate';
import { readHostFigures } from './host-figures';
import { shortStep } from './presets';
import { openRun, recorded, type RunRecord } from './run-record';

const quick = proxyActivities<Activities>(shortStep);
const sampling = proxyActivities<Activities>({ ...shortStep, startToCloseTimeout: '30 minutes' });

type Solution = { key: string; text: string };

/** The guide's candidate solutions per problem. */
export const SOLUTIONS: Record<string, Solution[]> = {
  'troubleshoot-high-latency': [
    { key: 'optimize-queries', text: 'Optimize database queries (slow queries are running)' },
    { key: 'increase-cache', text: 'Increase cache size (buffer cache hit ratio under 95%)' },
    { key: 'add-indexes', text: 'Add indexes (a table is scanned sequentially far more than by index)' },
    { key: 'scale-horizontally', text: 'Scale horizontally (the host is loaded beyond its CPUs)' },
  ],
  'troubleshoot-memory-growth': [
    { key: 'reduce-window', text: 'Reduce the metrics collector window size (e.g. from 60 to 30 minutes)' },
    { key: 'clear-old-metrics', text: 'Clear old metrics from the collector' },
    { key: 'close-lingering-connections', text: 'Close lingering connections (many idle database connections)' },
  ],
  'troubleshoot-conductor-connection': [
    { key: 'restart-conductor', text: 'Restart the conductor: `runbook run restart-conductor` (with `clean: true` only after an export, approval required)' },
    { key: 'check-logs', text: 'Check the conductor logs (last lines below)' },
  ],
  'troubleshoot-unexpected-detections': [
    { key: 'adjust-threshold', text: 'Adjust the PoGQ threshold if it is too strict (incident-byzantine-detection-failure proposes it, with approval)' },
    { key: 'review-algorithm', text: 'Review the detection algorithm against the evidence below' },
    { key: 'restore-reputation', text: 'Restore the reputation of a confirmed false positive (this runbook, with approval)' },
  ],
};


export interface TroubleshootingResult {
  runbook: string;
  outcome: 'succeeded' | 'dry-run' | 'rejected' | 'approval-timeout';
  findings: string[];
  solutions: Array<Solution & { indicated: boolean }>;
  facts: TroubleshootingChecks['facts'];
  report: { path: string; markdown: string };
  approval?: Approval;
  action?: string;
}

function render(runbook: string, checks: TroubleshootingChecks, solutions: TroubleshootingResult['solutions'], action?: string): string {
  return [
    `# ${runbook}`,
    '',
    `Run \`${workflowInfo().workflowId}\` at ${new Date().toISOString()}.`,
    '',
    '## Checks',
    '',
    ...checks.findings.map((f) => (f.startsWith('    ') ? f : `- ${f}`)),
    '',
    '## Candidate solutions (from the troubleshooting guide)',
    '',
    ...solutions.map((s) => `- ${s.indicated ? '**indicated by the checks**: ' : ''}${s.text}`),
    ...(action ? ['', '## Action', '', action] : []),
    '',
  ].join('\n');
}

async function finish(run: RunRecord, runbook: string, checks: TroubleshootingChecks, extra: Partial<TroubleshootingResult> = {}): Promise<TroubleshootingResult> {
  const solutions = (SOLUTIONS[runbook] ?? []).map((s) => ({ ...s, indicated: checks.indicated.includes(s.key) }));
  const markdown = render(runbook, checks, solutions, extra.action);
  const { path } = await quick.writeReport.executeWithOptions({ summary: 'write the troubleshooting report' }, [{ name: `${runbook}-${workflowInfo().workflowId}.md`, markdown }]);
  const outcome = extra.outcome ?? 'succeeded';
  run.finish(outcome === 'approval-timeout' ? 'rejected' : outcome, markdown);
  return { runbook, outcome, findings: checks.findings, solutions, facts: checks.facts, report: { path, markdown }, ...extra };
}

export async function troubleshootHighLatency(raw: RunbookInput<'troubleshoot-high-latency'> = {}): Promise<TroubleshootingResult> {
  const { run } = openRun('troubleshoot-high-latency', raw, 'warning');
  return recorded(run, async () => {
    run.step('checks', 'system resources, database performance, conductor latency, cache hit rate');
    // The load and memory of the application's and the database's hosts, read there.
    const figures = patched('per-host-figures') ? await readHostFigures(['application', 'database']) : undefined;
    const checks = await quick.highLatencyChecks.executeWithOptions({ summary: 'gather the high-latency checks' }, figures ? [{ hosts: figures.hosts }] : []);
    if (figures?.unread.length) checks.findings.push(...figures.unread);
    return finish(run, 'troubleshoot-high-latency', checks);
  });
}

export async function troubleshootMemoryGrowth(raw: RunbookInput<'troubleshoot-memory-growth'> = {}): Promise<TroubleshootingResult> {
  const { run, input } = openRun('troubleshoot-memory-growth', raw, 'warning');
  return recorded(run, async () => {
    const samples = input.samples ?? 6;
    const intervalSeconds = input.intervalSeconds ?? 10;
    run.step('checks', `memory over time (${samples} samples ${intervalSeconds} s apart), metrics window, lingering connections`);
    const checks = await sampling.memoryGrowthChecks.executeWithOptions({ summary: 'sample memory and list connections' }, [{ samples, intervalSeconds }]);
    return finish(run, 'troubleshoot-memory-growth', checks);
  });
}

export async function troubleshootConductorConnection(raw: RunbookInput<'troubleshoot-conductor-connection'> = {}): Promise<TroubleshootingResult> {
  const { run } = openRun('troubleshoot-conductor-connection', raw, 'warning');
  return recorded(run, async () => {
    run.step('checks', 'conductor running, WebSocket port reachable, firewall rules, conductor log');
    const checks = await quick.conductorConnectionChecks.executeWithOptions({ summary: 'gather the conductor connection checks' }, []);
    return finish(run, 'troubleshoot-conductor-connection', checks);
  });
}

export async function troubleshootUnexpectedDetections(raw: RunbookInput<'troubleshoot-unexpected-detections'> = {}): Promise<TroubleshootingResult> {
  const { run, input } = openRun('troubleshoot-unexpected-detections', raw, 'warning');
  const gate = new ApprovalGate(run);
  return recorded(run, async () => {
    run.step('checks', 'PoGQ scores, detection evidence, validators cross-checked');
    const r = await quick.nodeDetectionReview.executeWithOptions({ summary: 'review the node: scores, evidence, validators' }, [{ nodeId: input.nodeId }]);
    run.target(r.nodeId);
    const checks: TroubleshootingChecks = {
      facts: { nodeId: r.nodeId, reputation: r.reputation, avgPogq: r.avgPogq, detections: r.detections, distinctValidators: r.distinctValidators, likelyFalsePositive: r.likelyFalsePositive },
      indicated: r.likelyFalsePositive ? ['restore-reputation', 'adjust-threshold'] : ['review-algorithm'],
      findings: [
        `node ${r.nodeId}, reputation ${r.reputation}`,
        `PoGQ scores of its own work over 7 days: average ${r.avgPogq ?? 'n/a'} over ${r.scoredEvents} scored events (threshold ${r.threshold})`,
        `${r.detections} detections against it in 24 hours by ${r.distinctValidators} distinct validator(s)`,
        ...r.evidence.map((e) => `evidence: ${e.at} by ${e.detector}: PoGQ ${e.pogq ?? '?'} (${e.anomaly ?? 'no anomaly recorded'})`),
        r.likelyFalsePositive ? 'likely a false positive: its scores are above the threshold and at most one validator flags it' : 'not a clear false positive',
      ],
    };
    const target = input.reputation ?? 'normal';
    const lowered = ['blacklisted', 'critical', 'warning'].includes(r.reputation);
    if (!r.likelyFalsePositive || !lowered) return finish(run, 'troubleshoot-unexpected-detections', checks, { action: r.likelyFalsePositive ? `reputation is ${r.reputation}: nothing to restore` : undefined });
    const action = `restore the reputation of ${r.nodeId} from ${r.reputation} to ${target}`;
    if (input.dryRun) return finish(run, 'troubleshoot-unexpected-detections', checks, { outcome: 'dry-run', action: `plan: ${action} (after an approval)` });
    run.step('awaiting approval', `${action}\n\nApprove with \`runbook approve ${workflowInfo().workflowId}\`.`);
    const decision = await gate.wait({ what: action, plan: [action, ...checks.findings], timeoutSeconds: input.approvalTimeoutSeconds ?? 4 * 3600, summary: `wait for an approval: ${action}` });
    if (!decision?.approved) {
      return finish(run, 'troubleshoot-unexpected-detections', checks, { outcome: decision ? 'rejected' : 'approval-timeout', approval: decision, action: `${action}: ${decision ? `rejected by ${decision.by}` : 'no approval in time'}; nothing changed` });
    }
    run.step('restore reputation', action);
    await quick.restoreReputation.executeWithOptions({ summary: action }, [{ nodeId: r.nodeId, reputation: target, approvedBy: decision.by }]);
    return finish(run, 'troubleshoot-unexpected-detections', checks, { approval: decision, action: `${action}: done (approved by ${decision.by})` });
  });
}
