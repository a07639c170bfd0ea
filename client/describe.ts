// `runbook describe <runbook>` and the inputs table of docs/runbooks.md: what a runbook is for,
// what it may change, its steps, and its inputs as its schema defines them (type, range, format,
// default), so the documentation cannot drift from what the runbook accepts.
import { z } from 'zod';
import { runbookInputSchemas, starterFields } from '../common/runbook-inputs';
import { runbookDescriptions, type RunbookName } from '../common/runbooks';

export interface InputDescription {
  name: string;
  type: string;
  required: boolean;
  description: string;
  /** Set by the starter (CLI, schedule, receiver, parent run), not by an operator. */
  setByStarter: boolean;
}

export interface RunbookDescriptionOut {
  runbook: RunbookName;
  summary: string;
  changes: string;
  steps: string[];
  inputs: InputDescription[];
}

interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  description?: string;
  prefixItems?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  'x-format'?: string;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (s['x-format']) return s['x-format'];
  if (s.type === 'array' && s.prefixItems) return `[${s.prefixItems.map(typeOf).join(', ')}]`;
  if (s.type === 'integer' || s.type === 'number') {
    const range = s.minimum !== undefined && s.maximum !== undefined ? ` ${s.minimum}..${s.maximum}` : s.minimum !== undefined ? ` >= ${s.minimum}` : '';
    return `${s.type === 'integer' ? 'whole number' : 'number'}${range}`;
  }
  if (s.type === 'object') return 'object (an alert)';
  if (s.type === 'string') return s.maxLength ? `text (at most ${s.maxLength})` : 'text';
  return String(s.type ?? 'any');
}

export function describeRunbook(runbook: RunbookName): RunbookDescriptionOut {
  const schema = z.toJSONSchema(runbookInputSchemas[runbook], { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const required = new Set(schema.required ?? []);
  const inputs = Object.entries(schema.properties ?? {}).map(([name, s]) => ({
    name,
    type: typeOf(s),
    required: required.has(name),
    description: s.description ?? '',
    setByStarter: (starterFields as readonly string[]).includes(name),
  }));
  const d = runbookDescriptions[runbook];
  return { runbook, summary: d.summary, changes: d.changes, steps: d.steps, inputs };
}

export function formatDescription(d: RunbookDescriptionOut): string {
  const rows = d.inputs.map((i) => `  ${i.name}${i.required ? ' (required)' : ''}${i.setByStarter ? ' (set by the CLI)' : ''}\n      ${i.type}${i.description ? `: ${i.description}` : ''}`);
  return [
    `${d.runbook}: ${d.summary}`,
    '',
    `Changes: ${d.changes}`,
    '',
    'Steps:',
    ...d.steps.map((s, n) => `  ${n + 1}. ${s}`),
    '',
    'Inputs (--input as JSON; unknown keys are refused):',
    ...rows,
  ].join('\n');
}

/** The Markdown of docs/runbooks.md's inputs section, one table per runbook. */
export function inputsMarkdown(): string {
  const out: string[] = [];
  for (const runbook of Object.keys(runbookInputSchemas) as RunbookName[]) {
    const d = describeRunbook(runbook);
    out.push(`### ${runbook}`, '', d.summary, '', `Changes: ${d.changes}.`, '', '| input | type | required | meaning |', '|---|---|---|---|');
    for (const i of d.inputs) {
      out.push(`| \`${i.name}\` | ${i.type.replace(/\|/g, '\\|')} | ${i.required ? 'yes' : 'no'} | ${i.setByStarter ? '(set by the starter) ' : ''}${i.description.replace(/\|/g, '\\|')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
