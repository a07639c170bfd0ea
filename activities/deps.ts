// What activities need from the outside world, built once by the worker (worker/main.ts) and
// passed to createActivities. Tests build the same real adapters against the sandbox.
import type { LoadedConfig } from '../worker/config';
import type { Postgres } from '../worker/adapters/postgres';

export interface ActivityDeps {
  config: LoadedConfig;
  postgres: Postgres;
  /** Compressor programs, looked up on PATH by default. */
  programs?: { zstd?: string; gzip?: string };
  now?: () => Date;
}
