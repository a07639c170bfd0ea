// Notifications of the escalation path: to the log always, and to a configured webhook (chat,
// paging) when there is one. The escalation contacts are the runbook's on-call rotation.
import { ApplicationFailure } from '@temporalio/activity';
import type { Alert } from '../common/alerts';
import { Failure } from '../common/failures';
import type { ActivityDeps } from './deps';

export function createNotifyActivities(deps: ActivityDeps) {
  async function notify(input: { level: number; alert: Alert; workflowId: string; repeats: number }): Promise<{ contact: string; delivered: boolean }> {
    const contacts = deps.config.escalation.levels;
    const contact = contacts[Math.min(input.level, contacts.length) - 1] ?? 'on-call';
    const text = `[${input.alert.severity.toUpperCase()}] ${input.alert.name}: ${input.alert.summary} (level ${input.level}: ${contact}; run ${input.workflowId})`;
    console.log(`notify: ${text}`);
    const url = deps.config.escalation.webhookUrl;
    if (!url) return { contact, delivered: false };
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text, level: input.level, contact, alert: input.alert, workflowId: input.workflowId }),
      signal: AbortSignal.timeout(10_000),
    }).catch((e: unknown) => {
      throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `notification webhook ${url}: ${(e as Error).message}` });
    });
    if (!res.ok) throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `notification webhook ${url} answered ${res.status}` });
    return { contact, delivered: true };
  }
  return { notify };
}
