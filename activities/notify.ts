// Notifications of the escalation path: to the log always, and to a configured webhook (chat,
// paging) when there is one. The escalation contacts are the runbook's on-call rotation.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Runtime } from '@temporalio/worker';
import type { Alert } from '../common/alerts';
import { Failure } from '../common/failures';
import { redact, resolveSecretRefs } from '../adapters/secrets';
import type { LoadedConfig } from '../config/load';
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

/** Who a notification reaches: level 1 is the on-call of the role the category maps to (its
 * primary; a re-page adds the backup); a higher level is the escalation path's person for that
 * level, with the role's primary kept informed when it is not the production role. */
export function contactsFor(e: Pick<LoadedConfig['escalation'], 'levels' | 'roles' | 'categories'>, level: number, category: string, repage = false): { role: string; contacts: string[] } {
  const role = Object.prototype.hasOwnProperty.call(e.categories, category) ? e.categories[category]! : 'production';
  const r = e.roles[role] ?? e.roles.production;
  if (level <= 1) return { role, contacts: [r?.primary ?? e.levels[0] ?? 'on-call', ...(repage && r?.backup ? [r.backup] : [])] };
  const person = e.levels[Math.min(level, e.levels.length) - 1] ?? 'on-call';
  return { role, contacts: [person, ...(role !== 'production' && r ? [r.primary] : [])] };
}

export function createNotifyActivities(deps: ActivityDeps) {
  async function notify(input: { level: number; alert: Alert; workflowId: string; repeats: number; repage?: boolean }): Promise<{ contact: string; delivered: boolean }> {
    const { role, contacts } = contactsFor(deps.config.escalation, input.level, input.alert.category, input.repage);
    const contact = contacts.join(', ');
    const what = input.repage ? `re-page, not acknowledged, level ${input.level}` : `level ${input.level}`;
    const text = `[${input.alert.severity.toUpperCase()}] ${input.alert.name}: ${input.alert.summary} (${what}: ${contact} [${role}]; run ${input.workflowId})`;
    log().info('notify', { level: input.level, contact, role, repage: input.repage === true, alert: input.alert.name, severity: input.alert.severity, text });
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
      body: JSON.stringify({ text, level: input.level, contact, contacts, role, repage: input.repage === true, alert: input.alert, workflowId: input.workflowId }),
      signal: AbortSignal.timeout(10_000),
    }).catch((e: unknown) => {
      throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `notification webhook ${shown}: ${redact((e as Error).message).replace(url, shown)}` });
    });
    if (!res.ok) throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `notification webhook ${shown} answered ${res.status}` });
    return { contact, delivered: true };
  }
  return { notify };
}
