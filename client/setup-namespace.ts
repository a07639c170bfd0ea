// `runbook setup-namespace`: registers the configured namespace (if it is missing) and every search
// attribute the code sets (common/search-attributes.ts is the one list), on any Temporal server:
// the dev server, a self-hosted cluster, a cloud namespace. Idempotent: what exists is left alone
// and reported; a search attribute that exists with another type is an error that names it.
import type { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { searchAttributeRegistrations } from '../common/search-attributes';

const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

export interface SetupResult {
  namespace: { name: string; outcome: 'created' | 'exists' };
  searchAttributes: Array<{ name: string; outcome: 'created' | 'exists' }>;
}

/** gRPC's NOT_FOUND. */
const NOT_FOUND = 5;

function isNotFound(e: unknown): boolean {
  return (e as { code?: number }).code === NOT_FOUND;
}

async function untilFound<T>(call: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (e) {
      if (!isNotFound(e) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export async function setupNamespace(connection: Connection, o: { namespace: string; retentionDays: number }): Promise<SetupResult> {
  let outcome: 'created' | 'exists' = 'exists';
  try {
    await connection.workflowService.describeNamespace({ namespace: o.namespace });
  } catch (e) {
    if (!isNotFound(e)) throw e;
    await connection.workflowService.registerNamespace({ namespace: o.namespace, workflowExecutionRetentionPeriod: msToTs(`${o.retentionDays} days`) });
    outcome = 'created';
  }
  // A new namespace reaches the server's namespace cache after a few seconds (up to about 10 on
  // the dev server): until then the operator service says it does not exist.
  const existing = await untilFound(() => connection.operatorService.listSearchAttributes({ namespace: o.namespace }));
  const known = { ...(existing.customAttributes ?? {}), ...(existing.systemAttributes ?? {}) } as Record<string, temporal.api.enums.v1.IndexedValueType>;
  const searchAttributes: SetupResult['searchAttributes'] = [];
  const missing: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
  for (const [name] of searchAttributeRegistrations) {
    if (name in known) {
      if (known[name] !== KEYWORD) throw new Error(`search attribute ${name} exists in ${o.namespace} with type ${temporal.api.enums.v1.IndexedValueType[known[name]!]}, expected Keyword: remove it or use another namespace`);
      searchAttributes.push({ name, outcome: 'exists' });
    } else {
      missing[name] = KEYWORD;
      searchAttributes.push({ name, outcome: 'created' });
    }
  }
  if (Object.keys(missing).length) await untilFound(() => connection.operatorService.addSearchAttributes({ namespace: o.namespace, searchAttributes: missing }));
  return { namespace: { name: o.namespace, outcome }, searchAttributes };
}
