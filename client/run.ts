// `runbook run <runbook>`: start a runbook with a JSON input, optionally wait for its result.
import { randomBytes } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { isRunbookName, runbookWorkflows, singletonRunbooks, type CommonInput } from '../common/runbooks';
import { RunbookName, Trigger } from '../common/search-attributes';
import type { LoadedConfig } from '../worker/config';
import { UsageError } from './errors';

export interface RunOptions {
  input?: string;
  wait?: boolean;
  dryRun?: boolean;
}

export function parseInput(text: string | undefined): Record<string, unknown> {
  if (text === undefined || text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--input: expected a JSON object such as '{"backup":"latest"}', found ${JSON.stringify(text)} (${(e as Error).message})`);
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

export async function startRunbook(client: Client, config: LoadedConfig, runbook: string, o: RunOptions) {
  if (!isRunbookName(runbook)) {
    throw new UsageError(`unknown runbook "${runbook}": expected one of ${Object.keys(runbookWorkflows).join(', ')}`);
  }
  const input: CommonInput & Record<string, unknown> = { ...parseInput(o.input), trigger: 'manual' };
  if (o.dryRun) input.dryRun = true;
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
    staticSummary: `${runbook} (manual${input.dryRun ? ', dry-run' : ''})`,
    staticDetails: `Started from the CLI with input:\n\n\`\`\`json\n${JSON.stringify(input, null, 2)}\n\`\`\``,
  });
  const handle = await start.catch((e: unknown) => {
    if (e instanceof WorkflowExecutionAlreadyStartedError) {
      throw new UsageError(`${runbook} is already running (workflow ${workflowId}): one at a time; follow it with \`runbook runs --runbook ${runbook}\``);
    }
    throw e;
  });
  return handle;
}
