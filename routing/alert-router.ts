// Where an alert goes: the runbook its name routes to (or alert-notification), in the run of its
// incident. Shared by the Alertmanager receiver and the built-in health check, so both start the
// same run. An incident runbook's run is keyed by its cause and target (the routed runbook): every
// alert that routes to it while it is open joins it (20 instances of one failing service are one
// incident, with one restart, not 20), and a resolved alert is delivered to it. An alert without
// a route gets a notification run of its own, keyed by its fingerprint. Alerts and the input built
// from them pass their schemas before anything starts.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { alertSchema, alertWorkflowId, type Alert } from '../common/alerts';
import { validateRunbookInput } from '../common/runbook-inputs';
import { isRunbookName, runbookWorkflows, type RunbookName as Runbook } from '../common/runbooks';
import { AlertName, IncidentId, RunbookName, Severity, Trigger } from '../common/search-attributes';
import type { LoadedConfig } from '../config/load';

export interface AlertCounters {
  received: number;
  started: number;
  joined: number;
  resolved: number;
  rejected: number;
}

/** The runbook an alert routes to. */
export function alertRunbook(config: LoadedConfig, alertName: string): Runbook {
  const runbook = Object.prototype.hasOwnProperty.call(config.receiver.routes, alertName) ? config.receiver.routes[alertName]! : 'alert-notification';
  if (!isRunbookName(runbook)) throw new Error(`receiver.routes.${alertName}: unknown runbook "${runbook}"`);
  return runbook;
}

/** The run an alert belongs to: its incident runbook's (one per cause and target), or a
 * notification of its own. */
export function alertRunId(config: LoadedConfig, alert: Pick<Alert, 'name' | 'fingerprint'>): string {
  const runbook = alertRunbook(config, alert.name);
  return runbook === 'alert-notification' ? alertWorkflowId(alert.fingerprint) : `${runbook}-from-alerts`;
}

/** Routes one alert: start (or join) its run, or deliver its resolution. */
export async function routeAlert(client: Client, config: LoadedConfig, raw: Alert, counters: AlertCounters): Promise<'started' | 'joined' | 'resolved' | 'no-run'> {
  const checked = alertSchema.safeParse(raw);
  if (!checked.success) throw new Error(`alert ${JSON.stringify(String(raw?.name).slice(0, 80))}: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const alert = checked.data;
  const runbook = alertRunbook(config, alert.name);
  const workflowId = alertRunId(config, alert);
  if (alert.status === 'resolved') {
    try {
      await client.workflow.getHandle(workflowId).signal('resolved', alert);
      counters.resolved++;
      return 'resolved';
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return 'no-run';
      throw e;
    }
  }
  // A notification has no settings activity of its own: it gets the configured escalation delays
  // and history bound in its input (an incident reads them when it opens).
  const notification = runbook === 'alert-notification'
    ? { escalateAfterSeconds: [config.escalation.level2AfterSeconds, config.escalation.level3AfterSeconds], historyEventLimit: config.incident.historyEventLimit }
    : {};
  const args = [validateRunbookInput(runbook, { trigger: 'alert', severity: alert.severity, alert, requestedBy: alert.source === 'alertmanager' ? 'alertmanager' : 'health-check', ...notification })];
  let runningBefore: string | undefined;
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    if (d.status.name === 'RUNNING') runningBefore = d.runId;
  } catch (e) {
    if (!(e instanceof WorkflowNotFoundError)) throw e;
  }
  const handle = await client.workflow.signalWithStart(runbookWorkflows[runbook], {
    workflowId,
    taskQueue: config.temporal.taskQueue,
    args,
    signal: 'alert',
    signalArgs: [alert],
    typedSearchAttributes: [
      { key: RunbookName, value: runbook },
      { key: Trigger, value: 'alert' },
      { key: Severity, value: alert.severity },
      { key: IncidentId, value: alert.fingerprint },
      { key: AlertName, value: alert.name },
    ],
    staticSummary: `${runbook}: ${alert.name} (${alert.severity})`,
    staticDetails: `Started by the alert **${alert.name}** (${alert.severity}, ${alert.category}): ${alert.summary}\n\nFingerprint \`${alert.fingerprint}\`, firing since ${alert.startsAt}.`,
  });
  // signalWithStart signals the incident already running, or starts a new run.
  const started = handle.signaledRunId !== runningBefore;
  if (started) counters.started++;
  else counters.joined++;
  return started ? 'started' : 'joined';
}
