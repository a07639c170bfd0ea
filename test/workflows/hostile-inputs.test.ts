// Every runbook against hostile input: wrong types, out-of-range numbers, unknown keys, ".." and
// absolute paths, shell metacharacters, 10 KB strings, lists and strings where an object belongs,
// empty objects where a field is required. The cases are derived from each runbook's own schema,
// so a new input gets its hostile cases without anyone writing them. Each must be refused before
// any activity, local activity or child run is scheduled (the history shows none, and no workflow
// task failed), as a failed run of type InvalidInput whose message names the field; the CLI's
// check refuses the same input (exit 2) before it connects; and nothing changes: the backup,
// export and report directories list the same files and the database has the same fingerprint.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { z } from 'zod';
import { runInput } from '../../client/run';
import { runbookInputSchemas, type RunbookInputName } from '../../common/runbook-inputs';
import { runbookWorkflows } from '../../common/runbooks';
import { serviceControl } from '../../adapters/service-control';
import { testRoot, testTaskQueue } from '../support/env';
import { fingerprint } from '../support/fingerprint';
import { runCli, temporalClient, testConfig, withPg } from '../support/stack';

let client: Client;
let close: () => Promise<void>;
const config = testConfig();

interface Case {
  runbook: RunbookInputName;
  what: string;
  input: unknown;
  /** The field the refusal must name. */
  field: string;
}

const alert = { fingerprint: 'hostile-fp', name: 'HighErrorRate', status: 'firing', severity: 'critical', category: 'availability', summary: 's', labels: {}, startsAt: '2025-10-01T02:00:00.000Z', source: 'alertmanager' };
/** A valid value for each required field, so a case breaks exactly one field. */
const base: Partial<Record<RunbookInputName, Record<string, unknown>>> = { 'horizontal-scale': { nodeId: 'node-hostile' }, 'alert-notification': { alert } };

const tenKb = 'x'.repeat(10 * 1024);
const hostileStrings = ['../../etc/passwd', '/etc/passwd', '$(rm -rf /)', '; rm -rf / #', '`reboot`', tenKb, ''];
const hostileNumbers: unknown[] = ['7d', -1, 1e12, 1.5, null, '30'];

interface PropSchema {
  type?: string;
  enum?: unknown[];
  prefixItems?: unknown[];
}

function valuesFor(p: PropSchema): unknown[] {
  if (p.enum) return ['not-one-of-them', 1, tenKb];
  if (p.type === 'integer' || p.type === 'number') return hostileNumbers;
  if (p.type === 'boolean') return ['yes', 1, 'true'];
  if (p.type === 'array') return ['1h', [1], [1, 'x'], [1, 2, 3], [-5, 10]];
  if (p.type === 'object') return ['an alert', [], { ...alert, fingerprint: '../../etc' }, { ...alert, extra: 1 }, { ...alert, summary: 'x'.repeat(3000) }];
  return [...hostileStrings, 42, ['latest'], { path: '/etc' }];
}

function casesOf(runbook: RunbookInputName): Case[] {
  const schema = z.toJSONSchema(runbookInputSchemas[runbook], { io: 'input', unrepresentable: 'any' }) as { properties: Record<string, PropSchema>; required?: string[] };
  const b = base[runbook] ?? {};
  const cases: Case[] = [
    { runbook, what: 'an unknown key (a typo)', input: { ...b, retentionDayz: 7 }, field: 'retentionDayz' },
    { runbook, what: 'a 10 KB unknown key', input: { ...b, [`k${tenKb}`]: tenKb }, field: 'k' },
    { runbook, what: 'a shell command as a key', input: { ...b, 'rm -rf /': true }, field: 'rm -rf /' },
    { runbook, what: 'a string instead of an object', input: 'rm -rf /', field: 'input' },
    { runbook, what: 'a list instead of an object', input: [{ dryRun: true }], field: 'input' },
    { runbook, what: 'null instead of an object', input: null, field: 'input' },
  ];
  for (const name of schema.required ?? []) cases.push({ runbook, what: `an empty object (${name} is required)`, input: {}, field: name });
  for (const [name, prop] of Object.entries(schema.properties)) {
    for (const value of valuesFor(prop)) {
      const shown = typeof value === 'string' && value.length > 30 ? `${value.length} characters` : JSON.stringify(value);
      cases.push({ runbook, what: `${name} = ${shown}`, input: { ...b, [name]: value }, field: name });
    }
  }
  return cases;
}

const runbooks = Object.keys(runbookWorkflows) as RunbookInputName[];
const allCases = runbooks.flatMap(casesOf);

/** A segment pgBackRest's archive-push stored: archive/<stanza>/<version>/<timeline>/<segment>-<sha1>.<ext>. */
const archivedWalSegment = /\/archive\/[^/]+\/[^/]+\/[0-9A-F]{16}\/[0-9A-F]{24}-[0-9a-f]{40}(\.[a-z0-9]+)? \d+ [\d.]+$/;

/** Every file under the directories runbooks write to, with size and mtime. */
function listing(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const p = path.join(dir, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out.push(`${p} ${st.size} ${st.mtimeMs}`);
    }
  };
  for (const d of [config.backupDirectory, config.dhtExportDirectory, config.configBackupDirectory, config.reportsDirectory, path.join(testRoot, 'dr-drill')]) walk(d);
  return out;
}

beforeAll(async () => {
  ({ client, close } = await temporalClient());
  // Nothing writes to the database meanwhile: its fingerprint must stay equal.
  await serviceControl(config.applicationService!).stop();
});
afterAll(async () => close());

test(`the case table covers every runbook (${allCases.length} cases)`, () => {
  expect(new Set(allCases.map((c) => c.runbook))).toEqual(new Set(runbooks));
  // Every runbook gets its generic cases and at least one per input field.
  for (const r of runbooks) expect(allCases.filter((c) => c.runbook === r).length).toBeGreaterThanOrEqual(6 + 19);
});

test('the CLI refuses every case before it connects (a usage error naming the field)', () => {
  for (const c of allCases) {
    if (typeof c.input !== 'object' || c.input === null || Array.isArray(c.input)) continue; // --input takes an object only
    // trigger and requestedBy are refused for being given at all; the others by the schema.
    let message = '';
    try {
      runInput(c.runbook, JSON.stringify(c.input), { requestedBy: 'tester' });
    } catch (e) {
      message = (e as Error).message;
    }
    if (!message) throw new Error(`the CLI accepted ${c.runbook} with ${c.what}`);
    expect({ case: `${c.runbook}: ${c.what}`, names: message.includes(c.field.slice(0, 60)) }).toEqual({ case: `${c.runbook}: ${c.what}`, names: true });
  }
});

test('every runbook refuses every case before any activity, child or marker, and changes nothing', async () => {
  const before = { files: listing(), db: await withPg('credits', fingerprint) };
  const failures: string[] = [];
  let n = 0;
  const queue = [...allCases];
  const lane = async (): Promise<void> => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const workflowId = `hostile-${c.runbook}-${Date.now()}-${n++}`;
      const err = await client.workflow
        .execute(runbookWorkflows[c.runbook], { taskQueue: testTaskQueue, workflowId, args: [c.input], workflowExecutionTimeout: '1 minute' })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      const cause = (err as WorkflowFailedError | undefined)?.cause as { type?: string; message?: string; nonRetryable?: boolean } | undefined;
      if (!(err instanceof WorkflowFailedError) || cause?.type !== 'InvalidInput' || cause.nonRetryable !== true) {
        failures.push(`${c.runbook} with ${c.what}: expected a non-retryable InvalidInput failure, got ${err instanceof Error ? `${err.name}: ${(cause?.type ?? '')} ${cause?.message ?? err.message}` : 'success'}`);
        continue;
      }
      if (!cause.message?.includes(c.field.slice(0, 60))) failures.push(`${c.runbook} with ${c.what}: the message does not name ${c.field.slice(0, 60)}: ${cause.message}`);
      const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      const bad = events.filter((e) => e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes || e.startChildWorkflowExecutionInitiatedEventAttributes || e.workflowTaskFailedEventAttributes);
      if (bad.length) failures.push(`${c.runbook} with ${c.what}: the history has ${bad.length} activity/marker/child/task-failure event(s)`);
    }
  };
  await Promise.all(Array.from({ length: 6 }, lane));
  expect(failures).toEqual([]);
  // PostgreSQL's archiver adds a WAL segment whenever archive_timeout passes (the runs take
  // longer than that): new segments are the database's own doing, anything else is not.
  const after = listing();
  expect(before.files.filter((f) => !after.includes(f))).toEqual([]);
  expect(after.filter((f) => !before.files.includes(f) && !archivedWalSegment.test(f))).toEqual([]);
  expect(await withPg('credits', fingerprint)).toEqual(before.db);
}, 600_000);

test('the CLI: bad input exits 2 naming the field, what was expected and what was found; nothing starts', async () => {
  const typo = await runCli(['run', 'database-backup', '--input', '{"retentionDayz":7}']);
  expect(typo.code).toBe(2);
  expect(typo.stderr).toMatch(/retentionDayz: not an input of this runbook \(expected one of: .*retentionDays/);
  const days = await runCli(['run', 'database-backup', '--input', '{"retentionDays":"7d"}', '--wait']);
  expect(days.code).toBe(2);
  expect(days.stderr).toMatch(/retentionDays: expected a whole number of days from 1 to 3650, found the string "7d"/);
  for (const v of [0, -1, 1e9]) {
    const r = await runCli(['run', 'database-backup', '--input', JSON.stringify({ retentionDays: v })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`retentionDays: expected (at least 1|at most 3650) days, found the number ${v}`));
  }
  const empty = await runCli(['run', 'horizontal-scale', '--input', '{}', '--wait']);
  expect(empty.code).toBe(2);
  expect(empty.stderr).toMatch(/nodeId: expected .*found nothing/);
  const who = await runCli(['run', 'database-backup', '--input', '{"requestedBy":"mallory"}']);
  expect(who.code).toBe(2);
  expect(who.stderr).toMatch(/requestedBy is set by the CLI/);
  const drill = await runCli(['run', 'dr-drill', '--input', JSON.stringify({ dir: testRoot, postgresPort: 55432 })]);
  expect(drill.code).toBe(2);
  expect(drill.stderr).toMatch(/dir: not an input of this runbook/);
  const path1 = await runCli(['run', 'restore-database', '--input', '{"backup":"../../etc/passwd"}']);
  expect(path1.code).toBe(2);
  expect(path1.stderr).toMatch(/backup: expected "latest", a slot key .* found the string "..\/..\/etc\/passwd"/);
});
