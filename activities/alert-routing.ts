// Where an alert goes: the runbook its name routes to (or alert-notification), in the run whose
// id derives from the alert's fingerprint. Shared by the Alertmanager receiver and the built-in
// health check, so both start the same run, once per incident.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { alertWorkflowId, type Alert } from '../common/alerts';
import { isRunbookName, runbookWorkflows } from '../common/runbooks';
import { AlertName, IncidentId, RunbookName, Severity, Trigger } from '../common/search-attributes';
import type { LoadedConfig } from '../worker/config';

export interface AlertCounters {
  received: number;
  started: number;
  joined: number;
  resolved: number;
  rejected: number;
}

/** Routes one alert: start (or join) its run, or deliver its resolution. */
export async function routeAlert(client: Client, config: LoadedConfig, alert: Alert, counters: AlertCounters): Promise<'started' | 'joined' | 'resolved' | 'no-run'> {
  const runbook = config.receiver.routes[alert.name] ?? 'alert-notification';
  if (!isRunbookName(runbook)) throw new Error(`receiver.routes.${alert.name}: unknown runbook "${runbook}"`);
  const workflowId = alertWorkflowId(alert.fingerprint);
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
    args: [{ trigger: 'alert', severity: alert.severity, alert }],
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

