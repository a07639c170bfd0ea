// Alerts as the runbooks receive them, from Alertmanager (webhook version 4) or from the built-in
// health check, and the signals an alert-started run handles. Pure.
import { defineSignal } from '@temporalio/workflow';
import { z } from 'zod';
import { isoTime } from './formats';
import { severities } from './search-attributes';

/** An alert as the runbooks receive it, bounded in size: the receiver and the health check build
 * it, and every runbook input that carries one checks it against this schema. */
export const alertSchema = z.strictObject({
  /** Stable identity of the alert (Alertmanager's fingerprint). */
  fingerprint: z.string().regex(/^[0-9A-Za-z_-]{1,64}$/, { message: 'expected 1-64 letters, digits, _ or -' }),
  name: z.string().min(1).max(200),
  status: z.enum(['firing', 'resolved']),
  severity: z.enum(severities),
  category: z.string().min(1).max(100),
  summary: z.string().max(2000),
  labels: z.record(z.string().max(200), z.string().max(1000)).refine((l) => Object.keys(l).length <= 64, { message: 'expected at most 64 labels' }),
  startsAt: isoTime,
  source: z.enum(['alertmanager', 'health-check']),
});

export type Alert = z.output<typeof alertSchema>;

/** A repeat of the alert that started the run (Alertmanager re-sends while it fires). */
export const alertSignal = defineSignal<[Alert]>('alert');
/** The alert stopped firing. */
export const resolvedSignal = defineSignal<[Alert]>('resolved');

export function alertWorkflowId(fingerprint: string): string {
  return `alert-${fingerprint}`;
}
