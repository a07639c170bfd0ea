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

test('approve needs --by', async () => {
  const r = await runCli(['approve', 'some-run']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/required option '--by <name>'/);
});

test('a server that is not there: a clear message, not a stack', async () => {
  const r = await runCli(['runs'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/cannot reach the Temporal server at 127\.0\.0\.1:1/);
});
