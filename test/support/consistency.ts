// Brings the test stack's DHT and database into agreement, so an incident test starts from a
// consistent system whatever earlier suites did (restores bring back older rows; the simulator
// writes to both).
import { rmSync } from 'node:fs';
import { unsyncedPath } from '../../sandbox/conductor/conductor';
import { conductorClient } from '../../adapters/conductor';
import { testConfig, withPg } from './stack';

export async function makeConsistent(): Promise<{ imported: number; inserted: number; updated: number }> {
  const config = testConfig();
  rmSync(unsyncedPath(config.conductorDataDir), { force: true });
  const conductor = conductorClient(config);
  try {
    const dht = new Map<string, { holder: string; amount: number; earned_from: string; event_type: string; created_at: number }>();
    for await (const c of conductor.allCredits()) dht.set(c.credit_id, c as never);
    return await withPg('credits', async (pg) => {
      const rows = (
        await pg.query<{ credit_id: string; holder: string; amount: string; earned_from: string; event_type: string; verifiers: string[]; us: string }>(
          `SELECT credit_id, holder, amount::text, earned_from, event_type::text, verifiers, (extract(epoch FROM created_at) * 1000000)::bigint::text AS us FROM credits`,
        )
      ).rows;
      const dbIds = new Set(rows.map((r) => r.credit_id));
      const toImport = rows.filter((r) => !dht.has(r.credit_id));
      for (let i = 0; i < toImport.length; i += 5000) {
        await conductor.importState(
          toImport.slice(i, i + 5000).map((r) => ({ credit_id: r.credit_id, holder: r.holder, amount: Number(r.amount), earned_from: r.earned_from, verifiers: r.verifiers, event_type: r.event_type, created_at: Number(r.us), author: 'test-consistency' })),
        );
      }
      let updated = 0;
      for (const r of rows) {
        const d = dht.get(r.credit_id);
        if (d && (d.holder !== r.holder || Math.abs(d.amount - Number(r.amount)) > 0.005)) {
          await pg.query('UPDATE credits SET holder = $2, amount = $3 WHERE credit_id = $1', [r.credit_id, d.holder, d.amount]);
          updated++;
        }
      }
      let inserted = 0;
      for (const [id, d] of dht) {
        if (dbIds.has(id)) continue;
        await pg.query(
          `INSERT INTO credits (credit_id, holder, amount, event_type, earned_from, verifiers, response_ms, created_at) VALUES ($1, $2, $3, $4, $5, '{}', 0, to_timestamp($6 / 1000000.0)) ON CONFLICT (credit_id) DO NOTHING`,
          [id, d.holder, d.amount, d.event_type, d.earned_from, d.created_at],
        );
        inserted++;
      }
      return { imported: toImport.length, inserted, updated };
    });
  } finally {
    await conductor.close();
  }
}
