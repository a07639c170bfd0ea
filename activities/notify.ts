// Notifications of the escalation path: to the log always, and to a configured webhook (chat,
// paging) when there is one. The escalation contacts are the runbook's on-call rotation.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Runtime } from '@temporalio/worker';
import type { Alert } from '../common/alerts';
import { Failure } from '../common/failures';
import { redact, resolveSecretRefs } from '../adapters/secrets';
import type { ActivityDeps } from './deps';

/** The webhook as messages show it: scheme and host only. */
export function webhookOrigin(url: string): string {
  try {
    const u = new URL(url.replace(/\$\{[^}]*\}/g, 'x'));
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return 'the configured webhook';
  }
}

/** The activity's logger (its lines carry the run and the step), or the runtime's outside one. */
function log(): Pick<Context['log'], 'info'> {
  try {
    return Context.current().log;
  } catch {
    return Runtime.instance().logger;
  }
}

export function createNotifyActivities(deps: ActivityDeps) {
  async function notify(input: { level: number; alert: Alert; workflowId: string; repeats: number }): Promise<{ contact: string; delivered: boolean }> {
    const contacts = deps.config.escalation.levels;
    const contact = contacts[Math.min(input.level, contacts.length) - 1] ?? 'on-call';
    const text = `[${input.alert.severity.toUpperCase()}] ${input.alert.name}: ${input.alert.summary} (level ${input.level}: ${contact}; run ${input.workflowId})`;
    log().info('notify', { level: input.level, contact, alert: input.alert.name, severity: input.alert.severity, text });
    const configured = deps.config.escalation.webhookUrl;
    if (!configured) return { contact, delivered: false };
    // The URL often is the secret (a chat webhook's token is in its path): it is read here from the
    // worker's configuration, ${env:NAME} references resolved at the last moment, and only its
    // origin ever appears in a message that reaches the run's history.
    const shown = webhookOrigin(configured);
    let url: string;
    try {
      url = resolveSecretRefs(configured);
    } catch (e) {
      throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `notification webhook ${shown}: ${(e as Error).message}` });
    }
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text, level: input.level, contact, alert: input.alert, workflowId: input.workflowId }),
      signal: AbortSignal.timeout(10_000),
    }).catch((e: unknown) => {
      throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `notification webhook ${shown}: ${redact((e as Error).message).replace(url, shown)}` });
    });
    if (!res.ok) throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `notification webhook ${shown} answered ${res.status}` });
    return { contact, delivered: true };
  }
  return { notify };
}
