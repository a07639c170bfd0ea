// The zome `zerotrustml_credits` of the stand-in: the original zome's credit operations and the
// runbook's operational functions (export_state, import_state, get_all_credits, trigger_gossip,
// get_network_stats), which the real zome does not have ("requires custom zome function").
import { createHash } from 'node:crypto';
import type { Conductor } from './conductor';
import { creditHash, type Credit } from './credits-store';

/** Thrown by zome functions; the conductor answers it as a ribosome_error. */
export class ZomeError extends Error {
  override readonly name = 'ZomeError';
}

const EVENT_TYPES = ['quality_gradient', 'byzantine_detection', 'peer_validation', 'network_contribution'];
const MAX_PAGE = 10_000;

function need<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new ZomeError(`Guest("missing ${what}")`);
  return value;
}

export function validateCredit(c: unknown, where: string): Credit {
  const x = c as Partial<Credit> | null;
  const bad = (why: string): never => {
    throw new ZomeError(`Guest("${where}: ${why}")`);
  };
  if (!x || typeof x !== 'object') return bad('expected a credit object');
  if (typeof x.credit_id !== 'string' || !x.credit_id) bad('credit_id must be a non-empty string');
  if (typeof x.holder !== 'string' || !x.holder) bad('holder must be a non-empty string');
  if (typeof x.amount !== 'number' || !(x.amount >= 0)) bad('amount must be a number >= 0');
  if (typeof x.earned_from !== 'string') bad('earned_from must be a string');
  if (!Array.isArray(x.verifiers)) bad('verifiers must be a list');
  if (typeof x.event_type !== 'string' || !EVENT_TYPES.includes(x.event_type)) bad(`event_type must be one of ${EVENT_TYPES.join(', ')}`);
  if (typeof x.created_at !== 'number') bad('created_at must be a timestamp in microseconds');
  if (typeof x.author !== 'string') bad('author must be a string');
  return {
    credit_id: x.credit_id!,
    holder: x.holder!,
    amount: x.amount!,
    earned_from: x.earned_from!,
    verifiers: x.verifiers!.map(String),
    event_type: x.event_type!,
    created_at: x.created_at!,
    author: x.author!,
  };
}

export function callCreditsZome(conductor: Conductor, zome: string, fn: string, payload: unknown, provenance: string): unknown {
  if (zome !== 'zerotrustml_credits') throw new ZomeError(`ZomeNotFound("${zome}")`);
  const store = conductor.credits;
  const p = (payload ?? {}) as Record<string, unknown>;
  const unsynced = conductor.unsyncedIds();
  const visible = (list: Credit[]): Credit[] => (unsynced.size ? list.filter((c) => !unsynced.has(c.credit_id)) : list);
  const now = Date.now() * 1000;
  switch (fn) {
    case 'create_credit': {
      const holder = need(p.holder as string, 'holder');
      const amount = need(p.amount as number, 'amount');
      const created_at = (p.created_at as number | undefined) ?? now;
      const base = {
        holder,
        amount,
        earned_from: typeof p.earned_from === 'string' ? p.earned_from : '',
        verifiers: ((p.verifiers as string[] | undefined) ?? []).map(String),
        event_type: typeof p.event_type === 'string' ? p.event_type : 'quality_gradient',
        created_at,
        author: provenance,
      };
      const credit_id = createHash('sha256').update(JSON.stringify(base)).update(typeof p.nonce === 'string' ? p.nonce : String(Math.random())).digest('hex');
      const credit = validateCredit({ credit_id, ...base }, 'create_credit');
      store.add('create', [credit], now);
      return credit_id;
    }
    case 'get_balance': {
      const holder = typeof payload === 'string' ? payload : need(p.holder as string, 'holder');
      return visible(store.byHolder(holder)).reduce((sum, c) => sum + c.amount, 0);
    }
    case 'query_credits':
      return visible(store.byHolder(need(p.holder as string, 'holder')));
    case 'get_audit_trail':
      return store.auditTrail(typeof payload === 'string' ? payload : (p.holder as string | undefined));
    case 'get_credit_statistics': {
      const holders = new Set<string>();
      let total = 0;
      for (const c of visible(store.page(undefined, Number.MAX_SAFE_INTEGER))) {
        holders.add(c.holder);
        total += c.amount;
      }
      return { total_credits: store.size - unsynced.size, total_amount: total, holders: holders.size };
    }
    case 'export_state':
    case 'get_all_credits': {
      const limit = Math.min(Number(p.limit ?? MAX_PAGE), MAX_PAGE);
      const all = store.page(p.after as string | undefined, limit);
      const credits = visible(all);
      const last = all[all.length - 1];
      return {
        credits,
        next: all.length === limit && last ? last.credit_id : null,
        total: store.size - unsynced.size,
        ...(fn === 'get_all_credits' ? { hashes: credits.map(creditHash) } : {}),
      };
    }
    case 'import_state': {
      const list = need(p.credits as unknown[], 'credits');
      if (!Array.isArray(list)) throw new ZomeError('Guest("import_state: credits must be a list")');
      // Validate the whole batch before writing any of it: a bad record imports nothing.
      const credits = list.map((c, i) => validateCredit(c, `import_state: credits[${i}]`));
      const imported = store.add('import', credits, now);
      return { imported, skipped: credits.length - imported, total: store.size };
    }
    case 'trigger_gossip':
      conductor.gossipRounds++;
      return { triggered: true, round: conductor.gossipRounds, resynced: conductor.resync(), peers: (conductor.networkStats() as { transport_stats: { connections: unknown[] } }).transport_stats.connections.length };
    case 'get_network_stats': {
      const stats = conductor.networkStats() as { transport_stats: { connections: unknown[] } };
      return { peers: stats.transport_stats.connections.length, credits: store.size, gossip_rounds: conductor.gossipRounds };
    }
    default:
      throw new ZomeError(`Guest("function ${fn} not found in zome ${zome}")`);
  }
}
