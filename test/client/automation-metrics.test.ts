// The automation's exposition text: each runbook, incident and schedule under its labels (quoted
// safely), a figure that could not be read left out rather than reported as 0.
import { renderAutomationMetrics } from '../../client/automation-metrics';

test('runbooks, incidents and schedules by label; unknown figures are missing, not zero; label values are escaped', () => {
  const text = renderAutomationMetrics({
    runbooks: [
      { runbook: 'database-backup', lastSuccessAt: 100, lastFailureAt: 200, lastClosedFailed: true, failed24h: 1 },
      { runbook: 'dht-export', lastClosedFailed: false },
    ],
    incidents: [{ runbook: 'incident-data-corruption', workflowId: 'incident-"x"\\y', startedAt: 1000 }],
    schedules: [{ id: 'runbook-log-rotation', paused: true, nextActionAt: 5000 }],
    escalationDeadlineSeconds: 14400,
    readAt: 1600,
    errors: ['schedules: unavailable'],
  });
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
  expect(lines).toEqual([
    'zerotrustml_runbook_last_success_timestamp_seconds{runbook="database-backup"} 100',
    'zerotrustml_runbook_last_failure_timestamp_seconds{runbook="database-backup"} 200',
    'zerotrustml_runbook_last_run_failed{runbook="database-backup"} 1',
    'zerotrustml_runbook_last_run_failed{runbook="dht-export"} 0',
    'zerotrustml_runbook_failed_runs_24h{runbook="database-backup"} 1',
    'zerotrustml_incidents_open 1',
    'zerotrustml_incident_open_seconds{runbook="incident-data-corruption",workflow_id="incident-\\"x\\"\\\\y"} 600',
    'zerotrustml_incident_escalation_deadline_seconds 14400',
    'zerotrustml_schedule_next_action_timestamp_seconds{schedule="runbook-log-rotation"} 5000',
    'zerotrustml_schedule_paused{schedule="runbook-log-rotation"} 1',
    'zerotrustml_automation_read_errors 1',
    'zerotrustml_automation_read_timestamp_seconds 1600',
  ]);
});
