// What test files use to reach the test stack: a Temporal client, the config, PostgreSQL, the CLI.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Client, Connection, type ConnectionOptions, type WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { Client as PgClient } from 'pg';
import { readStatusReport } from '../../activities/status-report';
import { loadConfig, type LoadedConfig } from '../../config/load';
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

/** Waits until the application's status report (read as the runbooks read it) has a p99 over the
 * runbooks' warning (5 s): a run started then judges the application slow whichever figures it
 * reads, its own short look (which may see no slow event) or the report's. */
export async function waitForAppSlow(timeoutMs = 60_000): Promise<void> {
  await waitFor('the status report to show the slow events', async () => ((await readStatusReport(testConfig())).report?.metrics.performance.p99_response_ms ?? 0) > 5000, timeoutMs);
}

/** Decides on the plan a run waits on, as `runbook approve` does: the pending plan's SHA-256 goes
 * with the decision. */
export async function decide(handle: WorkflowHandle, by: string, o: { approved?: boolean; reason?: string } = {}): Promise<{ approved: boolean; by: string; remaining: number }> {
  const progress = await handle.query<{ approval?: { planHash: string } }>('progress');
  if (!progress.approval) throw new Error('the run is not waiting for an approval');
  return handle.executeUpdate<{ approved: boolean; by: string; remaining: number }, [unknown]>('approval', { args: [{ approved: o.approved ?? true, by, reason: o.reason, planHash: progress.approval.planHash }] });
}

/** Activity steps of a run: name, attempt, how long it ran, how long from its scheduling (the
 * queue's wait included; bench/ prints it), whether it timed out. */
export async function activitySteps(handle: WorkflowHandle): Promise<Array<{ name: string; attempt: number; ms: number; fromScheduledMs: number; timedOut: boolean }>> {
  const events = (await handle.fetchHistory()).events ?? [];
  const byId = new Map<number, temporal.api.history.v1.IHistoryEvent>();
  for (const e of events) byId.set(Number(e.eventId), e);
  const ms = (t: temporal.api.history.v1.IHistoryEvent['eventTime']): number => Number(t?.seconds ?? 0) * 1000 + Math.round((t?.nanos ?? 0) / 1e6);
  return events.flatMap((e) => {
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    if (!done) return [];
    const scheduled = byId.get(Number(done.scheduledEventId))?.activityTaskScheduledEventAttributes;
    const started = byId.get(Number((done as { startedEventId?: unknown }).startedEventId));
    return [
      {
        name: scheduled?.activityType?.name ?? '?',
        attempt: started?.activityTaskStartedEventAttributes?.attempt ?? 0,
        ms: ms(e.eventTime) - ms(started?.eventTime),
        fromScheduledMs: ms(e.eventTime) - ms(byId.get(Number(done.scheduledEventId))?.eventTime),
        timedOut: Boolean(e.activityTaskTimedOutEventAttributes),
      },
    ];
  });
}

/** Waits until a Temporal frontend answers (a TLS handshake included when the options carry it). */
export async function waitForFrontend(what: string, options: ConnectionOptions, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    what,
    async () => {
      try {
        const c = await Connection.connect({ ...options, connectTimeout: 2000 });
        await c.workflowService.getSystemInfo({});
        await c.close();
        return true;
      } catch {
        return undefined;
      }
    },
    timeoutMs,
  );
}

/** Each activity attempt a run recorded: its type, the queue it was scheduled on, the attempt
 * that completed it, and the worker that ran it. */
export async function stepsOf(handle: WorkflowHandle): Promise<Array<{ name: string; queue: string; worker: string; attempt: number }>> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [Number(e.eventId), e.activityTaskScheduledEventAttributes!]));
  return events.flatMap((e) => {
    const s = e.activityTaskStartedEventAttributes;
    if (!s) return [];
    const a = scheduled.get(Number(s.scheduledEventId));
    return [{ name: a?.activityType?.name ?? '?', queue: a?.taskQueue?.name ?? '?', worker: s.identity ?? '?', attempt: s.attempt ?? 1 }];
  });
}
