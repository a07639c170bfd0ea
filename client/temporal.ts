// One client connection to the configured Temporal namespace.
import { Client, Connection } from '@temporalio/client';
import type { LoadedConfig } from '../config/load';

export async function connectClient(config: LoadedConfig): Promise<{ client: Client; close: () => Promise<void> }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: config.temporal.address, connectTimeout: 5000 });
  } catch (e) {
    throw Object.assign(
      new Error(`cannot reach the Temporal server at ${config.temporal.address}: ${(e as Error).message}. Is the stack up? (npm start, or runbook stack up --detach)`),
      { name: 'ServiceError' },
    );
  }
  const client = new Client({ connection, namespace: config.temporal.namespace });
  return { client, close: () => connection.close() };
}
