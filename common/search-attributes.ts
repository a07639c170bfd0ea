// The search attributes every run carries, so the Temporal UI and `runbook runs` can filter the
// audit trail by runbook, trigger, target, severity and outcome. Pure: imported by workflows too.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RunbookName = defineSearchAttributeKey('RunbookName', SearchAttributeType.KEYWORD);
export const Trigger = defineSearchAttributeKey('RunbookTrigger', SearchAttributeType.KEYWORD);
export const Target = defineSearchAttributeKey('Target', SearchAttributeType.KEYWORD);
export const Severity = defineSearchAttributeKey('Severity', SearchAttributeType.KEYWORD);
export const Outcome = defineSearchAttributeKey('Outcome', SearchAttributeType.KEYWORD);
export const IncidentId = defineSearchAttributeKey('IncidentId', SearchAttributeType.KEYWORD);
/** The alert that started a run (receiver or health check): the monthly threshold review counts them. */
export const AlertName = defineSearchAttributeKey('AlertName', SearchAttributeType.KEYWORD);

/** Names and types the dev server must register (`--search-attribute Name=Keyword`). */
export const searchAttributeRegistrations: ReadonlyArray<readonly [string, 'Keyword']> = [
  ['RunbookName', 'Keyword'],
  ['RunbookTrigger', 'Keyword'],
  ['Target', 'Keyword'],
  ['Severity', 'Keyword'],
  ['Outcome', 'Keyword'],
  ['IncidentId', 'Keyword'],
  ['AlertName', 'Keyword'],
];

/** Every value the Outcome search attribute takes: the one list the CLI filters by too. */
export const outcomes = ['running', 'succeeded', 'failed', 'rejected', 'dry-run', 'skipped', 'escalated'] as const;
export type Outcome = (typeof outcomes)[number];
/** Every value of RunbookTrigger and of Severity: the one list the schemas and the receiver use. */
export const triggerKinds = ['manual', 'schedule', 'alert', 'health-check', 'parent'] as const;
export type TriggerKind = (typeof triggerKinds)[number];
export const severities = ['info', 'warning', 'critical'] as const;
export type SeverityLevel = (typeof severities)[number];
