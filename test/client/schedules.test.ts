// `runbook schedules apply` creates every schedule of the runbook's calendar at the configured
// times and zone, leaves them unchanged when run again, and updates the one whose configuration
// changed; `schedules list` shows their next run times.
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { runCli, temporalClient, waitFor } from '../support/stack';

let client: Client;
let close: () => Promise<void>;
beforeAll(async () => ({ client, close } = await temporalClient()));
afterAll(async () => {
  for await (const s of client.schedule.list()) await client.schedule.getHandle(s.scheduleId).delete().catch(() => undefined);
  // The health checker outlives its schedule: it must not check the stack for the next suites.
  for await (const w of client.workflow.list({ query: 'RunbookName = "health-check" AND ExecutionStatus = "Running"' })) await client.workflow.getHandle(w.workflowId, w.runId).terminate('schedules test done').catch(() => undefined);
  await close();
});

test('apply twice leaves one unchanged schedule; a changed time updates it', async () => {
  const env = { RUNBOOK_TIMEZONE: 'Europe/Berlin' };
  const first = await runCli(['schedules', 'apply', '--json'], env);
  expect(first.code).toBe(0);
  const ids = [
    'runbook-database-backup',
    'runbook-dht-export',
    'runbook-config-backup',
    'runbook-dr-drill',
    'runbook-log-rotation',
    'runbook-metrics-cleanup',
    'runbook-weekly-health-review',
    'runbook-weekly-performance-review',
    'runbook-weekly-capacity-report',
    'runbook-monthly-threshold-review',
    'runbook-monthly-rate-limit-review',
    'runbook-monthly-security-checklist',
    // The test stack's cluster is the sandbox's kind: the physical tier is on by default.
    'runbook-physical-backup-full',
    'runbook-physical-backup-diff',
    'runbook-physical-backup-incr',
    'runbook-health-check',
  ];
  expect(JSON.parse(first.stdout)).toEqual(ids.map((scheduleId) => expect.objectContaining({ scheduleId, outcome: 'created' })));
  // Weekly reviews on their weekday, monthly ones on their day of the month, at 08:00 local time.
  const local = (d: Date, o: Intl.DateTimeFormatOptions): string => new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', ...o }).format(d);
  const monday = (await client.schedule.getHandle('runbook-weekly-health-review').describe()).info.nextActionTimes[0]!;
  expect([local(monday, { weekday: 'long' }), local(monday, { hour: '2-digit', minute: '2-digit' })]).toEqual(['Monday', '08:00']);
  const friday = (await client.schedule.getHandle('runbook-weekly-capacity-report').describe()).info.nextActionTimes[0]!;
  expect(local(friday, { weekday: 'long' })).toBe('Friday');
  const drill = (await client.schedule.getHandle('runbook-dr-drill').describe()).info.nextActionTimes[0]!;
  expect([local(drill, { day: 'numeric' }), local(drill, { hour: '2-digit', minute: '2-digit' })]).toEqual(['1', '05:00']);
  // The health check is one checker run that the schedule restarts within a minute if it
  // stopped; apply starts it at once, and a firing while it runs starts nothing.
  const hc = await client.schedule.getHandle('runbook-health-check').describe();
  expect(hc.spec.intervals?.[0]?.every).toBe(60_000);
  expect(hc.action).toMatchObject({ type: 'startWorkflow', workflowType: 'healthCheck', args: [expect.objectContaining({ watch: true, trigger: 'schedule' })] });
  const checkers = async (): Promise<string[]> => {
    const ids: string[] = [];
    for await (const w of client.workflow.list({ query: 'RunbookName = "health-check" AND ExecutionStatus = "Running"' })) ids.push(w.workflowId);
    return ids;
  };
  const running = await waitFor('the checker', async () => ((await checkers()).length ? checkers() : undefined), 20_000);
  expect(running).toHaveLength(1);
  await client.schedule.getHandle('runbook-health-check').trigger(ScheduleOverlapPolicy.SKIP);
  await new Promise((r) => setTimeout(r, 2000));
  expect(await checkers()).toEqual(running);
  const full = await client.schedule.getHandle('runbook-physical-backup-full').describe();
  expect(full.spec.calendars?.[0]).toMatchObject({ dayOfWeek: [{ start: 'SUNDAY', end: 'SUNDAY', step: 1 }], hour: [{ start: 1, end: 1, step: 1 }] });
  expect(full.action).toMatchObject({ type: 'startWorkflow', workflowType: 'physicalBackup', args: [expect.objectContaining({ type: 'full', trigger: 'schedule' })] });
  expect((await client.schedule.getHandle('runbook-physical-backup-incr').describe()).spec.intervals?.[0]?.every).toBe(3_600_000);
  const dht = await client.schedule.getHandle('runbook-dht-export').describe();
  expect(dht.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 2, end: 2, step: 1 }], minute: [{ start: 30, end: 30, step: 1 }] });
  const handle = client.schedule.getHandle('runbook-database-backup');
  const before = await handle.describe();
  expect(before.spec.timezone).toBe('Europe/Berlin');
  expect(before.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 2, end: 2, step: 1 }], minute: [{ start: 0, end: 0, step: 1 }] });
  expect(before.action).toMatchObject({ type: 'startWorkflow', workflowType: 'databaseBackup' });
  // The next run is at 02:00 Berlin time.
  const next = before.info.nextActionTimes[0]!;
  expect(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }).format(next)).toBe('02:00');

  const second = await runCli(['schedules', 'apply', '--json'], env);
  expect(JSON.parse(second.stdout)).toEqual(ids.map((scheduleId) => expect.objectContaining({ scheduleId, outcome: 'unchanged' })));
  const after = await handle.describe();
  expect(after.raw.conflictToken).toEqual(before.raw.conflictToken);
  expect(after.spec).toEqual(before.spec);

  const changed = await runCli(['schedules', 'apply', '--json'], { ...env, RUNBOOK_SET_backup__schedule: '"03:15"' });
  expect(JSON.parse(changed.stdout)).toEqual(ids.map((scheduleId) => expect.objectContaining({ scheduleId, outcome: scheduleId === 'runbook-database-backup' ? 'updated' : 'unchanged' })));
  const updated = await handle.describe();
  expect(updated.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 3, end: 3, step: 1 }], minute: [{ start: 15, end: 15, step: 1 }] });

  // A paused schedule stays paused, and apply says so.
  await client.schedule.getHandle('runbook-log-rotation').pause('test');
  for (const outcome of ['updated', 'unchanged']) {
    // The pause's note replaced the definition hash: the first apply writes it back, the next changes nothing.
    const applied = JSON.parse((await runCli(['schedules', 'apply', '--json'], env)).stdout) as Array<{ scheduleId: string; outcome: string; description: string }>;
    expect(applied.find((r) => r.scheduleId === 'runbook-log-rotation')).toMatchObject({ outcome, description: expect.stringMatching(/PAUSED: runbook schedules apply does not unpause/) });
    expect((await client.schedule.getHandle('runbook-log-rotation').describe()).state.paused).toBe(true);
  }

  const list = await runCli(['schedules', 'list', '--json'], env);
  const rows = JSON.parse(list.stdout) as Array<{ scheduleId: string; nextRuns: string[] }>;
  expect(rows.map((r) => r.scheduleId).sort()).toEqual([...ids].sort());
  for (const r of rows) expect(r.nextRuns.length).toBeGreaterThan(0);
});

test('a triggered schedule run is a scheduled backup with its slot from the scheduled time', async () => {
  await runCli(['schedules', 'apply']);
  const handle = client.schedule.getHandle('runbook-database-backup');
  await handle.trigger();
  let workflowId: string | undefined;
  const deadline = Date.now() + 20_000;
  while (!workflowId && Date.now() < deadline) {
    workflowId = (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId;
    if (!workflowId) await new Promise((r) => setTimeout(r, 200));
  }
  expect(workflowId).toBeDefined();
  const run = client.workflow.getHandle(workflowId!);
  const result = (await run.result()) as { outcome: string; key: string };
  expect(result.outcome).toBe('succeeded');
  const d = await run.describe();
  expect(d.searchAttributes.RunbookTrigger).toEqual(['schedule']);
  expect(d.searchAttributes.RunbookName).toEqual(['database-backup']);
});
