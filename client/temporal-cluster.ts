// `runbook temporal-cluster up|down|status`: the Temporal server itself on a host of your own,
// with PostgreSQL persistence of its own (never the credits cluster that disaster recovery
// rebuilds), the standalone Web UI server in front of it, optionally TLS on the frontend, and the
// namespace and search attributes registered. `stack up` uses the same code for its cluster mode.
// Teams with a Temporal cluster already (or Temporal Cloud) skip this and run setup-namespace.
import path from 'node:path';
import type { LoadedConfig } from '../config/load';
import { connectClient } from './temporal';
import { setupNamespace } from './setup-namespace';
import { UsageError } from './errors';
import { readPid } from '../sandbox/processes';
import { findTemporalServer, startTemporalCluster, stopTemporalCluster, type ClusterTls } from '../sandbox/temporal-cluster';
import { findTemporalUi, startTemporalUi, stopTemporalUi } from '../sandbox/temporal-ui';
import { splitAddress } from '../sandbox/temporal-server';

export interface ClusterUpOptions {
  /** Where the server, its PostgreSQL and the UI keep their state (default <dataDir>/temporal-cluster). */
  dir?: string;
  /** The frontend's TLS: its certificate and key; with a CA, clients must present a certificate it signed. */
  serverTls?: { certFile: string; keyFile: string; caFile?: string; serverName?: string };
  log?: (l: string) => void;
}

export function clusterDir(config: LoadedConfig, dir?: string): string {
  return dir ? path.resolve(dir) : path.join(config.dataDir, 'temporal-cluster');
}

/** Starts (or finds running) the server and the UI, waits until the frontend answers the calls it
 * will get, and registers the namespace and search attributes. Returns what it started, for a
 * caller that must stop it again if a later step fails. */
export async function clusterUp(config: LoadedConfig, o: ClusterUpOptions = {}): Promise<{ address: string; uiUrl: string; started: Array<[string, () => Promise<unknown>]> }> {
  const log = o.log ?? ((l: string) => console.log(l));
  const dir = clusterDir(config, o.dir);
  const [host, port] = splitAddress(config.temporal.address);
  const bindIP = host === '127.0.0.1' || host === 'localhost' ? undefined : host;
  if (o.serverTls && !config.temporal.tls && !process.env.TEMPORAL_TLS_SERVER_CA_CERT_PATH) {
    throw new UsageError('--tls-cert: the frontend will want TLS, but the configuration has no temporal.tls for this command to connect with (caFile, and certFile/keyFile when --tls-ca asks for client certificates)');
  }
  const tls: ClusterTls | undefined = o.serverTls
    ? { certFile: o.serverTls.certFile, keyFile: o.serverTls.keyFile, caFile: o.serverTls.caFile ?? o.serverTls.certFile, serverName: o.serverTls.serverName ?? host, requireClientAuth: o.serverTls.caFile !== undefined }
    : undefined;
  const started: Array<[string, () => Promise<unknown>]> = [];
  const binaries = await findTemporalServer({ log });
  const c = await startTemporalCluster({ dir, pgPort: config.temporal.clusterPostgresPort, frontendPort: Number(port), bindIP, binaries, tls, log });
  if (c.reused) log(`temporal: the cluster in ${dir} is already running, reused`);
  else started.push(['temporal cluster', () => stopTemporalCluster(dir)]);
  const ui = startTemporalUi({ dir, temporalAddress: c.address, port: config.temporal.uiPort, host: bindIP, namespace: config.temporal.namespace, binary: await findTemporalUi({ log }), tls: config.temporal.tls });
  if (!ui.reused) started.push(['temporal web ui', () => stopTemporalUi(dir)]);
  log(`temporal: Web UI ${ui.reused ? 'already running' : 'started'} on ${ui.url}`);
  // Ready means: the namespace and search attributes can be registered (the schedule API and
  // visibility answer too from then on).
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const { connection, close } = await connectClient(config);
      try {
        const r = await setupNamespace(connection, { namespace: config.temporal.namespace, retentionDays: 30 });
        log(`temporal: namespace ${r.namespace.name} ${r.namespace.outcome}, ${r.searchAttributes.filter((a) => a.outcome === 'created').length} search attribute(s) registered`);
      } finally {
        await close();
      }
      return { address: c.address, uiUrl: ui.url, started };
    } catch (e) {
      if (Date.now() > deadline) {
        for (const [, stop] of started.reverse()) await stop().catch(() => undefined);
        throw new Error(`the Temporal cluster did not answer within 120 s (log: ${path.join(dir, 'run', 'temporal-cluster.log')}): ${(e as Error).message}; stopped what this command started`, { cause: e });
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

export async function clusterDown(config: LoadedConfig, o: { dir?: string; log?: (l: string) => void } = {}): Promise<void> {
  const log = o.log ?? ((l: string) => console.log(l));
  const dir = clusterDir(config, o.dir);
  if (await stopTemporalUi(dir)) log('temporal web ui: stopped');
  const running = readPid(dir, 'temporal-cluster') !== undefined;
  // Its PostgreSQL too, also when the server itself has died.
  await stopTemporalCluster(dir);
  if (running) log('temporal cluster: stopped');
}

export function clusterStatus(config: LoadedConfig, dir?: string): { dir: string; server: number | undefined; ui: number | undefined } {
  const d = clusterDir(config, dir);
  return { dir: d, server: readPid(d, 'temporal-cluster'), ui: readPid(d, 'temporal-ui') };
}
