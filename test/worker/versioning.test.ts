// Worker versioning: an incident that waits on an approval was started by version A; version B
// (a step changed in a way A's run could not replay) is deployed and becomes current; the approval
// is given; the run completes on A, as A would have run it; new incidents run on B.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { IncidentResult, IncidentState } from '../../common/incident';
import { projectRoot, simulatorFault as fault, testRoot } from '../support/env';
import { decide, temporalClient, testConfig, waitFor, withPg } from '../support/stack';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { serviceControl } from '../../adapters/service-control';

const queue = `versioned-${Date.now()}`;
const deploymentName = `runbooks-test-${Date.now()}`;
const versioned = (buildId: string): NodeJS.ProcessEnv => ({
  RUNBOOK_SET_temporal__versioning__enabled: 'true',
  RUNBOOK_SET_temporal__versioning__deploymentName: JSON.stringify(deploymentName),
  RUNBOOK_BUILD_ID: buildId,
});
let client: Client;
let close: () => Promise<void>;
const workers: WorkerProcess[] = [];
const app = serviceControl(testConfig().applicationService!);

beforeAll(async () => {
  ({ client, close } = await temporalClient());
  await app.start();
  // Credits flow: the blind detector is found, and the fix verified, from new credits.
  await waitFor('the simulator', async () => (await fetch('http://127.0.0.1:29200/status').then((r) => r.ok).catch(() => false)) || undefined);
});
afterAll(async () => {
  fault('clear');
  await app.stop();
  for (const w of workers) await w.stop();
  await close();
});

/** Version B's workflows: today's, with one more step when an incident opens. */
async function bundleVersionB(): Promise<string> {
  const dir = path.join(testRoot, 'version-b');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // Inside the project, so its node_modules resolve.
  const src = path.join(projectRoot, 'test-results', 'version-b');
  rmSync(src, { recursive: true, force: true });
  for (const d of ['workflows', 'common', 'activities']) cpSync(path.join(projectRoot, d), path.join(src, d), { recursive: true });
  const incident = path.join(src, 'workflows', 'incident.ts');
  const code = readFileSync(incident, 'utf8');
  const anchor = "    this.phase('detect');\n";
  if (!code.includes(anchor)) throw new Error('version B: the anchor is gone from workflows/incident.ts');
  writeFileSync(incident, code.replace(anchor, `${anchor}    this.finding('opened by version B');\n    await quick.incidentSettings.executeWithOptions({ summary: 'version B: one more step' }, []);\n`));
  const { code: bundle } = await bundleWorkflowCode({ workflowsPath: path.join(src, 'workflows', 'index.ts'), logger: { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, log: () => undefined } });
  const out = path.join(dir, 'workflow-bundle.js');
  writeFileSync(out, bundle);
  return out;
}

async function currentBuild(): Promise<string | undefined> {
  const d = await client.workflowService.describeWorkerDeployment({ namespace: 'default', deploymentName }).catch(() => undefined);
  return d?.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId ?? undefined;
}

/** The build ids that completed the run's workflow tasks. */
async function buildsOf(h: WorkflowHandle): Promise<string[]> {
  const events = (await h.fetchHistory()).events ?? [];
  const ids = events.map((e) => e.workflowTaskCompletedEventAttributes?.deploymentVersion?.buildId).filter((b): b is string => !!b);
  return [...new Set(ids)];
}

test('an incident started on version A finishes on A after B is deployed; new incidents run on B', async () => {
  workers.push(await startWorkerProcess({ taskQueue: queue, env: versioned('build-a') }));
  await waitFor('version A current', async () => ((await currentBuild()) === 'build-a' ? true : undefined), 60_000);

  fault('blind');
  await new Promise((r) => setTimeout(r, 1500));
  const a = await client.workflow.start('incidentByzantineDetectionFailure', { taskQueue: queue, workflowId: `versioned-incident-a-${Date.now()}`, args: [{ trigger: 'manual' }] });
  await waitFor('the approval wait', async () => (await a.query<{ awaitingApproval: boolean }>('progress')).awaitingApproval || undefined, 60_000);
  const info = (await a.describe()).raw.workflowExecutionInfo?.versioningInfo;
  expect(info?.deploymentVersion?.buildId).toBe('build-a');

  // Version B deployed: its worker makes itself current.
  workers.push(await startWorkerProcess({ taskQueue: queue, env: { ...versioned('build-b'), RUNBOOK_WORKFLOW_BUNDLE: await bundleVersionB() } }));
  await waitFor('version B current', async () => ((await currentBuild()) === 'build-b' ? true : undefined), 60_000);

  await decide(a, 'carol', { reason: 'versioning test' });
  const ra = (await a.result()) as IncidentResult;
  expect(ra.outcome).toBe('resolved');
  expect(ra.incident.findings).not.toContain('opened by version B');
  expect(ra.incident.approvals).toEqual([expect.objectContaining({ approved: true, by: 'carol' })]);
  expect(await buildsOf(a)).toEqual(['build-a']);
  expect(await withPg('credits', async (c) => (await c.query(`SELECT value FROM detection_settings WHERE key = 'pogq_threshold'`)).rows[0].value)).toBe(0.5);

  // A new incident runs B's code. (The simulator sets the threshold when the fault begins.)
  fault('clear');
  await new Promise((r) => setTimeout(r, 500));
  fault('blind');
  await new Promise((r) => setTimeout(r, 1500));
  const b = await client.workflow.start('incidentByzantineDetectionFailure', { taskQueue: queue, workflowId: `versioned-incident-b-${Date.now()}`, args: [{ trigger: 'manual' }] });
  await waitFor('the approval wait', async () => (await b.query<{ awaitingApproval: boolean }>('progress')).awaitingApproval || undefined, 60_000);
  expect((await b.query<IncidentState>('incident')).findings).toContain('opened by version B');
  await decide(b, 'carol', { approved: false, reason: 'versioning test' });
  await b.result();
  expect(await buildsOf(b)).toEqual(['build-b']);
}, 300_000);
