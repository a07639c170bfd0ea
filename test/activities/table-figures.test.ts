// The figures a restored copy is checked by (every table's count and row hashes, one fingerprint),
// on shapes the credits schema does not have: odd identifiers, a second schema, a column type
// without a hash function, large rows, an empty table; read in one snapshot.
import { Client as PgClient } from 'pg';
import { tableFigures } from '../../activities/physical-backup';
import { pgUrl, withPg } from '../support/stack';

const db = 'figures_shapes';

const figures = (o?: { content?: boolean }) => withPg(db, (c) => tableFigures(c, o));

async function connect(): Promise<PgClient> {
  const c = new PgClient({ connectionString: pgUrl(db) });
  await c.connect();
  return c;
}

beforeAll(async () => {
  await withPg('credits', async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${db}`);
    await c.query(`CREATE DATABASE ${db}`);
  });
  await withPg(db, async (c) => {
    await c.query(`CREATE SCHEMA "Ledger ""two"""`);
    await c.query(`CREATE TABLE "Ledger ""two"""."Mixed Case; DROP TABLE x" (id int PRIMARY KEY, doc json, at point, note text)`);
    await c.query(`INSERT INTO "Ledger ""two"""."Mixed Case; DROP TABLE x" SELECT g, json_build_object('g', g), point(g, g), repeat('é', g % 50) FROM generate_series(1, 5000) g`);
    await c.query(`CREATE TABLE big (id bigserial PRIMARY KEY, payload text)`);
    await c.query(`INSERT INTO big (payload) SELECT repeat(md5(g::text), 2000) FROM generate_series(1, 300) g`);
    await c.query(`CREATE TABLE plain (id int, v numeric)`);
    await c.query(`INSERT INTO plain SELECT g, g / 7.0 FROM generate_series(1, 200000) g`);
    await c.query(`CREATE TABLE empty_one (id int)`);
  });
});

afterAll(async () => {
  await withPg('credits', (c) => c.query(`DROP DATABASE IF EXISTS ${db}`));
});

test('every table counted and hashed, the same figures on every read', async () => {
  const one = await figures();
  expect(await figures()).toEqual(one);
  expect(one.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  expect(one.rows).toEqual({
    '"Ledger ""two"""."Mixed Case; DROP TABLE x"': 5000,
    'public.big': 300,
    'public.empty_one': 0,
    'public.plain': 200000,
  });
  const counts = await figures({ content: false });
  expect(counts.fingerprint).toMatch(/^counts:/);
  expect(counts.rows).toEqual(one.rows);
});

test('a changed value changes the fingerprint, also in the table hashed by text', async () => {
  const before = await figures();
  await withPg(db, (c) => c.query(`UPDATE "Ledger ""two"""."Mixed Case; DROP TABLE x" SET doc = '{"g": -1}' WHERE id = 4321`));
  const after = await figures();
  expect(after.rows).toEqual(before.rows);
  expect(after.fingerprint).not.toBe(before.fingerprint);
});

test('one snapshot: rows written while the figures are read are in none of the tables', async () => {
  const writer = await connect();
  let stop = false;
  let written = 0;
  const writing = (async () => {
    while (!stop) {
      await writer.query(`INSERT INTO plain VALUES (-1, 0), (-2, 0)`);
      await writer.query(`INSERT INTO "Ledger ""two"""."Mixed Case; DROP TABLE x" (id) VALUES (${-1 - written})`);
      written++;
    }
  })();
  try {
    await new Promise((r) => setTimeout(r, 200));
    const seen = await figures();
    // The two tables were written together (plain first): in one snapshot, plain has at most one
    // write more than the other table, however long the reads took between the two (the quoted
    // schema's table is read first, plain last).
    const extraPlain = (seen.rows['public.plain']! - 200000) / 2;
    const extraOther = seen.rows['"Ledger ""two"""."Mixed Case; DROP TABLE x"']! - 5000;
    expect(extraPlain - extraOther).toBeGreaterThanOrEqual(0);
    expect(extraPlain - extraOther).toBeLessThanOrEqual(1);
  } finally {
    stop = true;
    await writing;
    await writer.end();
  }
  expect(written).toBeGreaterThan(0);
});
