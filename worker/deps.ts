// Builds the real adapters from the configuration, once per worker (and per test that calls
// activities directly).
import type { ActivityDeps } from '../activities/deps';
import { postgresBinDir } from '../sandbox/postgres-cluster';
import { ConductorClient } from './adapters/conductor';
import { Postgres } from './adapters/postgres';
import { serviceControl } from './adapters/service-control';
import type { LoadedConfig } from './config';

/** The configured conductor's client; `adminUrl` points it at another one (the DR drill's). */
export function conductorClient(config: LoadedConfig, adminUrl?: string): ConductorClient {
  const c = config.conductor;
  return new ConductorClient({
    adminUrl: adminUrl ?? c.adminUrl,
    origin: c.origin,
    appId: c.appId,
    roleName: c.roleName,
    zomeName: c.zomeName,
    functions: c.functions,
    timeoutMs: c.timeoutSeconds * 1000,
    appBundle: config.conductorAppBundle,
  });
}

export async function buildDeps(config: LoadedConfig, extra: Partial<ActivityDeps> = {}): Promise<ActivityDeps> {
  return {
    config,
    postgres: Postgres.fromUrl(config.database.url, await postgresBinDir(config.database.binDir)),
    conductor: conductorClient(config),
    conductorService: serviceControl(config.conductorService, { timeoutMs: config.conductor.readyTimeoutSeconds * 1000 + 30_000 }),
    ...extra,
  };
}
