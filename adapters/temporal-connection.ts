// How the client, the worker and the receiver reach the Temporal server: its address, TLS (the
// server's CA, a client certificate and key, a server name) and an API key, from the
// configuration or the environment in the SDK's conventions (TEMPORAL_TLS_*, TEMPORAL_API_KEY).
// The key may be a secret reference (${env:NAME}, ${file:PATH}), resolved here.
import { readFileSync } from 'node:fs';
import type { LoadedConfig } from '../config/load';
import { resolveSecretRefs } from './secrets';

export interface TemporalConnectionOptions {
  address: string;
  tls?: boolean | { serverNameOverride?: string; serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer } };
  apiKey?: string;
}

/** Thrown when a configured certificate or key cannot be read: says which setting and file. */
export class TemporalTlsFileMissing extends Error {
  override readonly name = 'ConfigError';
}

function read(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new TemporalTlsFileMissing(`temporal.tls.${setting}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export function temporalConnectionOptions(config: LoadedConfig): TemporalConnectionOptions {
  const t = config.temporal;
  const apiKey = t.apiKey ? resolveSecretRefs(t.apiKey) : undefined;
  if (!t.tls) return { address: t.address, ...(apiKey ? { apiKey, tls: true } : {}) };
  if ((t.tls.certFile === undefined) !== (t.tls.keyFile === undefined)) {
    throw new TemporalTlsFileMissing('temporal.tls: expected certFile and keyFile together (a client certificate needs its key), found only one');
  }
  return {
    address: t.address,
    tls: {
      ...(t.tls.serverName ? { serverNameOverride: t.tls.serverName } : {}),
      ...(t.tls.caFile ? { serverRootCACertificate: read('caFile', t.tls.caFile) } : {}),
      ...(t.tls.certFile && t.tls.keyFile ? { clientCertPair: { crt: read('certFile', t.tls.certFile), key: read('keyFile', t.tls.keyFile) } } : {}),
    },
    ...(apiKey ? { apiKey } : {}),
  };
}

/** The error to throw when connecting with `options` failed: what was tried and what to check. */
export function connectionFailure(options: { address: string; tls?: unknown }, cause: unknown): Error {
  const tls = options.tls !== undefined && options.tls !== false;
  return Object.assign(new Error(explainConnectionFailure(options.address, tls, (cause as Error).message)), { name: 'ServiceError' });
}

/** Why a connection failed, in words an operator can act on (a TLS handshake says little). */
function explainConnectionFailure(address: string, tls: boolean, message: string): string {
  const hint = tls
    ? 'check temporal.tls (the server CA in caFile, the client certificate and key, serverName matching the server certificate)'
    : 'is the server up (npm start, or runbook stack up --detach), and does it want TLS (temporal.tls, or TEMPORAL_TLS_* in the environment)?';
  return `cannot reach the Temporal server at ${address}: ${message}; ${hint}`;
}
