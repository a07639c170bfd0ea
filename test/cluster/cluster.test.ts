// A real Temporal cluster (the server itself, PostgreSQL persistence of its own, schemas set up by
// its SQL tool), with mutual TLS on its frontend, certificates made here by openssl:
// - `runbook setup-namespace` registers the namespace and the search attributes over TLS;
// - the CLI and a worker connect with the certificate; without it, or without TLS at all, they are
//   refused with a message that says what to check;
// - a backup runs to completion on the cluster;
// - the standalone Web UI server, mutual TLS to the frontend, shows the run (its API and a browser);
// - the Temporal server SIGKILLed in the middle of a run and started again: the run completes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { DatabaseBackupResult } from '../../common/runbooks';
import { chromium } from 'playwright-core';
import { findTemporalServer, startTemporalCluster, stopTemporalCluster, type TemporalServerBinaries } from '../../sandbox/temporal-cluster';
import { findTemporalUi, startTemporalUi, stopTemporalUi } from '../../sandbox/temporal-ui';
import { readPid } from '../../sandbox/processes';
import { testRoot } from '../support/env';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { runCli, waitFor, waitForFrontend } from '../support/stack';

const dir = path.join(testRoot, 'temporal-cluster');
const ports = { pg: 55441, frontend: 27400, ui: 28400 };
const address = `127.0.0.1:${ports.frontend}`;
const queue = 'runbooks-test-cluster';
const certs = mkdtempSync(path.join(os.tmpdir(), 'runbook-tls-'));
const f = (n: string): string => path.join(certs, n);
let binaries: TemporalServerBinaries;
let server: ConnectionOptions;
let client: Client;
let connection: Connection;
let worker: WorkerProcess | undefined;

/** A CA, a server certificate for localhost and 127.0.0.1, and a client certificate, by openssl. */
function makeCertificates(): void {
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: certs, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=runbooks test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  writeFileSync(f('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'server.ext', '-out', 'server.pem');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=runbook-operator', '-keyout', 'client.key', '-out', 'client.csr');
  ssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'client.ext', '-out', 'client.pem');
}

const tlsEnv = {
  TEMPORAL_ADDRESS: address,
  TEMPORAL_NAMESPACE: 'default',
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: f('ca.pem'),
  TEMPORAL_TLS_CLIENT_CERT_PATH: f('client.pem'),
  TEMPORAL_TLS_CLIENT_KEY_PATH: f('client.key'),
  TEMPORAL_TLS_SERVER_NAME: 'localhost',
};

async function startServer(): Promise<void> {
  await startTemporalCluster({ dir, pgPort: ports.pg, frontendPort: ports.frontend, binaries, tls: { certFile: f('server.pem'), keyFile: f('server.key'), caFile: f('ca.pem'), serverName: 'localhost', requireClientAuth: true }, log: () => undefined });
  await waitForFrontend('the cluster frontend to answer over TLS', server);
}

beforeAll(async () => {
  binaries = await findTemporalServer({ build: true });
  makeCertificates();
  server = {
    address,
    tls: {
      serverNameOverride: 'localhost',
      serverRootCACertificate: readFileSync(f('ca.pem')),
      clientCertPair: { crt: readFileSync(f('client.pem')), key: readFileSync(f('client.key')) },
    },
  };
  await startServer();
  const setup = await runCli(['setup-namespace', '--retention-days', '1'], tlsEnv);
  if (setup.code !== 0) throw new Error(`setup-namespace failed: ${setup.stderr}`);
  connection = await Connection.connect(server);
  client = new Client({ connection, namespace: 'default' });
}, 900_000);

afterAll(async () => {
  await worker?.stop();
  await connection?.close();
  await stopTemporalUi(dir);
  await stopTemporalCluster(dir);
});

test('setup-namespace registered every search attribute, and a second run changes nothing', async () => {
  const again = await runCli(['setup-namespace', '--json'], tlsEnv);
  expect(again.code).toBe(0);
  const r = JSON.parse(again.stdout) as { namespace: { outcome: string }; searchAttributes: Array<{ outcome: string }> };
  expect(r.namespace.outcome).toBe('exists');
  expect(r.searchAttributes.every((a) => a.outcome === 'exists')).toBe(true);
});

test('without the client certificate, or without TLS, the CLI is refused with what to check', async () => {
  const noCert = await runCli(['runs'], { ...tlsEnv, TEMPORAL_TLS_CLIENT_CERT_PATH: '', TEMPORAL_TLS_CLIENT_KEY_PATH: '' });
  expect(noCert.code).toBe(1);
  expect(noCert.stderr).toMatch(new RegExp(`cannot reach the Temporal server at ${address}: .*; check temporal\\.tls`));
  const plain = await runCli(['runs'], { TEMPORAL_ADDRESS: address });
  expect(plain.code).toBe(1);
  expect(plain.stderr).toMatch(/does it want TLS \(temporal\.tls/);
  const ok = await runCli(['runs'], tlsEnv);
  expect(ok.code).toBe(0);
});

test('a worker with the certificate runs a backup to completion on the cluster', async () => {
  worker = await startWorkerProcess({ taskQueue: queue, env: tlsEnv, server });
  const r = (await client.workflow.execute('databaseBackup', { taskQueue: queue, workflowId: `cluster-backup-${Date.now()}`, args: [{ trigger: 'manual' }] })) as DatabaseBackupResult;
  expect(r.outcome).toBe('succeeded');
  // The run is in the cluster's visibility, with the search attributes setup-namespace registered.
  await waitFor('the run in visibility', async () => {
    for await (const w of client.workflow.list({ query: `RunbookName = "database-backup" AND Outcome = "succeeded"` })) if (w) return true;
    return undefined;
  });
}, 180_000);

test('the standalone Web UI server, over mutual TLS to the frontend, shows the cluster\'s runs: its API and in a browser', async () => {
  worker ??= await startWorkerProcess({ taskQueue: queue, env: tlsEnv, server });
  const id = `cluster-ui-${Date.now()}`;
  const r = (await client.workflow.execute('databaseBackup', { taskQueue: queue, workflowId: id, args: [{ trigger: 'manual' }] })) as DatabaseBackupResult;
  expect(r.outcome).toBe('succeeded');
  const ui = startTemporalUi({
    dir,
    temporalAddress: address,
    port: ports.ui,
    namespace: 'default',
    binary: await findTemporalUi({ build: true }),
    tls: { caFile: f('ca.pem'), certFile: f('client.pem'), keyFile: f('client.key'), serverName: 'localhost' },
  });
  const listed = await waitFor(
    'the run in the UI server\'s workflow list',
    async () => {
      const res = await fetch(`${ui.url}/api/v1/namespaces/default/workflows?query=${encodeURIComponent(`WorkflowId = "${id}"`)}`).catch(() => undefined);
      if (!res?.ok) return undefined;
      const body = (await res.json()) as { executions?: Array<{ execution?: { workflowId?: string }; status?: string }> };
      return body.executions?.find((e) => e.execution?.workflowId === id);
    },
    60_000,
  );
  expect(listed.status).toBe('WORKFLOW_EXECUTION_STATUS_COMPLETED');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${ui.url}/namespaces/default/workflows/${id}`);
    await page.getByText('Completed', { exact: true }).first().waitFor({ timeout: 30_000 });
    await page.getByText(/dumpDatabase/).first().waitFor({ timeout: 30_000 });
  } finally {
    await browser.close();
  }
}, 240_000);

test('the Temporal server SIGKILLed mid-run and started again: the run completes', async () => {
  worker ??= await startWorkerProcess({ taskQueue: queue, env: tlsEnv, server });
  // The server dies while the run is under way (an export step pending); the worker keeps going.
  const handle = await client.workflow.start('dhtExport', { taskQueue: queue, workflowId: `cluster-kill-${Date.now()}`, args: [{ trigger: 'manual', key: '20310101_000000' }] });
  await waitFor('the export to be under way', async () => ((await handle.describe()).raw.pendingActivities?.length ?? 0) > 0 || undefined, 60_000);
  process.kill(readPid(dir, 'temporal-cluster')!, 'SIGKILL');
  await waitFor('the server to be gone', async () => readPid(dir, 'temporal-cluster') === undefined || undefined, 30_000);
  await new Promise((r) => setTimeout(r, 2000));
  await startServer();
  const fresh = await Connection.connect(server);
  try {
    const r = (await new Client({ connection: fresh, namespace: 'default' }).workflow.getHandle(handle.workflowId).result()) as { outcome: string };
    expect(r.outcome).toBe('succeeded');
  } finally {
    await fresh.close();
  }
}, 300_000);

test('runbook temporal-cluster up|status|down runs the server and its UI for a host of your own, mutual TLS on, namespace and attributes registered', async () => {
  const own = path.join(testRoot, 'temporal-cluster-cli');
  const env = {
    ...tlsEnv,
    TEMPORAL_ADDRESS: '127.0.0.1:27480',
    RUNBOOK_SET_temporal__clusterPostgresPort: '55491',
    RUNBOOK_SET_temporal__uiPort: '28480',
  };
  const tlsArgs = ['--tls-cert', f('server.pem'), '--tls-key', f('server.key'), '--tls-ca', f('ca.pem'), '--tls-server-name', 'localhost'];
  try {
    const halfTls = await runCli(['temporal-cluster', 'up', '--dir', own, '--tls-cert', f('server.pem')], env);
    expect(halfTls.code).toBe(2);
    expect(halfTls.stderr).toMatch(/--tls-cert and --tls-key: expected both/);

    const up = await runCli(['temporal-cluster', 'up', '--dir', own, ...tlsArgs], env);
    expect({ code: up.code, stderr: up.stderr }).toMatchObject({ code: 0 });
    expect(up.stdout).toMatch(/temporal cluster: frontend 127\.0\.0\.1:27480 \(TLS\), Web UI http:\/\/127\.0\.0\.1:28480/);
    expect(up.stdout).toMatch(/namespace default created, \d+ search attribute\(s\) registered/);
    expect((await runCli(['temporal-cluster', 'status', '--dir', own], env)).code).toBe(0);
    // The CLI talks to it over mutual TLS; without the client certificate it is refused.
    expect((await runCli(['runs'], env)).code).toBe(0);
    expect((await runCli(['runs'], { ...env, TEMPORAL_TLS_CLIENT_CERT_PATH: '', TEMPORAL_TLS_CLIENT_KEY_PATH: '' })).code).toBe(1);
    expect((await fetch('http://127.0.0.1:28480/api/v1/namespaces/default')).status).toBe(200);
    // A second up finds it running and changes nothing.
    const again = await runCli(['temporal-cluster', 'up', '--dir', own, ...tlsArgs], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already running, reused/);
    expect(again.stdout).toMatch(/namespace default exists, 0 search attribute\(s\) registered/);
  } finally {
    const down = await runCli(['temporal-cluster', 'down', '--dir', own], env);
    expect(down.code).toBe(0);
  }
  const status = await runCli(['temporal-cluster', 'status', '--dir', own], env);
  expect(status.code).toBe(3);
  expect(status.stdout).toMatch(/down\s+temporal server/);
}, 300_000);

test('a cluster frontend port above 32758 is refused with why (the server keeps its ports as smallint)', async () => {
  await expect(startTemporalCluster({ dir: path.join(testRoot, 'never'), pgPort: 55499, frontendPort: 37400, binaries, log: () => undefined })).rejects.toThrow(/expected a frontend port of at most 32758 .* found 37400/);
});
