// Builds the real adapters from the configuration, once per worker (and per test that calls
// activities directly).
import type { ActivityDeps } from '../activities/deps';
import { conductorClient } from '../adapters/conductor';
import { Postgres } from '../adapters/postgres';
import { postgresToolsDir } from '../adapters/postgres-tools';
import { serviceControl } from '../adapters/service-control';
import type { LoadedConfig } from '../config/load';


export async function buildDeps(config: LoadedConfig, extra: Partial<ActivityDeps> = {}): Promise<ActivityDeps> {
  return {
    config,
    postgres: Postgres.fromUrl(config.database.url, await postgresToolsDir(config.database.binDir)),
    conductor: conductorClient(config),
    conductorService: serviceControl(config.conductorService, { timeoutMs: config.conductor.readyTimeoutSeconds * 1000 + 30_000 }),
    ...extra,
  };
}
