// `runbook runs`: executed procedures from Temporal visibility.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { isRunbookName } from '../common/runbooks';
import { UsageError } from './errors';

export interface RunRow {
  workflowId: string;
  runId: string;
  runbook: string;
  trigger: string;
  target: string;
  severity: string;
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

/** A run as visibility lists it, with the runbook's search attributes. */
export function runRow(w: WorkflowExecutionInfo): RunRow {
  const sa = w.searchAttributes ?? {};
  return {
    workflowId: w.workflowId,
    runId: w.runId,
    runbook: first(sa.RunbookName),
    trigger: first(sa.RunbookTrigger),
    target: first(sa.Target),
    severity: first(sa.Severity),
    outcome: first(sa.Outcome),
    status: w.status.name,
    startTime: w.startTime.toISOString(),
    closeTime: w.closeTime?.toISOString(),
    durationMs: w.closeTime ? w.closeTime.getTime() - w.startTime.getTime() : undefined,
  };
}

/** Columns padded to their widest cell, two spaces apart. */
export function formatTable(header: string[], lines: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function shortTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function seconds(ms: number | undefined): string {
  return ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`;
}

export async function listRuns(client: Client, o: { runbook?: string; limit?: number }): Promise<RunRow[]> {
  if (o.runbook && !isRunbookName(o.runbook)) throw new UsageError(`--runbook: unknown runbook "${o.runbook}"`);
  const query = o.runbook ? `RunbookName = "${o.runbook}"` : 'RunbookName IS NOT NULL';
  const rows: RunRow[] = [];
  for await (const w of client.workflow.list({ query })) {
    rows.push(runRow(w));
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
    shortTime(r.startTime),
    seconds(r.durationMs),
  ]);
  return formatTable(header, lines);
}
