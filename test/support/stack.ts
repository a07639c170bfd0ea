// What test files use to reach the test stack: a Temporal client, the config, PostgreSQL, the CLI.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { loadConfig, type LoadedConfig } from '../../worker/config';
import { projectRoot, testConfigPath, testPorts } from './env';

export function testConfig(env: NodeJS.ProcessEnv = {}): LoadedConfig {
  return loadConfig({ file: testConfigPath, env });
}

export async function temporalClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: `127.0.0.1:${testPorts.temporal}` });
  return { client: new Client({ connection, namespace: 'default' }), close: () => connection.close() };
}

export function pgUrl(database = 'credits', user = 'zerotrustml'): string {
  return `postgres://${user}@127.0.0.1:${testPorts.postgres}/${database}`;
}

export async function withPg<T>(database: string, fn: (c: PgClient) => Promise<T>, user = 'zerotrustml'): Promise<T> {
  const c = new PgClient({ connectionString: pgUrl(database, user) });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function databases(): Promise<string[]> {
  return withPg('postgres', async (c) => (await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1')).rows.map((r) => r.datname));
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/runbook with the test configuration. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(path.join(projectRoot, 'bin', 'runbook'), args, {
      cwd: projectRoot,
      env: { ...process.env, RUNBOOK_CONFIG: testConfigPath, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}
