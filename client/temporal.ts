// One client connection to the configured Temporal namespace.
import { Client, Connection } from '@temporalio/client';
import { connectionFailure, temporalConnectionOptions } from '../adapters/temporal-connection';
import type { LoadedConfig } from '../config/load';

export async function connectClient(config: LoadedConfig): Promise<{ client: Client; connection: Connection; close: () => Promise<void> }> {
  const options = temporalConnectionOptions(config);
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...options, connectTimeout: 5000 });
    // Connecting is lazy about some failures (a refused certificate shows at the first call).
    await connection.workflowService.getSystemInfo({});
  } catch (e) {
    throw connectionFailure(options, e);
  }
  const client = new Client({ connection, namespace: config.temporal.namespace });
  return { client, connection, close: () => connection.close() };
}
