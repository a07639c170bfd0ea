// What activities need from the outside world, built once by the worker (worker/main.ts) and
// passed to createActivities. Tests build the same real adapters against the sandbox.
import type { LoadedConfig } from '../config/load';
import type { ConductorClient } from '../adapters/conductor';
import type { Postgres } from '../adapters/postgres';
import type { ServiceControl } from '../adapters/service-control';

export interface ActivityDeps {
  config: LoadedConfig;
  postgres: Postgres;
  /** Talks to the conductor through @holochain/client. */
  conductor: ConductorClient;
  /** Starts, stops and wipes the conductor process (systemd unit or commands). */
  conductorService: ServiceControl;
  /** Compressor programs, looked up on PATH by default. */
  programs?: { zstd?: string; gzip?: string };
  now?: () => Date;
}
