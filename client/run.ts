// `runbook run <runbook>`: check the input against the runbook's schema before anything starts,
// start the run under the operator's identity, optionally wait for its result; and the exit code
// a script can trust: 0 succeeded (or dry-run), 1 failed, 2 bad input, 3 escalated, rejected or
// waiting on a human.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { identityPattern } from '../common/formats';
import { InvalidRunbookInput, starterFields, validateRunbookInput } from '../common/runbook-inputs';
import { isRunbookName, runbookWorkflows, singletonRunbooks, type RunbookName as Runbook } from '../common/runbooks';
import { RunbookName, Trigger } from '../common/search-attributes';
import { progressQuery, type PendingApproval } from '../workflows/approval';
import type { LoadedConfig } from '../config/load';
import { UsageError } from './errors';

export function parseInput(text: string | undefined): Record<string, unknown> {
  if (text === undefined || text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const shown = text.length > 80 ? `${JSON.stringify(text.slice(0, 60)).slice(0, -1)}…" (${text.length} characters)` : JSON.stringify(text);
    throw new UsageError(`--input: expected a JSON object such as '{"backup":"latest"}', found ${shown} (${(e as Error).message.slice(0, 200)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`--input: expected a JSON object, found ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

export function runWorkflowId(runbook: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `${runbook}-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** Who the operator is, as runs record it (starter, approver, acknowledger): RUNBOOK_IDENTITY or
 * the OS user (approvals.identity: environment), or the OS user only (os-user). Never a name typed
 * on the command line: that would let anyone approve as anyone. */
export function operatorIdentity(config: LoadedConfig, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = config.approvals.identity === 'environment' ? env.RUNBOOK_IDENTITY : undefined;
  let id = fromEnv;
  let source = 'RUNBOOK_IDENTITY';
  if (!id) {
    source = 'the OS user';
    try {
      id = os.userInfo().username;
    } catch {
      id = '';
    }
  }
  if (!identityPattern.test(id)) throw new UsageError(`operator identity: expected a name of letters, digits and . _ @ + - from ${source}, found ${JSON.stringify(id)}`);
  return id;
}

/** `--by` may only repeat the operator's identity (scripts written for older versions pass it). */
export function checkBy(by: string | undefined, identity: string): void {
  if (by !== undefined && by !== identity) {
    throw new UsageError(`--by: decisions are recorded under your identity "${identity}" (RUNBOOK_IDENTITY or the OS user, see approvals.identity), not a name given on the command line; found "${by}"`);
  }
}

/** The runbook's input as the CLI will send it: the operator's JSON checked against the schema,
 * plus the starter's fields the CLI sets itself. Throws UsageError (exit 2) naming every bad field. */
export function runInput(runbook: string, text: string | undefined, o: { dryRun?: boolean; toTime?: string; toName?: string; requestedBy: string }): { runbook: Runbook; input: Record<string, unknown> } {
  if (!isRunbookName(runbook)) {
    throw new UsageError(`unknown runbook "${runbook}": expected one of ${Object.keys(runbookWorkflows).join(', ')}`);
  }
  const given = parseInput(text);
  const set = starterFields.filter((f) => f in given);
  if (set.length) throw new UsageError(`--input: ${set.join(', ')} ${set.length > 1 ? 'are' : 'is'} set by the CLI (who you are, how the run started), not an input; found ${set.map((f) => `${f}: ${JSON.stringify(given[f])}`).join(', ')}`);
  const input: Record<string, unknown> = { ...given, trigger: 'manual', requestedBy: o.requestedBy };
  if (o.dryRun) input.dryRun = true;
  // --to-time and --to-name are the recovery target's input fields spelled as options: the same
  // schema checks them (a runbook without a recovery target refuses them by name).
  const targets = ([['--to-time', 'toTime', o.toTime], ['--to-name', 'toName', o.toName]] as const).filter(([, , value]) => value !== undefined);
  for (const [flag, field, value] of targets) {
    if (field in given) throw new UsageError(`${flag} and --input's ${field} both set the recovery target; found ${flag} ${JSON.stringify(value)} and ${field}: ${JSON.stringify(given[field])}`);
    input[field] = value;
  }
  try {
    validateRunbookInput(runbook, input);
  } catch (e) {
    if (e instanceof InvalidRunbookInput) {
      // Name only what the operator gave, so the error points at the flag to fix.
      const sources = [...(text !== undefined || !targets.length ? ['--input'] : []), ...targets.map(([flag]) => flag)];
      throw new UsageError(`${sources.join(' and ')} for ${runbook}:\n  ${e.problems.join('\n  ')}\n(runbook describe ${runbook} lists its inputs)`);
    }
    throw e;
  }
  return { runbook, input };
}

/** Starts a run of an input runInput has prepared (and checked). */
export async function startRunbook(client: Client, config: LoadedConfig, prepared: { runbook: Runbook; input: Record<string, unknown> }, requestedBy: string) {
  const { runbook, input } = prepared;
  // Singletons run under their own name: the server refuses a second start while one runs.
  const workflowId = singletonRunbooks.includes(runbook) ? runbook : runWorkflowId(runbook);
  const start = client.workflow.start(runbookWorkflows[runbook], {
    workflowIdConflictPolicy: 'FAIL',
    workflowId,
    taskQueue: config.temporal.taskQueue,
    args: [input],
    typedSearchAttributes: [
      { key: RunbookName, value: runbook },
      { key: Trigger, value: 'manual' },
    ],
    staticSummary: `${runbook} (manual${input.dryRun ? ', dry-run' : ''}, by ${requestedBy})`,
    staticDetails: `Started from the CLI by ${requestedBy} with input:\n\n\`\`\`json\n${JSON.stringify(input, null, 2)}\n\`\`\``,
  });
  const handle = await start.catch((e: unknown) => {
    if (e instanceof WorkflowExecutionAlreadyStartedError) {
      throw new UsageError(`${runbook} is already running (workflow ${workflowId}): one at a time; follow it with \`runbook runs --runbook ${runbook}\``);
    }
    throw e;
  });
  return handle;
}

/** Exit codes of `runbook run --wait`, from the run's outcome. */
export const exitCodes = { succeeded: 0, failed: 1, badInput: 2, human: 3 } as const;

/** The exit code of a finished run's result: succeeded, passed, resolved and dry-run are 0; a
 * failed run (a FAILED drill included) 1; escalated, rejected, timed-out approvals and runs closed
 * by an operator 3. */
export function exitCodeOf(result: unknown): number {
  const outcome = (result as { outcome?: unknown } | null)?.outcome;
  if (outcome === 'succeeded' || outcome === 'passed' || outcome === 'resolved' || outcome === 'dry-run') return exitCodes.succeeded;
  if (outcome === 'escalated' || outcome === 'rejected' || outcome === 'approval-timeout' || outcome === 'closed-by-operator') return exitCodes.human;
  return exitCodes.failed;
}

/** The run's result, or, unless `keepWaiting`, the approval it waits for as soon as it does. */
export async function resultOrHuman(handle: WorkflowHandle, keepWaiting: boolean): Promise<{ result?: unknown; waiting?: PendingApproval }> {
  const result = handle.result().then((r: unknown) => ({ result: r }));
  // Nobody may await it after an early return: its rejection must not go unhandled.
  result.catch(() => undefined);
  if (keepWaiting) return result;
  for (;;) {
    const tick = new Promise<'tick'>((r) => setTimeout(() => r('tick'), 1000));
    const first = await Promise.race([result, tick]);
    if (first !== 'tick') return first;
    const p = await handle.query(progressQuery).catch(() => undefined);
    if (p?.awaitingApproval && p.approval) return { waiting: p.approval };
  }
}
