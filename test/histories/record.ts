// Records the histories the replay test replays: every runbook (a dry run of each, which walks its
// reads and its plan) and the paths that matter most for a deploy in the middle of a run: a
// backup and an export that succeed, a run refused for bad input, a restore, a conductor restart,
// and a wipe that waits for an approval which is given, and one which is refused.
// Runs on the test stack (started and stopped here, as jest's global setup does).
//
// Usage: npm run histories:record   (then commit test/histories/*.json)
//        npm run histories:record -- --only continue-as-new|health-check|alert-responses   (only those scenarios)
// Re-record when a runbook changed on purpose behind a patch whose old path may be retired, or
// when a new runbook or path is added; never to make a failing replay pass (docs/architecture.md).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { serviceControl } from '../../adapters/service-control';
import { runbookWorkflows, type RunbookName } from '../../common/runbooks';
import globalSetup from '../global-setup';
import globalTeardown from '../global-teardown';
import { simulatorFault as fault, testTaskQueue } from '../support/env';
import { decide, pgUrl, temporalClient, testConfig, waitFor, waitForAppSlow, withPg } from '../support/stack';
import { Client as PgClient } from 'pg';

const out = path.join(__dirname);

/** Inputs a dry run needs beyond dryRun (runbooks with a required input). */
const dryRunInputs: Partial<Record<RunbookName, Record<string, unknown>>> = {
  'troubleshoot-unexpected-detections': { nodeId: 'node-0001' },
  'horizontal-scale': { nodeId: 'node-0999' },
  'alert-notification': {
    alert: { fingerprint: 'replay-fixture', name: 'HighMemoryUsage', status: 'firing', severity: 'warning', category: 'capacity', summary: 'memory above 2 GB', labels: { alertname: 'HighMemoryUsage' }, startsAt: '2030-01-01T00:00:00Z', source: 'alertmanager' },
  },
};

async function main(): Promise<void> {
  await globalSetup();
  const { client, close } = await temporalClient();
  const written: string[] = [];
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  const save = async (name: string, runbook: RunbookName, handle: WorkflowHandle): Promise<void> => {
    const ok = await client.workflow.getHandle(handle.workflowId).result().then(
      () => true,
      () => false,
    );
    // A dry run that ends failed (a precondition the fresh stack does not meet) is kept: it is
    // the failure path of that runbook, and named so.
    const scenario = !ok && name === 'dry-run' ? 'dry-run-refused' : name;
    const history = temporal.api.history.v1.History.fromObject(await handle.fetchHistory());
    const file = `${runbook}--${scenario}.json`;
    // The history as the server's protobuf (base64): exact, and independent of JSON conventions;
    // the event types beside it say what it holds for a reader.
    const events = (history.events ?? []).map((e) => temporal.api.enums.v1.EventType[e.eventType ?? 0]);
    const record = { runbook, scenario, workflowId: handle.workflowId, recordedAt: new Date().toISOString(), events, history: Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('base64') };
    writeFileSync(path.join(out, file), JSON.stringify(record, null, 1) + '\n');
    written.push(file);
    process.stderr.write(`recorded ${file}\n`);
  };
  const start = (runbook: RunbookName, id: string, input: Record<string, unknown>): Promise<WorkflowHandle> =>
    client.workflow.start(runbookWorkflows[runbook], { taskQueue: testTaskQueue, workflowId: `replay-${id}-${Date.now()}`, args: [{ trigger: 'manual', requestedBy: 'replay-recorder', ...input }] });
  /** Repeats of the alert in bursts with gaps (a run cannot continue as new during a flood). */
  const repeat = async (h: WorkflowHandle, alert: unknown, count: number): Promise<void> => {
    for (let i = 0; i < count; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, count - i) }, () => h.signal('alert', alert)));
      await new Promise((r) => setTimeout(r, 30));
    }
  };
  /** The first run of a workflow id that continued as new, and the run it continued in. */
  const firstRuns = async (workflowId: string): Promise<WorkflowHandle[]> => {
    const runs: Array<{ runId: string; at: number }> = [];
    for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push({ runId: w.runId, at: w.startTime.getTime() });
    return runs.sort((a, b) => a.at - b.at).slice(0, 2).map((r) => client.workflow.getHandle(workflowId, r.runId));
  };
  try {
    if (only === undefined || only === 'continue-as-new') {
      // A notification and an incident that continue as new while their alert repeats; the
      // incident also escalates on its timers (level 2 and 3) in its first run.
      const note = dryRunInputs['alert-notification']!.alert as { fingerprint: string };
      const n = await client.workflow.signalWithStart(runbookWorkflows['alert-notification'], { taskQueue: testTaskQueue, workflowId: `replay-note-can-${Date.now()}`, args: [{ trigger: 'alert', alert: note, escalateAfterSeconds: [1, 3600], historyEventLimit: 500 }], signal: 'alert', signalArgs: [note] });
      await waitFor('level 2', async () => (await n.query<{ steps: Array<{ step: string }> }>('progress')).steps.some((x) => x.step === 'escalation level 2') || undefined, 60_000);
      await repeat(n, note, 600);
      await n.signal('resolved', { ...note, status: 'resolved' });
      const [n1, n2] = await firstRuns(n.workflowId);
      await save('continue-as-new', 'alert-notification', n1!);
      await save('continued', 'alert-notification', n2!);
      const app = serviceControl(testConfig().applicationService!);
      await app.start();
      const alert = { ...note, fingerprint: 'replay-fixture-incident', name: 'CreditsServiceDown', severity: 'critical', category: 'availability' };
      const i = await client.workflow.signalWithStart(runbookWorkflows['incident-system-unresponsive'], { taskQueue: testTaskQueue, workflowId: `replay-incident-can-${Date.now()}`, args: [{ trigger: 'alert', alert, escalateAfterSeconds: [2, 4], alertResolveWaitSeconds: 600, historyEventLimit: 500 }], signal: 'alert', signalArgs: [alert] });
      await waitFor('the resolve wait and level 3', async () => (await i.query<{ escalations: unknown[] }>('incident')).escalations.length === 3 || undefined, 120_000);
      await repeat(i, alert, 600);
      await i.executeUpdate('acknowledge', { args: [{ by: 'replay-recorder' }] });
      await i.signal('resolved', { ...alert, status: 'resolved' });
      const [i1, i2] = await firstRuns(i.workflowId);
      await save('escalated-continue-as-new', 'incident-system-unresponsive', i1!);
      await save('continued', 'incident-system-unresponsive', i2!);
    }
    if (only === undefined || only === 'health-check') {
      // The checker: a breach and its recovery recorded as changes, then stopped (it never ends
      // by itself). The test stack checks every 60 s: the recovery is seen at the second check.
      const app = serviceControl(testConfig().applicationService!);
      await app.start();
      fault('unhealthy');
      await new Promise((r) => setTimeout(r, 2000));
      const c = await start('health-check', 'checker', { trigger: 'schedule', watch: true });
      await waitFor('the breach', async () => (await c.query<{ steps: unknown[] }>('progress')).steps.length >= 2 || undefined, 150_000);
      fault('clear');
      await waitFor('the recovery', async () => (await c.query<{ steps: unknown[] }>('progress')).steps.length >= 3 || undefined, 150_000);
      await c.terminate('recorded');
      await save('watch-terminated', 'health-check', c);
      await save('dry-run', 'health-check', await start('health-check', 'health-check-dry', { dryRun: true }));
    }
    if (only === undefined || only === 'alert-responses') {
      // The alert responses: a dry run of each, an error rate repaired by a restart and verified,
      // a rate-limit ban given its approval, nodes restarted, and load shedding for a slow statement.
      const app = serviceControl(testConfig().applicationService!);
      await app.start();
      for (const runbook of ['incident-high-latency', 'incident-error-rate', 'incident-low-healthy-nodes', 'incident-rate-limit-violations', 'incident-high-memory', 'incident-high-detection-activity'] as const) {
        await save('dry-run', runbook, await start(runbook, `${runbook}-dry`, { dryRun: true }));
      }
      fault('errors');
      await new Promise((r) => setTimeout(r, 2000));
      await save('resolved', 'incident-error-rate', await start('incident-error-rate', 'errors', { alertResolveWaitSeconds: 0 }));
      fault('unhealthy');
      await new Promise((r) => setTimeout(r, 2000));
      await save('resolved', 'incident-low-healthy-nodes', await start('incident-low-healthy-nodes', 'nodes', { alertResolveWaitSeconds: 0 }));
      await app.stop();
      await app.start();
      fault('ratelimit');
      await new Promise((r) => setTimeout(r, 2000));
      const ban = await start('incident-rate-limit-violations', 'ban', { alertResolveWaitSeconds: 0 });
      await waitFor('the ban to wait for its approval', async () => (await ban.query<{ approval?: unknown }>('progress')).approval !== undefined || undefined, 60_000);
      await decide(ban, 'replay-approver', { reason: 'recorded approval' });
      await save('approval-given', 'incident-rate-limit-violations', ban);
      // A statement running for over 5 s while the application is fast: nothing shed, the
      // statement named for review, verified.
      await app.stop();
      await app.start();
      const sleeper = new PgClient({ connectionString: pgUrl() });
      await sleeper.connect();
      sleeper.on('error', () => undefined);
      const pid = (await sleeper.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const sleeping = sleeper.query('SELECT pg_sleep(120)').catch(() => undefined);
      await new Promise((r) => setTimeout(r, 6000));
      await save('shedding-skipped', 'incident-high-latency', await start('incident-high-latency', 'unshed', { alertResolveWaitSeconds: 0 }));
      // The same while the application is slow too (its status report's p99 over 5 s): load
      // shedding, which cannot help here, so it is ended again and the incident escalates.
      fault('slow', '--delay-ms', '6000');
      await waitForAppSlow();
      await save('load-shedding', 'incident-high-latency', await start('incident-high-latency', 'shed', { alertResolveWaitSeconds: 0, verifyTimeoutSeconds: 5, escalateAfterSeconds: [3600, 7200] }));
      fault('clear');
      await withPg('credits', (c) => c.query('SELECT pg_cancel_backend($1)', [pid]));
      await sleeping;
      await sleeper.end();
      await fetch(new URL('/admin/load-shedding', testConfig().application.statusUrl), { method: 'POST', body: JSON.stringify({ fraction: 0, seconds: 1 }) });
      await app.stop();
    }
    if (only !== undefined) return;
    // Files are overwritten by name; histories of older code kept under other names (a path
    // behind a patch that runs may still take) stay.
    await save('succeeded', 'database-backup', await start('database-backup', 'backup', { key: '20300101_000000' }));
    await save('invalid-input', 'database-backup', await start('database-backup', 'backup-bad', { key: '../../etc' }));
    await save('succeeded', 'dht-export', await start('dht-export', 'export', { key: '20300101_000000' }));
    await save('succeeded', 'restore-dht', await start('restore-dht', 'restore-dht', { export: '20300101_000000' }));
    await save('succeeded', 'restore-database', await start('restore-database', 'restore-db', { backup: '20300101_000000' }));
    await save('succeeded', 'restart-conductor', await start('restart-conductor', 'restart', {}));
    for (const approved of [true, false]) {
      const h = await start('restart-conductor', `wipe-${approved}`, { clean: true });
      await waitFor('the wipe to wait for its approval', async () => (await h.query<{ approval?: unknown }>('progress')).approval !== undefined || undefined, 60_000);
      await decide(h, 'replay-approver', { approved, reason: approved ? 'recorded approval' : 'recorded refusal' });
      await save(approved ? 'approval-given' : 'approval-refused', 'restart-conductor', h);
    }
    await save('succeeded', 'health-check', await start('health-check', 'health', {}));
    await save('succeeded', 'troubleshoot-high-latency', await start('troubleshoot-high-latency', 'latency', {}));
    // The physical tier on the test stack's cluster (archiving restarts it once).
    await save('succeeded', 'database-archiving', await start('database-archiving', 'archiving', {}));
    await save('succeeded', 'physical-backup', await start('physical-backup', 'physical', { type: 'full' }));
    // Dry runs last: the backups and exports above exist by then, so the restores' plans are whole.
    await save('succeeded', 'config-backup', await start('config-backup', 'config', { key: '20300101_000000' }));
    for (const runbook of Object.keys(runbookWorkflows) as RunbookName[]) {
      const h = await start(runbook, `${runbook}-dry`, { dryRun: true, ...(dryRunInputs[runbook] ?? {}) });
      // A notification has no dry run: it notifies, then waits until its alert resolves.
      if (runbook === 'alert-notification') {
        await waitFor('the first notification', async () => ((await h.fetchHistory()).events ?? []).some((e) => e.activityTaskCompletedEventAttributes) || undefined, 60_000);
        await h.signal('alert', dryRunInputs['alert-notification']!.alert);
        await h.signal('resolved', { ...(dryRunInputs['alert-notification']!.alert as object), status: 'resolved' });
      }
      await save(runbook === 'alert-notification' ? 'repeat-and-resolve' : 'dry-run', runbook, h);
    }
    // A cluster restore whose switch is refused, then one that switches (the last: it replaces
    // the test stack's data directory).
    const refused = await start('restore-cluster', 'cluster-refused', { requireApproval: true });
    await waitFor('the switch to wait for its approval', async () => (await refused.query<{ approval?: unknown }>('progress')).approval !== undefined || undefined, 120_000);
    await decide(refused, 'replay-approver', { approved: false, reason: 'recorded refusal' });
    await save('approval-refused', 'restore-cluster', refused);
    await save('succeeded', 'restore-cluster', await start('restore-cluster', 'cluster', {}));
  } finally {
    await close();
    await globalTeardown();
  }
  process.stderr.write(`${written.length} histories in ${out}\n`);
}

mkdirSync(out, { recursive: true });
main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
