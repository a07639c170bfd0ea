// Bad input to the CLI gives a clear error that names what was expected and what was found,
// and starts nothing; good input prints what a script can parse.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/stack';

test('unknown runbook: exit 2, lists the known ones', async () => {
  const r = await runCli(['run', 'restore-everything']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/unknown runbook "restore-everything": expected one of database-backup, restore-database/);
});

test('malformed --input: exit 2, says JSON object expected and what was found', async () => {
  const r = await runCli(['run', 'database-backup', '--input', '{backup: latest}']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/--input: expected a JSON object .* found "\{backup: latest\}"/);
  const arr = await runCli(['run', 'database-backup', '--input', '[1]']);
  expect(arr.stderr).toMatch(/expected a JSON object, found an array/);
});

test('a bad configuration file: exit 1, names the key, the expectation and the value', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runbook-cfg-'));
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(file, 'backup:\n  retentionDays: thirty\n  schedule: "2am"\ndatabase:\n  url: mysql://x/y\nbakup: {}\n');
  const r = await runCli(['--config', file, 'runs']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/backup\.retentionDays: expected a whole number of days, found "thirty"/);
  expect(r.stderr).toMatch(/backup\.schedule: expected a time of day as HH:MM .*found "2am"/);
  expect(r.stderr).toMatch(/database\.url: expected a URL like postgres:\/\/user@host:port\/database, found "mysql:\/\/x\/y"/);
  expect(r.stderr).toMatch(/bakup: not a known setting/);
  expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
});

test('run --wait --json prints the backup result with path, bytes, sha256 and duration', async () => {
  const r = await runCli(['run', 'database-backup', '--wait', '--json']);
  expect(r.code).toBe(0);
  const result = JSON.parse(r.stdout);
  expect(result).toMatchObject({ runbook: 'database-backup', outcome: 'succeeded' });
  expect(typeof result.path).toBe('string');
  expect(result.bytes).toBeGreaterThan(0);
  expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
  expect(result.durationMs).toBeGreaterThanOrEqual(0);

  const runs = await runCli(['runs', '--runbook', 'database-backup', '--json']);
  expect(JSON.parse(runs.stdout).map((x: { outcome: string }) => x.outcome)).toContain('succeeded');
  const badRunbook = await runCli(['runs', '--runbook', 'nope']);
  expect(badRunbook.code).toBe(2);
});

test('decisions are recorded under the operator identity, never a typed name: a bad identity is refused (exit 2)', async () => {
  const r = await runCli(['approve', 'some-run'], { RUNBOOK_IDENTITY: 'bob; rm -rf /' });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/operator identity: expected a name of letters, digits .* from RUNBOOK_IDENTITY, found "bob; rm -rf \/"/);
  const typed = await runCli(['approve', 'some-run', '--by', 'someone-else'], { RUNBOOK_IDENTITY: 'bob' });
  expect(typed.code).toBe(2);
  expect(typed.stderr).toMatch(/--by: decisions are recorded under your identity "bob"/);
});

test('runbook describe lists the inputs from the schema, with types, ranges and what the CLI sets', async () => {
  const r = await runCli(['describe', 'database-backup']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^database-backup: Daily PostgreSQL backup/);
  expect(r.stdout).toMatch(/retentionDays\n\s+whole number 1\.\.3650: override the configured retention/);
  expect(r.stdout).toMatch(/key\n\s+slot key YYYYMMDD_HHMMSS/);
  expect(r.stdout).toMatch(/requestedBy \(set by the CLI\)/);
  expect(r.stdout).toMatch(/Steps:\n {2}1\. describe target\n {2}2\. dump and verify\n {2}3\. retention/);
  const hs = JSON.parse((await runCli(['describe', 'horizontal-scale', '--json'])).stdout) as { inputs: Array<{ name: string; required: boolean }> };
  expect(hs.inputs.find((i) => i.name === 'nodeId')).toMatchObject({ required: true });
  const bad = await runCli(['describe', 'nope']);
  expect(bad.code).toBe(2);
});

test('a server that is not there: a clear message, not a stack', async () => {
  const r = await runCli(['runs'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/cannot reach the Temporal server at 127\.0\.0\.1:1/);
});
