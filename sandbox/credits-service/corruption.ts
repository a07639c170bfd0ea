// The two data faults of the simulator, done once rather than switched on: "corrupt-rows" changes
// and deletes credits rows in PostgreSQL (so the database disagrees with the DHT per credit id and
// per holder); "corrupt-dht" writes credits to the DHT that the database never got (a write that
// reached one store only). What was changed is kept in corruption.json, so "clear" can put it back
// and the sandbox is consistent again; the data-corruption runbook is what repairs it otherwise.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from 'pg';
import type { ConductorClient } from '../../worker/adapters/conductor';

interface CreditRow {
  id: string;
  credit_id: string;
  holder: string;
  amount: string;
  event_type: string;
  earned_from: string;
  pogq_score: number | null;
  verifiers: string[];
  response_ms: number;
  created_at: string;
}

export interface CorruptionRecord {
  rows?: { changed: CreditRow[]; deleted: CreditRow[] };
  dht?: { orphans: Array<{ credit_id: string; holder: string; amount: number; earned_from: string; event_type: string; created_at: number }> };
}

export function corruptionFile(dataDir: string): string {
  return path.join(dataDir, 'corruption.json');
}

function readRecord(dataDir: string): CorruptionRecord {
  const f = corruptionFile(dataDir);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as CorruptionRecord) : {};
}

/** Changes the amount of `count` credits and deletes `count` others (only credits the DHT holds). */
export async function corruptRows(pg: Client, conductor: ConductorClient, dataDir: string, count = 5): Promise<CorruptionRecord['rows']> {
  const record = readRecord(dataDir);
  if (record.rows) throw new Error('corrupt-rows: the rows are already corrupted (clear first)');
  const inDht = (await conductor.getAllCredits(undefined, 2 * count + 200)).credits.map((c) => c.credit_id);
  const rows = (
    await pg.query<CreditRow>(
      `SELECT id::text, credit_id, holder, amount::text, event_type::text, earned_from, pogq_score, verifiers, response_ms, created_at::text
         FROM credits WHERE credit_id = ANY($1) ORDER BY id LIMIT $2`,
      [inDht, 2 * count],
    )
  ).rows;
  if (rows.length < 2 * count) throw new Error(`corrupt-rows: expected ${2 * count} credits present in both stores, found ${rows.length}`);
  const changed = rows.slice(0, count);
  const deleted = rows.slice(count);
  const done = { changed, deleted };
  // The record is written first: an interrupted corruption can still be cleared.
  writeFileSync(corruptionFile(dataDir), JSON.stringify({ ...record, rows: done }));
  await pg.query('BEGIN');
  await pg.query('UPDATE credits SET amount = amount + 1000 WHERE credit_id = ANY($1)', [changed.map((r) => r.credit_id)]);
  await pg.query('DELETE FROM credits WHERE credit_id = ANY($1)', [deleted.map((r) => r.credit_id)]);
  await pg.query('COMMIT');
  return done;
}

/** Writes `count` credits to the DHT only. */
export async function corruptDht(conductor: ConductorClient, dataDir: string, count = 5): Promise<CorruptionRecord['dht']> {
  const record = readRecord(dataDir);
  if (record.dht) throw new Error('corrupt-dht: the DHT is already corrupted (clear first)');
  const now = Date.now() * 1000;
  const orphans = Array.from({ length: count }, (_, i) => ({
    credit_id: `orphan-${now}-${i}`,
    holder: 'node-0001',
    amount: 10,
    earned_from: `orphan-${i}`,
    event_type: 'peer_validation',
    created_at: now,
  }));
  writeFileSync(corruptionFile(dataDir), JSON.stringify({ ...record, dht: { orphans } }));
  await conductor.importState(orphans.map((o) => ({ ...o, verifiers: [], author: 'corrupt-dht' })));
  return { orphans };
}

/** Puts the corrupted rows back and gives the orphan DHT credits their database rows. */
export async function clearCorruption(pg: Client, dataDir: string): Promise<string[]> {
  const record = readRecord(dataDir);
  const done: string[] = [];
  await pg.query('BEGIN');
  for (const r of record.rows?.changed ?? []) await pg.query('UPDATE credits SET amount = $2 WHERE credit_id = $1', [r.credit_id, r.amount]);
  for (const r of record.rows?.deleted ?? []) {
    await pg.query(
      `INSERT INTO credits (id, credit_id, holder, amount, event_type, earned_from, pogq_score, verifiers, response_ms, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (credit_id) DO NOTHING`,
      [r.id, r.credit_id, r.holder, r.amount, r.event_type, r.earned_from, r.pogq_score, r.verifiers, r.response_ms, r.created_at],
    );
  }
  if (record.rows) done.push(`rows: ${record.rows.changed.length} amounts put back, ${record.rows.deleted.length} rows reinserted`);
  for (const o of record.dht?.orphans ?? []) {
    await pg.query(
      `INSERT INTO credits (credit_id, holder, amount, event_type, earned_from, verifiers, response_ms, created_at)
       VALUES ($1, $2, $3, $4, $5, '{}', 0, to_timestamp($6 / 1000000.0)) ON CONFLICT (credit_id) DO NOTHING`,
      [o.credit_id, o.holder, o.amount, o.event_type, o.earned_from, o.created_at],
    );
  }
  if (record.dht) done.push(`dht: ${record.dht.orphans.length} DHT-only credits given their database rows`);
  await pg.query('COMMIT');
  rmSync(corruptionFile(dataDir), { force: true });
  return done;
}
