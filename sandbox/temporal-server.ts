// Starts the Temporal dev server (SQLite on disk, Web UI, the project's search attributes) and
// waits until its frontend answers. Our own launcher instead of TestWorkflowEnvironment.createLocal,
// which gives up after about 5 s: a cold start on a busy 2-core machine can take longer.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { AlertName, IncidentId, Outcome, RunbookName, Severity, Target, Trigger, searchAttributeRegistrations } from '../common/search-attributes';
import { findTemporalCli, TemporalCliNotFound } from './temporal-cli';
import { readPid, startBackground, type ManagedProcess } from './processes';

export interface TemporalServerOptions {
  dataDir: string;
  address: string;
  uiPort: number;
  namespace: string;
  cli?: string;
  headless?: boolean;
  log?: (line: string) => void;
  processName?: string;
}

export function devServerArgs(o: TemporalServerOptions): string[] {
  const [host, port] = splitAddress(o.address);
  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--db-filename',
    path.join(o.dataDir, 'temporal', 'temporal.sqlite'),
    '--namespace',
    o.namespace,
    '--log-level',
    'warn',
    // A step's activity task comes back with the workflow task that scheduled it, instead of
    // through a poll of the task queue: one round trip less per step (about 10 ms each here).
    // Off by default in the server; the workers take eager tasks unless told not to.
    '--dynamic-config-value',
    'system.enableActivityEagerExecution=true',
  ];
  if (o.headless) args.push('--headless');
  else args.push('--ui-port', String(o.uiPort), '--ui-ip', host);
  for (const [name, type] of searchAttributeRegistrations) args.push('--search-attribute', `${name}=${type}`);
  return args;
}

export function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

/** Starts the server unless one of ours already runs; resolves once the frontend answers. */
export async function startTemporalServer(
  o: TemporalServerOptions,
): Promise<{ process?: ManagedProcess; reused: boolean; uiUrl: string; inProcess?: { stop: () => Promise<void> } }> {
  const name = o.processName ?? 'temporal';
  const [host] = splitAddress(o.address);
  const uiUrl = `http://${host}:${o.uiPort}`;
  if (await isServing(o.address, o.namespace)) {
    await ensureSearchAttributes(o.address, o.namespace);
    return { reused: true, uiUrl };
  }
  const existing = readPid(o.dataDir, name);
  if (existing === undefined) {
    let cli: Awaited<ReturnType<typeof findTemporalCli>>;
    try {
      cli = await findTemporalCli({ configured: o.cli, log: o.log });
    } catch (e) {
      if (!(e instanceof TemporalCliNotFound)) throw e;
      return { reused: false, uiUrl, inProcess: await sdkDownloadedServer(o, e) };
    }
    mkdirSync(path.join(o.dataDir, 'temporal'), { recursive: true });
    const proc = startBackground(o.dataDir, name, [cli.path, ...devServerArgs(o)]);
    await waitForTemporal(o.address, o.namespace, 90_000, proc.logFile);
    await ensureSearchAttributes(o.address, o.namespace);
    return { process: proc, reused: false, uiUrl };
  }
  await waitForTemporal(o.address, o.namespace, 90_000);
  await ensureSearchAttributes(o.address, o.namespace);
  return { reused: true, uiUrl };
}

/** The dev server registers --search-attribute flags only into a new database: a data directory
 * from an older version of this project lacks attributes added since, so add what is missing. */
export async function ensureSearchAttributes(address: string, namespace: string): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    const have = await connection.operatorService.listSearchAttributes({ namespace });
    const known = new Set([...Object.keys(have.customAttributes ?? {}), ...Object.keys(have.systemAttributes ?? {})]);
    const missing = searchAttributeRegistrations.filter(([name]) => !known.has(name));
    if (missing.length === 0) return [];
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map(([name]) => [name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
    });
    return missing.map(([name]) => name);
  } finally {
    await connection.close();
  }
}

export async function isServing(address: string, namespace: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 1000 });
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

export async function waitForTemporal(address: string, namespace: string, timeoutMs: number, logFile?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await isServing(address, namespace)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the Temporal server at ${address} did not answer within ${timeoutMs / 1000} s${logFile ? ` (its log: ${logFile})` : ''}`);
}

/** Last resort: the Temporal SDK downloads the CLI itself (needs internet access, which this
 * project's build machines lack). The server then lives inside this process. */
async function sdkDownloadedServer(o: TemporalServerOptions, notFound: TemporalCliNotFound): Promise<{ stop: () => Promise<void> }> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  log(`${notFound.message}\n  trying the Temporal SDK's own download of the dev server…`);
  const [host, port] = splitAddress(o.address);
  try {
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'cached-download' },
        ip: host,
        port,
        ui: !o.headless,
        uiPort: o.uiPort,
        namespace: o.namespace,
        dbFilename: path.join(o.dataDir, 'temporal', 'temporal.sqlite'),
        searchAttributes: [RunbookName, Trigger, Target, Severity, Outcome, IncidentId, AlertName],
      },
    });
    return { stop: () => env.teardown() };
  } catch (e) {
    throw new TemporalCliNotFound(`${notFound.message}\n  SDK download: ${(e as Error).message}`);
  }
}
