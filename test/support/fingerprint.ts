// A database's fingerprint: per-table content hashes, sequence positions, and the definitions of
// indexes, functions, views, triggers and enum types. Two databases with equal fingerprints hold
// the same data and schema for every purpose these tests care about.
import type { Client } from 'pg';

export interface Fingerprint {
  tables: Record<string, string>;
  rows: Record<string, number>;
  sequences: Record<string, string>;
  indexes: string[];
  functions: string[];
  views: string[];
  triggers: string[];
  enums: Record<string, string[]>;
}

export async function fingerprint(c: Client): Promise<Fingerprint> {
  const tableNames = (
    await c.query<{ t: string }>(
      `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema') ORDER BY 1`,
    )
  ).rows.map((r) => r.t);
  const tables: Record<string, string> = {};
  const rows: Record<string, number> = {};
  for (const t of tableNames) {
    const r = await c.query<{ h: string | null; n: string }>(`SELECT md5(string_agg(x::text, E'\\n' ORDER BY x::text)) AS h, count(*) AS n FROM ${t} x`);
    tables[t] = r.rows[0]?.h ?? 'empty';
    rows[t] = Number(r.rows[0]?.n ?? 0);
  }
  const sequences: Record<string, string> = {};
  for (const s of (await c.query<{ s: string }>(`SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) AS s FROM pg_sequences ORDER BY 1`)).rows) {
    const r = await c.query<{ last_value: string; is_called: boolean }>(`SELECT last_value, is_called FROM ${s.s}`);
    sequences[s.s] = `${r.rows[0]?.last_value}/${r.rows[0]?.is_called}`;
  }
  const list = async (sql: string): Promise<string[]> => (await c.query<{ d: string }>(sql)).rows.map((r) => r.d);
  const enums: Record<string, string[]> = {};
  for (const r of (
    await c.query<{ t: string; labels: string[] }>(
      `SELECT t.typname AS t, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY 1 ORDER BY 1`,
    )
  ).rows) {
    enums[r.t] = r.labels;
  }
  return {
    tables,
    rows,
    sequences,
    indexes: await list(`SELECT indexdef AS d FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`),
    functions: await list(`SELECT pg_get_functiondef(p.oid) AS d FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1`),
    views: await list(`SELECT viewname || ': ' || definition AS d FROM pg_views WHERE schemaname = 'public' ORDER BY 1`),
    triggers: await list(`SELECT pg_get_triggerdef(t.oid) AS d FROM pg_trigger t WHERE NOT t.tgisinternal ORDER BY 1`),
    enums,
  };
}
