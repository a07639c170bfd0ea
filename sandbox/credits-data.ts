// Fills the sandbox's credits database with realistic, deterministic data: nodes with reputations,
// credits by the original integration's rules (reference-facts §1), Byzantine detections and the
// audit trail. Generated inside PostgreSQL (generate_series) so 400 MB takes seconds, not minutes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Client } from 'pg';
import { projectRoot } from '../config/project';

export interface SeedOptions {
  credits: number;
  nodes?: number;
  /** Spread credits over this many days before now. */
  days?: number;
}

export async function hasSchema(client: Client): Promise<boolean> {
  const r = await client.query(`SELECT to_regclass('public.credits') IS NOT NULL AS present`);
  return r.rows[0]?.present === true;
}

export async function createSchema(client: Client): Promise<void> {
  await client.query(readFileSync(path.join(projectRoot, 'sandbox', 'credits-schema.sql'), 'utf8'));
}

/** Adds `credits` credits (and their audit rows and detections) after what is there. */
export async function seedCredits(client: Client, o: SeedOptions): Promise<void> {
  const nodes = o.nodes ?? 80;
  const days = o.days ?? 30;
  await client.query('SELECT setseed(0.42)');
  await client.query(
    `INSERT INTO nodes (node_id, reputation, is_validator, healthy, joined_at, last_seen_at)
     SELECT 'node-' || lpad(i::text, 4, '0'),
            (ARRAY['blacklisted','critical','warning','normal','normal','normal','trusted','trusted','elite']::reputation_level[])[1 + (i * 7) % 9],
            i % 5 = 0, i % 23 <> 0,
            now() - make_interval(days => $2::int + i % 30), now() - make_interval(secs => i % 90)
       FROM generate_series(1, $1::int) AS i
     ON CONFLICT (node_id) DO NOTHING`,
    [nodes, days],
  );
  const start = Number((await client.query('SELECT coalesce(max(id), 0) AS n FROM credits')).rows[0].n);
  // The trigger writes one audit row per credit; in bulk we write them set-wise instead.
  await client.query('ALTER TABLE credits DISABLE TRIGGER credits_audit');
  try {
    await client.query(
      `INSERT INTO credits (credit_id, holder, amount, event_type, earned_from, pogq_score, verifiers, response_ms, created_at)
       SELECT encode(sha256(('credit-' || g.i)::bytea), 'hex'),
              'node-' || lpad((1 + (g.i * 7919) % $2::int)::text, 4, '0'),
              CASE g.kind WHEN 0 THEN round((g.q * 100)::numeric, 2) WHEN 1 THEN 50 WHEN 2 THEN 10 ELSE 1 END,
              (ARRAY['quality_gradient','byzantine_detection','peer_validation','network_contribution']::credit_event_type[])[g.kind + 1],
              (ARRAY['gradient-round-','detector-','validation-','uptime-'])[g.kind + 1] || (g.i % 10000),
              CASE WHEN g.kind = 0 THEN g.q ELSE NULL END,
              ARRAY['node-' || lpad((1 + (g.i * 31) % $2::int)::text, 4, '0'), 'node-' || lpad((1 + (g.i * 37) % $2::int)::text, 4, '0')],
              (40 + (random() * random() * 2500))::int,
              now() - make_interval(secs => ($4::int * 86400.0 * (1 - (g.i - $3::bigint)::float8 / $1::int)))
         FROM (SELECT i, CASE WHEN r < 0.70 THEN 0 WHEN r < 0.75 THEN 1 WHEN r < 0.95 THEN 2 ELSE 3 END AS kind,
                      (0.7 + random() * 0.3)::real AS q
                 FROM (SELECT i, random() AS r FROM generate_series($3::bigint + 1, $3::bigint + $1::int) AS i) s) g`,
      [o.credits, nodes, start, days],
    );
    await client.query(
      `INSERT INTO audit_trail (credit_id, action, actor, details, at)
       SELECT credit_id, 'issued', earned_from, jsonb_build_object('amount', amount, 'event_type', event_type), created_at
         FROM credits WHERE id > $1`,
      [start],
    );
    await client.query(
      `INSERT INTO byzantine_detections (detector_id, detected_id, evidence, detected_at)
       SELECT holder, 'node-' || lpad((1 + (id * 13) % $2::int)::text, 4, '0'),
              jsonb_build_object('pogq_score', round(random()::numeric * 0.5, 3), 'anomaly', 'gradient-divergence', 'round', id % 1000),
              created_at
         FROM credits WHERE id > $1 AND event_type = 'byzantine_detection'`,
      [start, nodes],
    );
  } finally {
    await client.query('ALTER TABLE credits ENABLE TRIGGER credits_audit');
  }
  await client.query('ANALYZE');
}
