// The two data faults of the simulator, done once rather than switched on: "corrupt-rows" changes
// and deletes credits rows in PostgreSQL (so the database disagrees with the DHT per credit id and
// per holder); "corrupt-dht" makes this node's DHT view lose credits the database holds (a
// damaged local shard that a gossip round re-syncs). What was changed is kept in corruption.json, so "clear" can put it back
// and the sandbox is consistent again; the data-corruption runbook is what repairs it otherwise.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from 'pg';
import type { ConductorClient } from '../../adapters/conductor';
import { unsyncedPath } from '../conductor/conductor';

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
  dht?: { lost: string[]; conductorDataDir: string };
}

export function corruptionFile(dataDir: string): string {
  return path.join(dataDir, 'corruption.json');
}

function readRecord(dataDir: string): CorruptionRecord {
  mkdirSync(dataDir, { recursive: true });
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

/** This node's DHT view loses `count` credits the database holds (a damaged local shard): reads
 * skip them until a gossip round re-syncs them (the stand-in conductor's unsynced.json). */
export async function corruptDht(conductor: ConductorClient, conductorDataDir: string, dataDir: string, count = 5): Promise<CorruptionRecord['dht']> {
  const record = readRecord(dataDir);
  if (record.dht) throw new Error('corrupt-dht: the DHT is already corrupted (clear first)');
  const page = await conductor.getAllCredits(undefined, 200);
  const lost = page.credits.slice(0, count).map((c) => c.credit_id);
  if (lost.length < count) throw new Error(`corrupt-dht: expected at least ${count} credits on the DHT, found ${lost.length}`);
  writeFileSync(corruptionFile(dataDir), JSON.stringify({ ...record, dht: { lost, conductorDataDir } }));
  writeFileSync(unsyncedPath(conductorDataDir), JSON.stringify(lost));
  return { lost, conductorDataDir };
}

/** Puts the corrupted rows back and the lost DHT credits into view again. */
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
  if (record.dht) {
    rmSync(unsyncedPath(record.dht.conductorDataDir), { force: true });
    done.push(`dht: ${record.dht.lost.length} credits back in the DHT view`);
  }
  // The "blind" fault's bad threshold outlives the process that set it; clear puts it back too.
  const blind = await pg.query(`UPDATE detection_settings SET value = 0.5, updated_at = now(), updated_by = 'fault cleared' WHERE key = 'pogq_threshold' AND updated_by = 'fault: blind'`).catch(() => ({ rowCount: 0 }));
  if (blind.rowCount) done.push('blind: PoGQ threshold back to 0.5');
  await pg.query('COMMIT');
  rmSync(corruptionFile(dataDir), { force: true });
  return done;
}
