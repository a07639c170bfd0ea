// The way to production from the CLI: `runbook init --production` writes a template that does not
// load until it is filled in; `runbook setup-namespace` registers the namespace and every search
// attribute the code sets, idempotently; `stack up` refuses a production configuration, and
// against a database without the sandbox's schema it says what is missing and leaves nothing
// running.
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { searchAttributeRegistrations } from '../../common/search-attributes';
import { testPorts } from '../support/env';
import { runCli, withPg } from '../support/stack';

const dir = mkdtempSync(path.join(os.tmpdir(), 'runbook-production-'));

test('init --production writes a private template that does not load until every "<fill in>" is filled; it never overwrites', async () => {
  const file = path.join(dir, 'runbooks.yaml');
  const first = await runCli(['init', '--production', '--file', file]);
  expect(first.code).toBe(0);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const again = await runCli(['init', '--production', '--file', file]);
  expect(again.code).toBe(2);
  expect(again.stderr).toMatch(/exists: refusing to overwrite it/);
  const use = await runCli(['--config', file, 'runs'], { RUNBOOK_CONFIG: '' });
  expect(use.code).toBe(1);
  expect(use.stderr).toMatch(/the configuration is a template with \d+ value\(s\) to fill in:\n {2}temporal\.address: fill in the Temporal frontend/);
  expect(use.stderr).not.toMatch(/\n\s+at /);
});

test('stack up refuses a production configuration', async () => {
  const file = path.join(dir, 'filled.yaml');
  writeFileSync(
    file,
    [
      'production: true',
      `dataDir: ${dir}`,
      'temporal: {address: "127.0.0.1:1"}',
      'database: {url: "postgres://u@127.0.0.1:1/credits", managed: false, production: true, service: {type: systemd, unit: postgresql}}',
      'backup: {directory: /tmp/b}',
      'dhtExport: {directory: /tmp/d}',
      'conductor: {managed: false, adminUrl: "ws://127.0.0.1:1", appBundle: /tmp/a.happ, service: {type: systemd, unit: holochain}}',
      'application: {managed: false, statusUrl: "http://127.0.0.1:1/status", service: {type: systemd, unit: app}}',
      'monitoring: {managed: false}',
      'configBackup: {files: [/etc/hostname]}',
      'disasterRecovery: {drill: {database: {start: [a], stop: [b]}, conductor: {start: [a], stop: [b]}}}',
    ].join('\n'),
  );
  const r = await runCli(['--config', file, 'stack', 'up', '--detach'], { RUNBOOK_CONFIG: '' });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/stack up runs the sandbox; this is a production configuration/);
});

test('stack up against a database without the sandbox schema: says what is missing, starts nothing', async () => {
  await withPg('postgres', async (c) => {
    await c.query('DROP DATABASE IF EXISTS stackless');
    await c.query('CREATE DATABASE stackless');
  });
  const data = path.join(dir, 'stackless-data');
  const file = path.join(dir, 'stackless.yaml');
  writeFileSync(file, [`dataDir: ${data}`, 'temporal: {address: "127.0.0.1:37999", uiPort: 38999}', 'conductor: {adminUrl: "ws://127.0.0.1:38998"}', 'receiver: {port: 38997}', 'monitoring: {managed: false}'].join('\n'));
  const r = await runCli(['--config', file, 'stack', 'up', '--detach'], { RUNBOOK_CONFIG: '', DATABASE_URL: `postgres://zerotrustml@127.0.0.1:${testPorts.postgres}/stackless` });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/stack up failed, and stopped what it had started: the database stackless at 127\.0\.0\.1:\d+ has no credits schema .* set application\.managed: false/);
  expect(r.stderr).not.toMatch(/relation "credits" does not exist/);
  const run = path.join(data, 'run');
  expect(existsSync(run) ? readdirSync(run).filter((f) => f.endsWith('.pid')) : []).toEqual([]);
  await withPg('postgres', (c) => c.query('DROP DATABASE IF EXISTS stackless'));
});

test('setup-namespace registers the namespace and every search attribute, once', async () => {
  const namespace = `setup-test-${Date.now()}`;
  const first = await runCli(['setup-namespace', '--json'], { TEMPORAL_NAMESPACE: namespace });
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  const r1 = JSON.parse(first.stdout) as { namespace: { outcome: string }; searchAttributes: Array<{ name: string; outcome: string }> };
  expect(r1.namespace.outcome).toBe('created');
  expect(r1.searchAttributes.map((a) => a.name).sort()).toEqual(searchAttributeRegistrations.map(([n]) => n).sort());
  const second = JSON.parse((await runCli(['setup-namespace', '--json'], { TEMPORAL_NAMESPACE: namespace })).stdout) as typeof r1;
  expect(second.namespace.outcome).toBe('exists');
  expect(second.searchAttributes.every((a) => a.outcome === 'exists')).toBe(true);
  const connection = await Connection.connect({ address: `127.0.0.1:${testPorts.temporal}` });
  try {
    const listed = await connection.operatorService.listSearchAttributes({ namespace });
    for (const [name] of searchAttributeRegistrations) expect(Object.keys(listed.customAttributes ?? {})).toContain(name);
  } finally {
    await connection.close();
  }
});
