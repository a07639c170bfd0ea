// `runbook runs`: executed procedures from Temporal visibility.
import type { Client } from '@temporalio/client';
import { isRunbookName } from '../common/runbooks';
import { UsageError } from './errors';

export interface RunRow {
  workflowId: string;
  runId: string;
  runbook: string;
  trigger: string;
  target: string;
  outcome: string;
  status: string;
  startTime: string;
  closeTime?: string;
  durationMs?: number;
}

function first(v: unknown): string {
  const x: unknown = Array.isArray(v) ? v[0] : v;
  if (x === undefined || x === null) return '';
  return x instanceof Date ? x.toISOString() : typeof x === 'string' ? x : JSON.stringify(x);
}

export async function listRuns(client: Client, o: { runbook?: string; limit?: number }): Promise<RunRow[]> {
  if (o.runbook && !isRunbookName(o.runbook)) throw new UsageError(`--runbook: unknown runbook "${o.runbook}"`);
  const query = o.runbook ? `RunbookName = "${o.runbook}"` : 'RunbookName IS NOT NULL';
  const rows: RunRow[] = [];
  for await (const w of client.workflow.list({ query })) {
    const sa = w.searchAttributes ?? {};
    rows.push({
      workflowId: w.workflowId,
      runId: w.runId,
      runbook: first(sa.RunbookName),
      trigger: first(sa.Trigger),
      target: first(sa.Target),
      outcome: first(sa.Outcome),
      status: w.status.name,
      startTime: w.startTime.toISOString(),
      closeTime: w.closeTime?.toISOString(),
      durationMs: w.closeTime ? w.closeTime.getTime() - w.startTime.getTime() : undefined,
    });
    if (rows.length >= (o.limit ?? 50)) break;
  }
  return rows;
}

export function formatRuns(rows: RunRow[]): string {
  if (rows.length === 0) return 'no runs found';
  const header = ['WORKFLOW ID', 'RUNBOOK', 'TRIGGER', 'TARGET', 'STATUS', 'OUTCOME', 'STARTED', 'DURATION'];
  const lines = rows.map((r) => [
    r.workflowId,
    r.runbook,
    r.trigger,
    r.target,
    r.status,
    r.outcome,
    r.startTime.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    r.durationMs === undefined ? '-' : `${(r.durationMs / 1000).toFixed(1)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
