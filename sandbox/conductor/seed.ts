// Fills the stand-in conductor's DHT with the credits the sandbox's PostgreSQL database holds
// (same credit ids and amounts), so the DHT and the database agree until a fault says otherwise.
import type { Client } from 'pg';
import type { ConductorClient } from '../../adapters/conductor';

export async function seedConductorFromDatabase(pg: Client, conductor: ConductorClient, o: { limit?: number; batch?: number } = {}): Promise<number> {
  const limit = o.limit ?? 1_000_000;
  const batch = o.batch ?? 2000;
  const rows = await pg.query<{ credit_id: string; holder: string; amount: string; earned_from: string; verifiers: string[]; event_type: string; created_us: string }>(
    `SELECT credit_id, holder, amount::text, earned_from, verifiers, event_type::text,
            (extract(epoch FROM created_at) * 1000000)::bigint::text AS created_us
       FROM credits ORDER BY id LIMIT $1`,
    [limit],
  );
  let sent = 0;
  for (let i = 0; i < rows.rows.length; i += batch) {
    const credits = rows.rows.slice(i, i + batch).map((r) => ({
      credit_id: r.credit_id,
      holder: r.holder,
      amount: Number(r.amount),
      earned_from: r.earned_from,
      verifiers: r.verifiers,
      event_type: r.event_type,
      created_at: Number(r.created_us),
      author: 'sandbox-seed',
    }));
    await conductor.importState(credits);
    sent += credits.length;
  }
  return sent;
}
