// The Temporal Web UI as its own server (ui-server), in front of a cluster's frontend: what a
// production cluster runs beside the server (the dev server has the UI built in). Built from Go
// modules like the server. v2.42.1 is the ui-server the Temporal CLI v1.5.1 embeds: newer ones
// (v2.58.1) need module versions the proxy here does not serve.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { which } from '../adapters/process';
import { readPid, startBackground, stopManaged } from './processes';
import { cacheDir } from './temporal-cli';
import { goInstall } from './temporal-cluster';

export const TEMPORAL_UI_VERSION = 'v2.42.1';

/** Finds the UI server in the cache, or builds it there. */
export async function findTemporalUi(o: { build?: boolean; log?: (l: string) => void } = {}): Promise<string> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const dir = path.join(path.dirname(cacheDir()), `temporal-ui-${TEMPORAL_UI_VERSION}`);
  const server = path.join(dir, 'server');
  if (existsSync(server)) return server;
  if (o.build === false) throw new Error(`the Temporal UI server ${TEMPORAL_UI_VERSION} is not built in ${dir} (runbook doctor --cluster builds it)`);
  const go = await which('go');
  if (!go) throw new Error('go is not on PATH: the Temporal UI server is built from Go modules');
  await goInstall({ go, dir, packages: [`github.com/temporalio/ui-server/v2/cmd/server@${TEMPORAL_UI_VERSION}`], what: `the Temporal UI server ${TEMPORAL_UI_VERSION}`, minutes: 1, log });
  return server;
}

export interface UiOptions {
  /** Its configuration, log and pid live under here. */
  dir: string;
  /** The cluster's frontend (host:port). */
  temporalAddress: string;
  port: number;
  /** Where it listens (default loopback). */
  host?: string;
  namespace: string;
  /** TLS to the frontend, as the client's: the CA, a client certificate and key, the server name. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string; serverName?: string };
  binary: string;
}

/** Starts (or finds running) the UI server; returns its URL. */
export function startTemporalUi(o: UiOptions): { url: string; reused: boolean } {
  const host = o.host ?? '127.0.0.1';
  const url = `http://${host}:${o.port}`;
  if (readPid(o.dir, 'temporal-ui') !== undefined) return { url, reused: true };
  const configDir = path.join(o.dir, 'ui-config');
  mkdirSync(configDir, { recursive: true });
  const config = {
    temporalGrpcAddress: o.temporalAddress,
    host,
    port: o.port,
    enableUi: true,
    defaultNamespace: o.namespace,
    notifyOnNewVersion: false,
    refreshInterval: '1m',
    cors: { cookieInsecure: true, allowOrigins: [url] },
    ...(o.tls
      ? {
          tls: {
            caFile: o.tls.caFile ?? '',
            certFile: o.tls.certFile ?? '',
            keyFile: o.tls.keyFile ?? '',
            serverName: o.tls.serverName ?? '',
            enableHostVerification: true,
          },
        }
      : {}),
  };
  writeFileSync(path.join(configDir, 'production.yaml'), toYaml(config), { mode: 0o600 });
  startBackground(o.dir, 'temporal-ui', [o.binary, '--root', o.dir, '--config', 'ui-config', '--env', 'production', 'start'], { cwd: o.dir });
  return { url, reused: false };
}

export async function stopTemporalUi(dir: string): Promise<boolean> {
  return stopManaged(dir, 'temporal-ui', { signal: 'SIGTERM', graceMs: 5_000 });
}
