// The incident runbooks against the sandbox with the matching fault injected: each fault is
// diagnosed as what it is and resolved, and the system verifies healthy; an unanswered approval
// escalates level by level; a resolution that does not work escalates once and the run ends in a
// clear state; a repeated alert joins the running incident; a dry-run changes nothing.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { alertRunId, routeAlert } from '../../routing/alert-router';
import type { Alert } from '../../common/alerts';
import type { IncidentResult, IncidentState } from '../../common/incident';
import { clearCorruption, corruptDht, corruptRows } from '../../sandbox/credits-service/corruption';
import { serviceControl } from '../../adapters/service-control';
import { conductorClient } from '../../adapters/conductor';
import { makeConsistent } from '../support/consistency';
import { simulatorFault as fault, testRoot, testTaskQueue } from '../support/env';
import { fingerprint } from '../support/fingerprint';
import { startWorkerProcess } from '../support/worker-process';
import { databases, decide, runCli, temporalClient, testConfig, waitFor, withPg } from '../support/stack';

const config = testConfig();
const app = serviceControl(config.applicationService!);
const conductorService = serviceControl(config.conductorService);
const database = serviceControl(config.databaseService!);
let client: Client;
let close: () => Promise<void>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  ({ client, close } = await temporalClient());
  await makeConsistent();
});
afterAll(async () => {
  await app.stop().catch(() => undefined);
  await close();
});

let seq = 0;
function start(type: string, input: object = {}): Promise<WorkflowHandle> {
  return client.workflow.start(type, { taskQueue: testTaskQueue, workflowId: `${type}-test-${Date.now()}-${seq++}`, args: [{ trigger: 'manual', ...input }] });
}
async function run(type: string, input: object = {}): Promise<IncidentResult> {
  return (await start(type, input)).result() as Promise<IncidentResult>;
}
const levels = (r: IncidentResult): number[] => r.incident.escalations.map((e) => e.level);
const phases = (r: IncidentResult): string[] => r.incident.phases.map((p) => p.phase);

async function appUp(): Promise<void> {
  await app.start();
  // Credits flow: the verification of a resolution needs new ones.
  await waitFor('the simulator to issue credits', async () => (await fetch('http://127.0.0.1:29200/status').then((r) => r.ok).catch(() => false)) || undefined);
}

describe('incident-system-unresponsive', () => {
  beforeAll(appUp);

  test('conductor down: diagnosed, restart-conductor as a child, verified healthy', async () => {
    await conductorService.stop();
    const r = await run('incidentSystemUnresponsive');
    expect(r.diagnosis).toBe('conductor-down');
    expect(r.outcome).toBe('resolved');
    expect(r.incident.closedBy).toBe('verification');
    expect(phases(r)).toEqual(['detect', 'assess', 'respond', 'resolve', 'post-mortem']);
    expect(r.incident.actions.map((a) => [a.name, a.outcome])).toEqual([
      ['restart the conductor (child run restart-conductor)', 'succeeded'],
      ['verify', 'succeeded'],
    ]);
    expect((await conductorClient(config).liveness()).alive).toBe(true);
    expect(levels(r)).toEqual([1]); // level 1 at once, nothing more: resolved
    expect(r.timeToRecoverMs).toBeGreaterThan(0);
    // The post-mortem is on disk, and is what the result returns.
    expect(readFileSync(r.postMortem!.path, 'utf8')).toBe(r.postMortem!.markdown);
    expect(r.postMortem!.markdown).toMatch(/## Timeline[\s\S]*phase: assess[\s\S]*succeeded: restart the conductor/);
    expect(r.postMortem!.markdown).toMatch(/Time to detect: \d+ s; time to recover: \d+ s/);
  });

  test('application hung: diagnosed, restarted through service control, verified healthy', async () => {
    fault('hang');
    const r = await run('incidentSystemUnresponsive');
    expect(r.diagnosis).toBe('application-hung');
    expect(r.outcome).toBe('resolved');
    expect(r.incident.actions[0]).toMatchObject({ name: 'restart the application', outcome: 'succeeded' });
    expect((await fetch('http://127.0.0.1:29200/status', { signal: AbortSignal.timeout(2000) })).ok).toBe(true);
  });

  test('database down: diagnosed, PostgreSQL restarted through service control, verified healthy', async () => {
    await database.stop();
    const r = await run('incidentSystemUnresponsive');
    expect(r.diagnosis).toBe('database-down');
    expect(r.outcome).toBe('resolved');
    expect(r.incident.actions[0]).toMatchObject({ name: 'restart the database', outcome: 'succeeded' });
    expect(await withPg('credits', async (c) => (await c.query('SELECT 1 AS one')).rows[0].one)).toBe(1);
  });

  test('a resolution that does not work escalates once and ends "escalated"', async () => {
    // Something that never answers holds the application's port: a restart cannot bring it back.
    await app.stop();
    const squatter: Server = createServer(() => undefined);
    await new Promise<void>((r) => squatter.listen(29200, '127.0.0.1', r));
    try {
      const r = await run('incidentSystemUnresponsive', { severity: 'critical' });
      expect(r.diagnosis).toBe('application-hung');
      expect(r.outcome).toBe('escalated');
      expect(r.incident.closedBy).toBe('escalation');
      expect(r.incident.actions.filter((a) => a.name === 'restart the application')).toHaveLength(1); // no loop
      expect(r.incident.actions[0]!.outcome).toBe('failed');
      expect(levels(r)).toEqual([1, 2]);
      expect(r.incident.escalations[1]!.reason).toMatch(/resolution did not work: restart application/);
      expect(r.postMortem!.markdown).toMatch(/Outcome: \*\*escalated\*\*/);
      expect(r.postMortem!.markdown).toMatch(/- \[ \] investigate by hand/);
    } finally {
      squatter.closeAllConnections();
      await new Promise((r) => squatter.close(r));
    }
    await appUp();
  });
});

describe('incident-byzantine-detection-failure', () => {
  beforeAll(appUp);
  afterEach(() => void fault('clear'));

  async function awaitingApproval(h: WorkflowHandle): Promise<void> {
    await waitFor('the approval wait', async () => (await h.query<{ awaitingApproval: boolean }>('progress')).awaitingApproval || undefined, 30_000);
  }

  test('detection blind: the threshold is found wrong, changed after an approval, detections resume', async () => {
    fault('blind');
    await sleep(1500);
    const h = await start('incidentByzantineDetectionFailure');
    await awaitingApproval(h);
    const state = await h.query<IncidentState>('incident');
    expect(state.findings.join('\n')).toMatch(/PoGQ threshold 0 \(expected 0\.5; last set by fault: blind/);
    expect(state.actions).toEqual([expect.objectContaining({ name: 'set the PoGQ threshold from 0 to 0.5', outcome: 'planned' })]);
    await decide(h, 'carol', { reason: 'matches the config' });
    const r = (await h.result()) as IncidentResult;
    expect(r.diagnosis).toBe('threshold');
    expect(r.outcome).toBe('resolved');
    expect(r.incident.approvals).toEqual([expect.objectContaining({ approved: true, by: 'carol', for: 'set the PoGQ threshold from 0 to 0.5' })]);
    expect(await withPg('credits', async (c) => (await c.query(`SELECT value, updated_by FROM detection_settings WHERE key = 'pogq_threshold'`)).rows[0])).toEqual({
      value: 0.5,
      updated_by: 'runbook (approved by carol)',
    });
    expect(r.postMortem!.markdown).toMatch(/approved by carol/);
  });

  test('an unanswered approval escalates level by level, then the run ends "escalated"', async () => {
    fault('blind');
    await sleep(1500);
    const r = await run('incidentByzantineDetectionFailure', { severity: 'critical', escalateAfterSeconds: [2, 4], approvalTimeoutSeconds: 7 });
    expect(r.outcome).toBe('escalated');
    expect(levels(r)).toEqual([1, 2, 3]);
    // A security incident: the security engineer is paged first and kept informed as it escalates.
    expect(r.incident.escalations.map((e) => e.contact)).toEqual(['security engineer', 'senior engineer, security engineer', 'system architect, security engineer']);
    expect(r.incident.escalations[1]!.reason).toBe('unresolved after 2 s');
    expect(r.incident.escalations[2]!.reason).toBe('unresolved after 4 s');
    // Nothing changed without the approval.
    expect(await withPg('credits', async (c) => (await c.query(`SELECT value FROM detection_settings WHERE key = 'pogq_threshold'`)).rows[0].value)).toBe(0);
  });

  test('a repeated alert joins the running incident; acknowledge and close are recorded', async () => {
    fault('blind');
    await sleep(1500);
    const routed = { ...config, receiver: { ...config.receiver, routes: { LowDetectionRate: 'incident-byzantine-detection-failure' } } };
    const alert: Alert = { fingerprint: `fp-byz-${Date.now()}`, name: 'LowDetectionRate', status: 'firing', severity: 'warning', category: 'security', summary: 'Byzantine detection rate 0% is below 90%', labels: {}, startsAt: new Date(Date.now() - 5000).toISOString(), source: 'alertmanager' };
    const counters = { received: 0, started: 0, joined: 0, resolved: 0, rejected: 0 };
    expect(await routeAlert(client, routed, alert, counters)).toBe('started');
    const h = client.workflow.getHandle(alertRunId(routed, alert));
    expect(h.workflowId).toBe('incident-byzantine-detection-failure-from-alerts');
    await awaitingApproval(h);
    expect(await routeAlert(client, routed, alert, counters)).toBe('joined');
    expect(await routeAlert(client, routed, alert, counters)).toBe('joined');
    await waitFor('the repeats', async () => ((await h.query<IncidentState>('incident')).repeats === 2 ? true : undefined));
    const refused = await h.executeUpdate('acknowledge', { args: [{ by: ' ' }] }).then(() => undefined, (e: { cause?: { message?: string } }) => e.cause?.message);
    expect(refused).toMatch(/acknowledge: expected the operator's identity .*found " "/);
    await h.executeUpdate('acknowledge', { args: [{ by: 'dave' }] });
    await decide(h, 'dave', { approved: false, reason: 'checking the validators first' });
    const r = (await h.result()) as IncidentResult;
    expect(r.outcome).toBe('escalated');
    expect(r.incident.repeats).toBe(2);
    expect(r.incident.acknowledged?.by).toBe('dave');
    expect(r.timeToDetectMs).toBeGreaterThanOrEqual(5000);
    expect(r.postMortem!.markdown).toMatch(/Acknowledged by dave/);
    expect(r.postMortem!.markdown).toMatch(/rejected by dave: set the PoGQ threshold/);
  });
});

describe('incident-data-corruption', () => {
  const corruptionDir = path.join(testRoot, 'corruption-incident');
  beforeAll(async () => {
    await app.stop(); // no new credits: the comparisons are exact
    await makeConsistent();
  });
  afterEach(async () => {
    if (existsSync(path.join(corruptionDir, 'corruption.json'))) await withPg('credits', (c) => clearCorruption(c, corruptionDir));
  });

  test('corrupted rows: the restore waits for an approval, keeps the pre-restore database and names it; the stores agree again', async () => {
    const backup = await runCli(['run', 'database-backup', '--wait', '--json']);
    expect(backup.code).toBe(0);
    const before = await withPg('credits', fingerprint);
    const conductor = conductorClient(config);
    await withPg('credits', (c) => corruptRows(c, conductor, corruptionDir, 3));
    await conductor.close();
    rmSync(path.join(corruptionDir, 'corruption.json')); // the runbook repairs it, not clear
    const corrupted = await withPg('credits', fingerprint);
    const h = await start('incidentDataCorruption');
    // One differing row does not restore anything on its own: the restore asks first.
    const restore = client.workflow.getHandle(`${h.workflowId}-restore-database`);
    await waitFor('the restore to wait for an approval', async () => (await restore.query<{ awaitingApproval: boolean }>('progress').catch(() => ({ awaitingApproval: false }))).awaitingApproval || undefined, 60_000);
    expect(await withPg('credits', fingerprint)).toEqual(corrupted);
    await decide(restore, 'grace', { reason: 'three rows corrupted, backup verified' });
    const r = (await h.result()) as IncidentResult;
    expect(r.diagnosis).toBe('database-corruption');
    expect(r.incident.findings[0]).toMatch(/0 credits missing from the DHT view, 3 missing from the database, 3 changed/);
    expect(r.incident.actions[0]).toMatchObject({ name: 'restore the latest verified backup (child run restore-database)', outcome: 'succeeded' });
    expect(r.outcome).toBe('resolved');
    const after = await withPg('credits', fingerprint);
    expect(after.tables['public.credits']).toBe(before.tables['public.credits']);
    // The pre-restore database is kept (with the rows written since the backup) and named.
    const kept = /kept as (credits_before_restore_\w+)/.exec(r.incident.actions[0]!.detail ?? '')?.[1];
    expect(kept).toBeDefined();
    expect(await databases()).toContain(kept);
    expect(await withPg(kept!, fingerprint)).toEqual(corrupted);
    expect(r.postMortem!.markdown).toContain(kept!);
    expect(r.postMortem!.markdown).toMatch(/approved by grace: restore the latest verified backup/);
    await withPg('postgres', (c) => c.query(`DROP DATABASE "${kept!}" WITH (FORCE)`));
  });

  test('corrupted DHT: a gossip round re-syncs it and the stores agree again', async () => {
    const conductor = conductorClient(config);
    await corruptDht(conductor, config.conductorDataDir, corruptionDir, 4);
    await conductor.close();
    const r = await run('incidentDataCorruption');
    expect(r.diagnosis).toBe('dht-inconsistency');
    expect(r.incident.findings[0]).toMatch(/^4 credits missing from the DHT view, 0 missing from the database, 0 changed/);
    expect(r.incident.actions.map((a) => [a.name, a.outcome])).toEqual([
      ['trigger a gossip round (DHT repair)', 'succeeded'],
      ['verify: DHT and database agree', 'succeeded'],
    ]);
    expect(r.outcome).toBe('resolved');
  });

  test('with automatic restores allowed: no approval wait; what no repair fixes becomes a reconciliation task, and the run escalates', async () => {
    // A credit on the DHT that no backup has: the restore cannot bring it into the database.
    const conductor = conductorClient(config);
    const id = `orphan-${Date.now()}`;
    await conductor.importState([{ credit_id: id, holder: 'node-0001', amount: 12.5, earned_from: 'x', verifiers: [], event_type: 'peer_validation', created_at: Date.now() * 1000, author: 'test' }]);
    await conductor.close();
    const queue = 'runbooks-test-automatic-restore';
    const worker = await startWorkerProcess({ taskQueue: queue, env: { RUNBOOK_SET_incident__automaticRestore: 'true' } });
    try {
      const r = (await client.workflow.execute('incidentDataCorruption', { taskQueue: queue, workflowId: `corruption-automatic-${Date.now()}`, args: [{ trigger: 'manual', severity: 'warning' }] })) as IncidentResult;
      expect(r.outcome).toBe('escalated');
      expect(r.incident.approvals).toEqual([]); // configured to restore without asking
      const restore = r.incident.actions.find((a) => a.name.startsWith('restore the latest verified backup'))!;
      expect(restore).toMatchObject({ outcome: 'succeeded' });
      const kept = /kept as (credits_before_restore_\w+)/.exec(restore.detail ?? '')?.[1];
      expect(await databases()).toContain(kept);
      await withPg('postgres', (c) => c.query(`DROP DATABASE "${kept!}" WITH (FORCE)`));
      const task = r.incident.actions.find((a) => a.name === 'manual reconciliation task')!;
      expect(readFileSync(task.detail!, 'utf8')).toMatch(new RegExp(`missing from the database: ${id}`));
      expect(levels(r)).toEqual([1, 2]);
    } finally {
      await worker.stop();
    }
    await makeConsistent();
  });
});

test('dry-runs diagnose and plan, and change nothing', async () => {
  await app.stop();
  await makeConsistent();
  const conductor = conductorClient(config);
  const dir = path.join(testRoot, 'corruption-dry-run');
  await withPg('credits', (c) => corruptRows(c, conductor, dir, 2));
  await corruptDht(conductor, config.conductorDataDir, dir, 2);
  const dhtBefore = (await conductor.getAllCredits(undefined, 1)).total;
  const before = await withPg('credits', fingerprint);
  try {
    const sys = await run('incidentSystemUnresponsive', { dryRun: true });
    expect(sys.outcome).toBe('dry-run');
    expect(sys.diagnosis).toBe('application-down');
    expect(sys.plan).toContain('resolution: start the application again through service control');
    const byz = await run('incidentByzantineDetectionFailure', { dryRun: true });
    expect(byz.outcome).toBe('dry-run');
    const data = await run('incidentDataCorruption', { dryRun: true });
    expect(data.outcome).toBe('dry-run');
    expect(data.plan!.join('\n')).toMatch(/DHT inconsistency: trigger a gossip round[\s\S]*database corruption: restore the latest verified backup/);
    for (const r of [sys, byz, data]) expect(r.incident.escalations).toEqual([]);
    expect(await withPg('credits', fingerprint)).toEqual(before);
    expect((await conductor.getAllCredits(undefined, 1)).total).toBe(dhtBefore);
    expect(await fetch('http://127.0.0.1:29200/status').then(() => true, () => false)).toBe(false);
  } finally {
    await withPg('credits', (c) => clearCorruption(c, dir));
    await conductor.close();
  }
});

test('an operator closes an incident that waits for an approval: runbook close', async () => {
  await appUp();
  fault('blind');
  await sleep(1500);
  try {
    const h = await start('incidentByzantineDetectionFailure');
    await waitFor('the approval wait', async () => (await h.query<{ awaitingApproval: boolean }>('progress')).awaitingApproval || undefined, 30_000);
    // --by is no identity: it may only repeat the one the CLI runs under.
    expect((await runCli(['close', h.workflowId, '--by', 'mallory'], { RUNBOOK_IDENTITY: 'erin' })).code).toBe(2);
    const closed = await runCli(['close', h.workflowId, '--reason', 'handled by the security team'], { RUNBOOK_IDENTITY: 'erin' });
    expect(closed.stdout).toMatch(/closed by erin/);
    const r = (await h.result()) as IncidentResult;
    expect(r.outcome).toBe('closed-by-operator');
    expect(r.incident.closedBy).toBe('operator');
    expect(r.postMortem!.markdown).toMatch(/closed by erin: \*\*succeeded\*\*: handled by the security team/);
  } finally {
    fault('clear');
  }
});

test('system-unresponsive holds while a vertical-scale has the application stopped, then acts on what it finds', async () => {
  await appUp();
  const scale = await client.workflow.start('verticalScale', { taskQueue: testTaskQueue, workflowId: `vertical-scale-hold-${Date.now()}`, args: [{ trigger: 'manual', samples: 2 }] });
  await waitFor('the upgrade wait', async () => ((await scale.query<{ step: string }>('progress')).step === 'awaiting the upgrade' ? true : undefined), 60_000);
  const h = await start('incidentSystemUnresponsive');
  // A failure here must not leave either run working on the shared stack for the next suites.
  try {
    await waitFor('the hold', async () => ((await h.query<IncidentState>('incident')).actions.some((a) => a.name.startsWith('hold')) ? true : undefined), 30_000);
    await sleep(3000);
    // The incident did not restart the application the scaling run stopped.
    expect(await fetch('http://127.0.0.1:29200/status').then(() => true, () => false)).toBe(false);
    await scale.executeUpdate('upgraded', { args: [{ by: 'ivy' }] });
    const scaled = (await scale.result()) as { outcome: string };
    // The whole outcome on failure: the scaling run's findings say why.
    expect({ outcome: scaled.outcome, scaled }).toMatchObject({ outcome: 'succeeded' });
    const r = (await h.result()) as IncidentResult;
    expect(r.incident.actions[0]).toMatchObject({ name: 'hold: other runbooks are working on the system', outcome: 'skipped' });
    expect(r.incident.actions[0]!.detail).toContain(scale.workflowId);
    expect(r.diagnosis).toBe('healthy'); // the scaling run started it again; nothing left to repair
    expect(r.outcome).toBe('resolved');
  } finally {
    for (const run of [h, scale]) if ((await run.describe()).status.name === 'RUNNING') await run.terminate('test cleanup: the test failed');
  }
});
