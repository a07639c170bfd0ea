// The Temporal server itself, as a cluster of one host with PostgreSQL persistence: what production
// runs, instead of the dev server. Built from Go modules (go.temporal.io/server, which needs a
// newer Go than the machine's: GOTOOLCHAIN fetches it from the module proxy), with a PostgreSQL
// cluster of its own (never the credits cluster that disaster recovery rebuilds), its schemas set
// up by the server's own SQL tool, the sample configuration rewritten for our ports, optionally
// with TLS on the frontend (mutual TLS when a client CA is given).
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { runCommand, which } from '../adapters/process';
import { startCluster, stopCluster } from './postgres-cluster';
import { readPid, startBackground, stopManaged } from './processes';
import { cacheDir } from './temporal-cli';

export const TEMPORAL_SERVER_VERSION = 'v1.32.2';
/** The Go the server module needs (>= 1.26.10; the machine has 1.26.8). */
export const GO_TOOLCHAIN = 'go1.27.3';

export interface TemporalServerBinaries {
  server: string;
  sql: string;
  /** The module's source in the module cache: sample configuration and schemas. */
  moduleDir: string;
}

function goEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: GO_TOOLCHAIN, GOFLAGS: '-mod=mod', ...extra };
}

/** `go install` of packages into dir (GOBIN), with the toolchain the server needs, saying every
 * 30 s that it is still building. */
export async function goInstall(o: { go: string; dir: string; packages: string[]; what: string; minutes: number; log: (l: string) => void }): Promise<void> {
  mkdirSync(o.dir, { recursive: true });
  o.log(`building ${o.what} with ${GO_TOOLCHAIN} into ${o.dir} (about ${o.minutes} minutes on 2 cores, once)`);
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(o.go, ['install', ...o.packages], { env: goEnv({ GOBIN: o.dir }), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    const ticker = setInterval(() => o.log(`  … still building (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new Error(`go install of ${o.what} failed (exit ${code}): ${err.trim()}`));
    });
  });
  o.log(`built in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** Finds the server and its SQL tool in the cache, or builds them there (minutes on 2 cores). */
export async function findTemporalServer(o: { build?: boolean; log?: (l: string) => void } = {}): Promise<TemporalServerBinaries> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const go = await which('go');
  if (!go) throw new Error('go is not on PATH: the Temporal server is built from Go modules');
  const dir = path.join(path.dirname(cacheDir()), `temporal-server-${TEMPORAL_SERVER_VERSION}`);
  const server = path.join(dir, 'server');
  const sql = path.join(dir, 'sql');
  if (!existsSync(server) || !existsSync(sql)) {
    if (o.build === false) throw new Error(`the Temporal server ${TEMPORAL_SERVER_VERSION} is not built in ${dir} (runbook doctor --cluster builds it)`);
    await goInstall({ go, dir, packages: [`go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}`, `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`], what: `the Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL tool`, minutes: 5, log });
  }
  const modcache = (await runCommand([go, 'env', 'GOMODCACHE'], { env: goEnv() })).stdout.trim();
  const moduleDir = path.join(modcache, `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`);
  if (!existsSync(moduleDir)) await runCommand([go, 'mod', 'download', `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`], { env: goEnv() });
  return { server, sql, moduleDir };
}

export interface ClusterTls {
  /** The frontend's certificate and key, and the CA that signed them (and the clients'). */
  certFile: string;
  keyFile: string;
  caFile: string;
  /** The name in the frontend's certificate. */
  serverName: string;
  /** Mutual TLS: clients must present a certificate signed by caFile (the system worker does). */
  requireClientAuth: boolean;
}

export interface ClusterOptions {
  /** Everything of this cluster lives under here: its PostgreSQL, its configuration, its pid. */
  dir: string;
  pgPort: number;
  /** The frontend's gRPC port; the other services take the next ports (frontend + 1 .. + 12). */
  frontendPort: number;
  /** Where the frontend listens: loopback by default, or an address of the host's own. */
  bindIP?: string;
  tls?: ClusterTls;
  log?: (l: string) => void;
}

/** Rewrites the server's sample PostgreSQL configuration for our ports, database and TLS. */
function clusterConfig(sample: string, o: ClusterOptions): string {
  const c = parseYaml(sample) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const store of Object.values(c.persistence.datastores as Record<string, { sql: Record<string, unknown> }>)) {
    store.sql.connectAddr = `127.0.0.1:${o.pgPort}`;
    store.sql.user = 'temporal';
    store.sql.password = '';
  }
  const p = o.frontendPort;
  const ports: Record<string, [number, number]> = { frontend: [p, p + 1], history: [p + 2, p + 3], matching: [p + 4, p + 5], worker: [p + 6, p + 7] };
  for (const [name, [grpc, membership]] of Object.entries(ports)) {
    const rpc = c.services[name].rpc as Record<string, unknown>;
    rpc.grpcPort = grpc;
    rpc.membershipPort = membership;
    if (name === 'frontend') rpc.httpPort = p + 8;
    // Every service on the one address, which membership then announces: the services find each
    // other (and the frontend) by what is broadcast, so a frontend alone on another address would
    // be dialled at loopback by its own server.
    if (o.bindIP) {
      delete rpc.bindOnLocalHost;
      rpc.bindOnIP = o.bindIP;
    }
  }
  if (o.bindIP) (c.global.membership as Record<string, unknown>).broadcastAddress = o.bindIP;
  c.global.pprof = { port: 0 };
  c.global.metrics.prometheus.listenAddress = `127.0.0.1:${p + 9}`;
  // The server's own calls to its frontend (namespace handlers, the system worker) go where it listens.
  c.clusterMetadata.clusterInformation.active.rpcAddress = `${o.bindIP && o.bindIP !== '0.0.0.0' ? o.bindIP : '127.0.0.1'}:${p}`;
  // No archival: it writes world-writable directories under /tmp.
  c.archival = { history: { state: 'disabled' }, visibility: { state: 'disabled' } };
  c.namespaceDefaults = { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } };
  c.dynamicConfigClient = { filepath: path.join(o.dir, 'config', 'dynamicconfig', 'development-sql.yaml'), pollInterval: '10s' };
  if (o.tls) {
    const client = { serverName: o.tls.serverName, rootCaFiles: [o.tls.caFile] };
    c.global.tls = {
      frontend: { server: { certFile: o.tls.certFile, keyFile: o.tls.keyFile, requireClientAuth: o.tls.requireClientAuth, clientCaFiles: [o.tls.caFile] }, client },
      // The server's own system worker talks to the frontend like any client.
      systemWorker: { certFile: o.tls.certFile, keyFile: o.tls.keyFile, client },
    };
  }
  return toYaml(c);
}

async function schemaVersionExists(pgPort: number, database: string): Promise<boolean> {
  const c = new PgClient({ host: '127.0.0.1', port: pgPort, user: 'temporal', database });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'schema_version'")).rowCount === 1;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Starts (or finds running) the cluster; returns its frontend address. Idempotent. */
export async function startTemporalCluster(o: ClusterOptions & { binaries: TemporalServerBinaries }): Promise<{ address: string; reused: boolean }> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  // The server keeps its services' membership ports in a smallint column: a port above 32767
  // makes it die at start with "out of range for type smallint".
  if (o.frontendPort + 9 > 32767) throw new Error(`temporal cluster: expected a frontend port of at most 32758 (it and the next 9 ports are the services' ports, which the server stores as smallint), found ${o.frontendPort}`);
  const address = `${o.bindIP && o.bindIP !== '0.0.0.0' ? o.bindIP : '127.0.0.1'}:${o.frontendPort}`;
  if (readPid(o.dir, 'temporal-cluster') !== undefined) return { address, reused: true };
  mkdirSync(o.dir, { recursive: true });
  // Its own PostgreSQL: the credits cluster is what disaster recovery wipes and rebuilds.
  log(`temporal cluster: PostgreSQL for persistence on port ${o.pgPort}`);
  await startCluster({ dir: path.join(o.dir, 'postgres'), port: o.pgPort, role: 'temporal', database: 'postgres' });
  const env = { ...process.env, SQL_PLUGIN: 'postgres12', SQL_HOST: '127.0.0.1', SQL_PORT: String(o.pgPort), SQL_USER: 'temporal', SQL_PASSWORD: '' };
  for (const [db, schema] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
    if (!(await schemaVersionExists(o.pgPort, db))) {
      log(`temporal cluster: creating the ${db} schema with the server's SQL tool`);
      await runCommand([o.binaries.sql, '--db', db, 'create'], { env }).catch((e: unknown) => {
        if (!/already exists/i.test((e as Error).message)) throw e;
      });
      await runCommand([o.binaries.sql, '--db', db, 'setup-schema', '-v', '0.0'], { env });
    }
    await runCommand([o.binaries.sql, '--db', db, 'update-schema', '-d', path.join(o.binaries.moduleDir, 'schema', 'postgresql', 'v12', schema, 'versioned')], { env });
  }
  const configDir = path.join(o.dir, 'config');
  mkdirSync(path.join(configDir, 'dynamicconfig'), { recursive: true });
  copyFileSync(path.join(o.binaries.moduleDir, 'config', 'dynamicconfig', 'development-sql.yaml'), path.join(configDir, 'dynamicconfig', 'development-sql.yaml'));
  writeFileSync(path.join(configDir, 'development.yaml'), clusterConfig(readFileSync(path.join(o.binaries.moduleDir, 'config', 'development-postgres12.yaml'), 'utf8'), o));
  log(`temporal cluster: starting the server, frontend on ${address}${o.tls ? ` (TLS${o.tls.requireClientAuth ? ', client certificates required' : ''})` : ''}`);
  startBackground(o.dir, 'temporal-cluster', [o.binaries.server, '--root', o.dir, '--config', 'config', '--env', 'development', 'start'], { cwd: o.dir });
  return { address, reused: false };
}

export async function stopTemporalCluster(dir: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await stopManaged(dir, 'temporal-cluster', { signal, graceMs: 15_000 });
  await stopCluster({ dir: path.join(dir, 'postgres') }).catch(() => undefined);
}
