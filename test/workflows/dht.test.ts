// The DHT runbooks against the stand-in conductor: export, wipe and restore bring every credit
// back; a damaged export is refused before anything is imported; a hung conductor is restarted
// and verified; a conductor killed in the middle of an import does not stop the run, and no
// credit is duplicated.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync, closeSync, openSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { DhtExportManifest } from '../../common/dht-export';
import { DHT_MANIFEST_FORMAT } from '../../common/dht-export';
import type { DhtExportResult, RestartConductorResult, RestoreDhtResult } from '../../common/runbooks';
import { ContentHash, creditHash, exportHeader, type CreditRecord } from '../../activities/dht-files';
import { serviceControl } from '../../adapters/service-control';
import { conductorClient } from '../../adapters/conductor';
import { makeConsistent } from '../support/consistency';
import { projectRoot, testTaskQueue } from '../support/env';
import { activitySteps, decide, temporalClient, testConfig, waitFor, withPg } from '../support/stack';

let client: Client;
let close: () => Promise<void>;
const config = testConfig();
const service = serviceControl(config.conductorService);
const cli = (...args: string[]): string =>
  execFileSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'sandbox', 'conductor', 'cli.ts'), ...args, '--data-dir', config.conductorDataDir], { encoding: 'utf8' });

beforeAll(async () => ({ client, close } = await temporalClient()));
afterAll(async () => close());

function run<T>(workflowType: string, input: Record<string, unknown>, id: string): Promise<T> {
  return client.workflow.execute(workflowType, { taskQueue: testTaskQueue, workflowId: `${id}-${Date.now()}`, args: [input] });
}

/** Every credit in the DHT, by id, with its content hash. */
async function dhtContent(): Promise<Map<string, string>> {
  const c = conductorClient(config);
  try {
    const out = new Map<string, string>();
    for await (const credit of c.allCredits(5000)) out.set(credit.credit_id, creditHash(credit as CreditRecord));
    return out;
  } finally {
    await c.close();
  }
}

function failureType(e: unknown): string | undefined {
  return ((e as WorkflowFailedError).cause as { cause?: { type?: string } } | undefined)?.cause?.type;
}

test('export, wipe, restore: every credit comes back with the same content', async () => {
  const before = await dhtContent();
  expect(before.size).toBeGreaterThanOrEqual(2000);
  const exp = await run<DhtExportResult>('dhtExport', {}, 'dht-export');
  expect(exp.outcome).toBe('succeeded');
  expect(exp.credits).toBe(before.size);

  await service.stop();
  await service.clean();
  expect(cli('list')).toMatch(/stopped/);

  const restored = await run<RestoreDhtResult>('restoreDht', { export: path.basename(exp.path) }, 'restore-dht');
  expect(restored.outcome).toBe('succeeded');
  expect(restored.startedConductor).toBe(true);
  expect(restored.installedApp).toBe(true);
  expect(restored.imported).toBe(before.size);
  expect(restored.check?.contentHash).toBe(exp.contentHash);
  expect(await dhtContent()).toEqual(before);

  // Importing the same export again changes nothing.
  const again = await run<RestoreDhtResult>('restoreDht', { export: exp.key }, 'restore-dht-again');
  expect(again.imported).toBe(0);
  expect(again.skipped).toBe(before.size);
  expect(await dhtContent()).toEqual(before);
});

test('dry-runs of the three DHT runbooks change nothing', async () => {
  const pidFile = path.join(config.conductorDataDir, 'conductor.pid');
  const pid = readFileSync(pidFile, 'utf8');
  const files = readdirSync(config.dhtExportDirectory).sort();
  const before = await dhtContent();
  const exp = await run<DhtExportResult>('dhtExport', { dryRun: true }, 'dht-export-dry');
  const restore = await run<RestoreDhtResult>('restoreDht', { dryRun: true }, 'restore-dht-dry');
  const restart = await run<RestartConductorResult>('restartConductor', { dryRun: true, clean: true }, 'restart-dry');
  expect([exp.outcome, restore.outcome, restart.outcome]).toEqual(['dry-run', 'dry-run', 'dry-run']);
  expect(restart.plan?.join('\n')).toMatch(/wait for an approval/);
  expect(readFileSync(pidFile, 'utf8')).toBe(pid); // not restarted
  expect(readdirSync(config.dhtExportDirectory).sort()).toEqual(files);
  expect(await dhtContent()).toEqual(before);
});

test('a damaged export is refused before anything is imported', async () => {
  const exp = await run<DhtExportResult>('dhtExport', { key: '20240201_023000' }, 'dht-export-fixture');
  const manifest = JSON.parse(readFileSync(exp.path + '.manifest.json', 'utf8')) as DhtExportManifest;
  // A copy whose last credit got a new id: importing it would add a credit.
  const lines = readFileSync(exp.path, 'utf8').split('\n');
  const lastCredit = lines.length - 3;
  const changed = JSON.parse(lines[lastCredit]!) as CreditRecord;
  lines[lastCredit] = JSON.stringify({ ...changed, credit_id: 'zzzz-not-in-the-dht' });
  const damaged = path.join(path.dirname(exp.path), 'dht_export_zerotrustml_20240202_023000.json');
  writeFileSync(damaged, lines.join('\n'));
  writeFileSync(damaged + '.manifest.json', JSON.stringify({ ...manifest, key: '20240202_023000', file: path.basename(damaged) }));
  const before = await dhtContent();
  const err = await run('restoreDht', { export: path.basename(damaged) }, 'restore-dht-damaged').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(failureType(err)).toBe('BackupDamaged');
  expect(await dhtContent()).toEqual(before);

  // A truncated copy is refused too.
  const truncated = path.join(path.dirname(exp.path), 'dht_export_zerotrustml_20240203_023000.json');
  copyFileSync(exp.path, truncated);
  const fd = openSync(truncated, 'r+');
  writeSync(fd, Buffer.from('x'), 0, 1, 10);
  closeSync(fd);
  writeFileSync(truncated + '.manifest.json', JSON.stringify({ ...manifest, key: '20240203_023000', file: path.basename(truncated) }));
  expect(failureType(await run('restoreDht', { export: path.basename(truncated) }, 'restore-dht-flipped').catch((e: unknown) => e))).toBe('BackupDamaged');
});

test('restart-conductor brings a hung conductor back and verifies it', async () => {
  cli('fault', 'hang');
  const c = conductorClient(config);
  expect((await c.liveness()).alive).toBe(false);
  await c.close();
  const result = await run<RestartConductorResult>('restartConductor', {}, 'restart-hung');
  expect(result.outcome).toBe('succeeded');
  expect(result.aliveBefore).toBe(false);
  expect(result.creditsReadable).toBeGreaterThanOrEqual(2000);
  const after = conductorClient(config);
  expect((await after.liveness()).appEnabled).toBe(true);
  await after.close();
});

test('releasing a target lock at the end of a run costs no failed workflow task (the lock run ends first)', async () => {
  const handle = await client.workflow.start('restartConductor', { taskQueue: testTaskQueue, workflowId: `restart-lock-end-${Date.now()}`, args: [{}] });
  expect(((await handle.result()) as RestartConductorResult).outcome).toBe('succeeded');
  const events = (await handle.fetchHistory()).events ?? [];
  expect(events.filter((e) => e.workflowTaskFailedEventAttributes).map((e) => e.workflowTaskFailedEventAttributes?.cause)).toEqual([]);
  // The lock was taken and released: its child run completed before the holder did.
  expect(events.some((e) => e.childWorkflowExecutionCompletedEventAttributes)).toBe(true);
});

test('a wipe waits for an approval and a rejection leaves the data alone', async () => {
  const before = await dhtContent();
  const handle = await client.workflow.start('restartConductor', { taskQueue: testTaskQueue, workflowId: `restart-clean-${Date.now()}`, args: [{ clean: true }] });
  await waitFor('the approval wait', async () => ((await handle.query('progress')) as { awaitingApproval: boolean }).awaitingApproval);
  await decide(handle, 'dana', { approved: false, reason: 'not needed' });
  const result = (await handle.result()) as RestartConductorResult;
  expect(result.outcome).toBe('rejected');
  expect(result.cleaned).toBe(false);
  expect(await dhtContent()).toEqual(before);
});

test('the conductor SIGKILLed in the middle of an import: the run completes, no credit twice', async () => {
  // An export of 20,000 new credits, written the way exportDht writes them.
  const key = '20240301_023000';
  const file = path.join(config.dhtExportDirectory, `dht_export_zerotrustml_${key}.json`);
  const content = new ContentHash();
  const credits: CreditRecord[] = Array.from({ length: 20_000 }, (_, i) => ({
    credit_id: `kill-test-${String(i).padStart(6, '0')}`,
    holder: `node-${String(1 + (i % 40)).padStart(4, '0')}`,
    amount: 10,
    earned_from: 'validation-kill-test',
    verifiers: [],
    event_type: 'peer_validation',
    created_at: 1_700_000_000_000_000 + i,
    author: 'kill-test',
  }));
  credits.forEach((c) => content.add(c));
  const text = exportHeader({ key, appId: 'zerotrustml', exportedAt: new Date().toISOString() }) + credits.map((c) => JSON.stringify(c)).join(',\n') + '\n]}\n';
  mkdirSync(config.dhtExportDirectory, { recursive: true });
  writeFileSync(file, text);
  const manifest: DhtExportManifest = {
    format: DHT_MANIFEST_FORMAT,
    key,
    file: path.basename(file),
    appId: 'zerotrustml',
    conductor: config.conductor.adminUrl,
    bytes: Buffer.byteLength(text),
    sha256: createHash('sha256').update(text).digest('hex'),
    credits: credits.length,
    contentHash: content.digest(),
    startedAt: '',
    finishedAt: '',
    durationMs: 0,
    verified: { at: new Date().toISOString(), method: 'test', durationMs: 0 },
  };
  writeFileSync(file + '.manifest.json', JSON.stringify(manifest));
  const before = await dhtContent();

  // Slow answers make the import take seconds, long enough to kill the conductor midway.
  cli('fault', 'slow', '--delay-ms', '150');
  const handle = await client.workflow.start('restoreDht', { taskQueue: testTaskQueue, workflowId: `restore-dht-kill-${Date.now()}`, args: [{ export: path.basename(file) }] });
  await waitFor('the import to be under way', async () => {
    const d = await handle.describe();
    const pending = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'importDht');
    // Progress of the import itself (batches sent), not the first heartbeat of the step.
    const details = pending?.heartbeatDetails?.payloads?.[0]?.data;
    return details !== undefined && details !== null && /"sent"|\d+ sent/.test(Buffer.from(details).toString());
  });
  const pid = Number(readFileSync(path.join(config.conductorDataDir, 'conductor.pid'), 'utf8'));
  process.kill(pid, 'SIGKILL');

  const result = (await handle.result()) as RestoreDhtResult;
  expect(result.outcome).toBe('succeeded');
  expect(result.check?.matches).toBe(true);
  const after = await dhtContent();
  expect(after.size).toBe(before.size + credits.length);
  for (const c of credits) expect(after.get(c.credit_id)).toBe(creditHash(c));

  // The import activity ran more than once: the kill really interrupted it.
  const history = await handle.fetchHistory();
  const attempts = (history.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
  expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);
});

test('a wipe with the application running: approval first, then the application stops, then the export; no credit issued before the stop is lost, and the application runs again', async () => {
  const app = serviceControl(config.applicationService!);
  await makeConsistent();
  await app.start();
  try {
    await waitFor('credits to flow', async () => (await fetch(config.application.statusUrl).then((r) => r.ok, () => false)) || undefined);
    const handle = await client.workflow.start('restartConductor', { taskQueue: testTaskQueue, workflowId: `restart-clean-live-${Date.now()}`, args: [{ clean: true }] });
    await waitFor('the approval wait', async () => ((await handle.query('progress')) as { awaitingApproval: boolean }).awaitingApproval);
    // Nothing was stopped or exported while the run waited for a human.
    expect(await app.isActive()).toBe(true);
    await new Promise((r) => setTimeout(r, 1500)); // credits keep flowing meanwhile
    await decide(handle, 'dana', { reason: 'wipe approved' });
    const result = (await handle.result()) as RestartConductorResult;
    expect(result.outcome).toBe('succeeded');
    expect(result.cleaned).toBe(true);
    // The order in the history: stop the application, then export, then stop the conductor and wipe.
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.flatMap((e) => {
      const a = e.activityTaskScheduledEventAttributes;
      return a ? [`${a.activityType?.name}${a.input?.payloads?.[0] ? `:${Buffer.from(a.input.payloads[0].data ?? new Uint8Array()).toString()}` : ''}`] : [];
    });
    const at = (prefix: string): number => scheduled.findIndex((s) => s.startsWith(prefix));
    expect(at('runApplicationCommand:{"action":"stop"}')).toBeGreaterThan(-1);
    expect(at('runApplicationCommand:{"action":"stop"}')).toBeLessThan(at('exportDht'));
    expect(at('exportDht')).toBeLessThan(at('stopConductor'));
    expect(at('stopConductor')).toBeLessThan(at('cleanConductor'));
    expect(at('runApplicationCommand:{"action":"start"}')).toBeGreaterThan(at('checkDhtAgainstExport'));
    expect(await app.isActive()).toBe(true);
    // Every credit the application wrote to the database before it stopped is on the DHT.
    await app.stop();
    const dht = await dhtContent();
    const missing = await withPg('credits', async (c) => (await c.query<{ credit_id: string }>('SELECT credit_id FROM credits')).rows.filter((r) => !dht.has(r.credit_id)).map((r) => r.credit_id));
    expect(missing).toEqual([]);
  } finally {
    await app.stop();
  }
});

test('restore-dht with a heartbeat timeout shorter than its steps: verify, import and compare heartbeat all along', async () => {
  // The 20,000 credits of the kill test are on the DHT already: every one is read, sent and compared,
  // through a conductor slow to answer, so the import and the comparison take seconds.
  cli('fault', 'slow', '--delay-ms', '100');
  const handle = await client.workflow.start('restoreDht', { taskQueue: testTaskQueue, workflowId: `restore-dht-heartbeat-${Date.now()}`, args: [{ export: '20240301_023000', heartbeatTimeoutSeconds: 1 }] });
  const r = await (handle.result() as Promise<RestoreDhtResult>).finally(() => cli('fault', 'clear'));
  expect(r.outcome).toBe('succeeded');
  const steps = await activitySteps(handle);
  expect(steps.filter((s) => s.timedOut || s.attempt !== 1)).toEqual([]);
  const long = steps.filter((s) => ['verifyDhtExport', 'importDht', 'checkDhtAgainstExport'].includes(s.name));
  expect(Math.max(...long.map((s) => s.ms))).toBeGreaterThan(1000);
});
