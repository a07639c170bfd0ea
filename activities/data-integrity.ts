// The data-corruption checks: the DHT and the database compared per credit id and per holder, and
// the database's own integrity (recent counts, the amount and holder constraints checked by
// queries rather than by re-validating constraints, which would lock the tables the application
// writes, and audit-trail gaps). Differences go to
// a reconciliation file in full; the workflow history carries counts and samples only.
import type { ActivityDeps } from './deps';
import { saveReport } from './report-files';

export interface StoreComparison {
  dhtCredits: number;
  dbCredits: number;
  /** On the DHT, missing from the database (rows lost or never written). */
  missingInDb: number;
  /** In the database, missing from this node's DHT view (a DHT inconsistency). */
  missingInDht: number;
  /** Same credit id, different amount or holder (a changed row). */
  mismatched: number;
  holdersDiffering: number;
  samples: { missingInDb: string[]; missingInDht: string[]; mismatched: Array<{ creditId: string; db: string; dht: string }>; holders: Array<{ holder: string; db: number; dht: number }> };
  consistent: boolean;
  /** Where the full differences were written, when there were any. */
  file?: string;
}

export interface DatabaseIntegrity {
  creditsLastHour: number;
  negativeAmounts: number;
  unknownHolders: number;
  /** Credits without their "issued" audit row. */
  auditGaps: number;
  ok: boolean;
  findings: string[];
}

const SAMPLE = 20;

export function createDataIntegrityActivities(deps: ActivityDeps) {
  async function compareStores(input: { label: string }): Promise<StoreComparison> {
    const dht = new Map<string, { holder: string; amount: number }>();
    for await (const c of deps.conductor.allCredits()) dht.set(c.credit_id, { holder: String(c.holder), amount: Number(c.amount) });
    const rows = await deps.postgres.withClient(undefined, async (c) => (await c.query<{ credit_id: string; holder: string; amount: string }>('SELECT credit_id, holder, amount::text FROM credits')).rows);
    const missingInDht: string[] = [];
    const mismatched: Array<{ creditId: string; db: string; dht: string }> = [];
    const dbIds = new Set<string>();
    const dbBalance = new Map<string, number>();
    const dhtBalance = new Map<string, number>();
    for (const r of rows) {
      dbIds.add(r.credit_id);
      const amount = Number(r.amount);
      dbBalance.set(r.holder, (dbBalance.get(r.holder) ?? 0) + amount);
      const d = dht.get(r.credit_id);
      if (!d) missingInDht.push(r.credit_id);
      else if (d.holder !== r.holder || Math.abs(d.amount - amount) > 0.005) mismatched.push({ creditId: r.credit_id, db: `${r.holder} ${amount}`, dht: `${d.holder} ${d.amount}` });
    }
    const missingInDb: string[] = [];
    for (const [id, d] of dht) {
      dhtBalance.set(d.holder, (dhtBalance.get(d.holder) ?? 0) + d.amount);
      if (!dbIds.has(id)) missingInDb.push(id);
    }
    const holders: Array<{ holder: string; db: number; dht: number }> = [];
    for (const h of new Set([...dbBalance.keys(), ...dhtBalance.keys()])) {
      const a = Math.round((dbBalance.get(h) ?? 0) * 100) / 100;
      const b = Math.round((dhtBalance.get(h) ?? 0) * 100) / 100;
      if (Math.abs(a - b) > 0.005) holders.push({ holder: h, db: a, dht: b });
    }
    const consistent = missingInDb.length + missingInDht.length + mismatched.length === 0;
    let file: string | undefined;
    if (!consistent) {
      file = await saveReport(deps.config.reportsDirectory, `differences-${input.label}.json`, JSON.stringify({ at: new Date().toISOString(), missingInDb, missingInDht, mismatched, holders }, null, 2));
    }
    return {
      dhtCredits: dht.size,
      dbCredits: rows.length,
      missingInDb: missingInDb.length,
      missingInDht: missingInDht.length,
      mismatched: mismatched.length,
      holdersDiffering: holders.length,
      samples: { missingInDb: missingInDb.slice(0, SAMPLE), missingInDht: missingInDht.slice(0, SAMPLE), mismatched: mismatched.slice(0, SAMPLE), holders: holders.slice(0, SAMPLE) },
      consistent,
      file,
    };
  }

  async function databaseIntegrity(): Promise<DatabaseIntegrity> {
    return deps.postgres.withClient(undefined, async (c) => {
      const n = async (sql: string): Promise<number> => Number((await c.query<{ n: string }>(sql)).rows[0]!.n);
      const creditsLastHour = await n(`SELECT count(*) AS n FROM credits WHERE created_at > now() - interval '1 hour'`);
      const negativeAmounts = await n('SELECT count(*) AS n FROM credits WHERE amount < 0');
      const unknownHolders = await n('SELECT count(*) AS n FROM credits c WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = c.holder)');
      const auditGaps = await n(`SELECT count(*) AS n FROM credits c WHERE NOT EXISTS (SELECT 1 FROM audit_trail a WHERE a.credit_id = c.credit_id AND a.action = 'issued')`);
      const findings = [
        `${creditsLastHour} credits issued in the last hour`,
        ...(negativeAmounts ? [`${negativeAmounts} credits with a negative amount`] : []),
        ...(unknownHolders ? [`${unknownHolders} credits held by unknown nodes`] : []),
        ...(auditGaps ? [`${auditGaps} credits without their "issued" audit row`] : []),
      ];
      return { creditsLastHour, negativeAmounts, unknownHolders, auditGaps, ok: negativeAmounts + unknownHolders === 0, findings };
    });
  }

  return { compareStores, databaseIntegrity };
}
