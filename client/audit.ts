// `runbook audit`: the executed procedures, from Temporal visibility (which runs) and history
// (who approved what, how each ended). The same answers the Web UI gives, for scripts and reports.
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { isRunbookName } from '../common/runbooks';
import { outcomes } from '../common/search-attributes';
import { controlsOf, type ControlRecord } from './controls';
import { UsageError } from './errors';
import { formatTable, runRow, seconds, shortTime, type RunRow } from './runs';

export interface AuditRow extends RunRow {
  /** Who asked for the run (the starter's identity, "schedule", "alertmanager", ...). */
  requestedBy?: string;
  approvals: Array<{ approved: boolean; by: string; reason?: string; at: string; planHash?: string }>;
  /** Cancel, terminate and reset (retry) by operators, with their reasons. */
  controls: ControlRecord[];
  failure?: string;
}

const OUTCOMES: readonly string[] = outcomes;

export function auditQuery(o: { since?: string; runbook?: string; outcome?: string }): string {
  const parts = ['RunbookName IS NOT NULL'];
  if (o.runbook) {
    if (!isRunbookName(o.runbook)) throw new UsageError(`--runbook: unknown runbook "${o.runbook}"`);
    parts.push(`RunbookName = "${o.runbook}"`);
  }
  if (o.outcome) {
    if (!OUTCOMES.includes(o.outcome)) throw new UsageError(`--outcome: expected one of ${OUTCOMES.join(', ')}, found "${o.outcome}"`);
    parts.push(`Outcome = "${o.outcome}"`);
  }
  if (o.since) {
    const d = new Date(o.since);
    if (Number.isNaN(d.getTime())) throw new UsageError(`--since: expected a date such as 2025-10-01 or 2025-10-01T02:00:00Z, found "${o.since}"`);
    parts.push(`StartTime >= "${d.toISOString()}"`);
  }
  return parts.join(' AND ');
}

export async function audit(client: Client, o: { since?: string; runbook?: string; outcome?: string; limit?: number }): Promise<AuditRow[]> {
  const query = auditQuery(o);
  const rows: AuditRow[] = [];
  for await (const w of client.workflow.list({ query })) {
    const row: AuditRow = { ...runRow(w), approvals: [], controls: [] };
    const history = await client.workflow.getHandle(w.workflowId, w.runId).fetchHistory();
    row.controls = controlsOf(history.events ?? []);
    for (const e of history.events ?? []) {
      const start = e.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      if (start) {
        const input = defaultPayloadConverter.fromPayload<{ requestedBy?: unknown } | null>(start);
        if (typeof input?.requestedBy === 'string') row.requestedBy = input.requestedBy;
      }
      const accepted = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
      if (accepted?.name === 'approval') {
        const arg = accepted.args?.payloads?.[0];
        const d = arg ? defaultPayloadConverter.fromPayload<{ approved: boolean; by: string; reason?: string; planHash?: string }>(arg) : undefined;
        const seconds = Number(e.eventTime?.seconds ?? 0);
        if (d) row.approvals.push({ approved: d.approved, by: d.by, reason: d.reason, at: new Date(seconds * 1000).toISOString(), planHash: d.planHash });
      }
      const failed = e.workflowExecutionFailedEventAttributes?.failure;
      if (failed) row.failure = failed.cause?.message ?? failed.message ?? undefined;
    }
    rows.push(row);
    if (rows.length >= (o.limit ?? 200)) break;
  }
  return rows;
}

function csvCell(v: string): string {
  return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function approvalsText(r: AuditRow): string {
  return r.approvals.map((a) => `${a.approved ? 'approved' : 'rejected'} by ${a.by}${a.reason ? ` (${a.reason})` : ''}`).join('; ');
}

const controlVerb = { cancel: 'cancelled', terminate: 'terminated', reset: 'retried' } as const;

export function controlsText(r: AuditRow): string {
  return r.controls.map((c) => `${controlVerb[c.action]} by ${c.by}${c.reason ? ` (${c.reason})` : ''}`).join('; ');
}

export function auditCsv(rows: AuditRow[]): string {
  const header = ['workflowId', 'runbook', 'trigger', 'requestedBy', 'target', 'severity', 'status', 'outcome', 'startTime', 'closeTime', 'durationMs', 'approvals', 'controls', 'failure'];
  const lines = rows.map((r) =>
    [r.workflowId, r.runbook, r.trigger, r.requestedBy ?? '', r.target, r.severity, r.status, r.outcome, r.startTime, r.closeTime ?? '', r.durationMs === undefined ? '' : String(r.durationMs), approvalsText(r), controlsText(r), r.failure ?? '']
      .map(csvCell)
      .join(','),
  );
  return [header.join(','), ...lines].join('\n');
}

export function auditTable(rows: AuditRow[]): string {
  if (rows.length === 0) return 'no executed runbooks match';
  const header = ['STARTED', 'RUNBOOK', 'TRIGGER', 'BY', 'TARGET', 'OUTCOME', 'DURATION', 'APPROVALS / CONTROLS', 'WORKFLOW ID'];
  const lines = rows.map((r) => [
    shortTime(r.startTime),
    r.runbook,
    r.trigger,
    r.requestedBy ?? '-',
    r.target,
    r.outcome || r.status.toLowerCase(),
    seconds(r.durationMs),
    [approvalsText(r), controlsText(r)].filter(Boolean).join('; ') || '-',
    r.workflowId,
  ]);
  return formatTable(header, lines);
}
