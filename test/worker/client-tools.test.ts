// A worker for a remote database needs the PostgreSQL client tools only: given a binDir that holds
// pg_dump, pg_restore and psql and nothing else (no initdb, no pg_ctl), it starts and backs up a
// database it does not manage; doctor for a backups host says the same.
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { DatabaseBackupResult } from '../../common/runbooks';
import { postgresToolsDir } from '../../adapters/postgres-tools';
import { testRoot } from '../support/env';
import { pgUrl, runCli, temporalClient } from '../support/stack';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

const queue = 'runbooks-test-client-tools';
const binDir = path.join(testRoot, 'client-tools-only');
const backups = path.join(testRoot, 'client-tools-backups');
let env: NodeJS.ProcessEnv;
let client: Client;
let close: () => Promise<void>;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  const real = await postgresToolsDir();
  rmSync(binDir, { recursive: true, force: true });
  mkdirSync(binDir, { recursive: true });
  for (const t of ['pg_dump', 'pg_restore', 'psql']) symlinkSync(path.join(real, t), path.join(binDir, t));
  // A remote database (DATABASE_URL: not managed by the sandbox), only the client tools.
  env = { DATABASE_URL: pgUrl(), RUNBOOK_SET_database__binDir: binDir, RUNBOOK_BACKUP_DIR: backups, RUNBOOK_SET_hosts: '{dbhost: {roles: [database, backups]}}' };
  ({ client, close } = await temporalClient());
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  await close();
});

test('the tools directory holds no server binaries', () => {
  expect(readdirSync(binDir).sort()).toEqual(['pg_dump', 'pg_restore', 'psql']);
  expect(existsSync(path.join(binDir, 'initdb')) || existsSync(path.join(binDir, 'pg_ctl'))).toBe(false);
});

test('doctor --host for a backups host passes with the client tools only', async () => {
  const r = await runCli(['doctor', '--host', 'dbhost'], env);
  expect(r.stdout + r.stderr).toContain(binDir);
  expect(r.stdout + r.stderr).not.toMatch(/initdb|pg_ctl/);
  expect(r.code).toBe(0);
});

test('doctor --host for a database host with the physical tier checks pgBackRest, pg_ctl and the data directory', async () => {
  const missing = path.join(testRoot, 'no-such-data-directory');
  // The database host has the server package (pg_ctl starts a restored copy): no binDir of client tools only.
  const withServer = Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'RUNBOOK_SET_database__binDir'));
  const r = await runCli(['doctor', '--host', 'dbhost'], { ...withServer, RUNBOOK_SET_physicalBackup__enabled: 'true', RUNBOOK_SET_physicalBackup__dataDirectory: missing });
  const out = r.stdout + r.stderr;
  expect(out).toMatch(/ok\s+database: pgbackrest \(physicalBackup\): \S+pgbackrest: pgBackRest \d/);
  expect(out).toMatch(/ok\s+database: pg_ctl \(restore-cluster\): \S+\/pg_ctl/);
  expect(out).toContain(`${missing} does not exist`);
  expect(r.code).not.toBe(0);
});

test('a worker without server binaries backs up a database it does not manage, verified', async () => {
  worker = await startWorkerProcess({ taskQueue: queue, env, host: 'dbhost' });
  const shared = await startWorkerProcess({ taskQueue: queue, env });
  try {
    const r = (await client.workflow.execute('databaseBackup', { taskQueue: queue, workflowId: `client-tools-backup-${Date.now()}`, args: [{ trigger: 'manual' }] })) as DatabaseBackupResult;
    expect(r.outcome).toBe('succeeded');
    expect(path.dirname(r.path)).toBe(backups);
    expect(existsSync(r.path)).toBe(true);
  } finally {
    await shared.stop();
  }
}, 180_000);
