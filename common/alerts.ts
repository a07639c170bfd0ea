// Alerts as the runbooks receive them, from Alertmanager (webhook version 4) or from the built-in
// health check, and the signals an alert-started run handles. Pure.
import { defineSignal } from '@temporalio/workflow';

export interface Alert {
  /** Stable identity of the alert (Alertmanager's fingerprint): one incident, one run. */
  fingerprint: string;
  name: string;
  status: 'firing' | 'resolved';
  severity: 'info' | 'warning' | 'critical';
  category: string;
  summary: string;
  labels: Record<string, string>;
  startsAt: string;
  source: 'alertmanager' | 'health-check';
}

/** A repeat of the alert that started the run (Alertmanager re-sends while it fires). */
export const alertSignal = defineSignal<[Alert]>('alert');
/** The alert stopped firing. */
export const resolvedSignal = defineSignal<[Alert]>('resolved');

export function alertWorkflowId(fingerprint: string): string {
  return `alert-${fingerprint}`;
}
