// The dump step itself, called directly: the file it leaves is the file its manifest describes
// (bytes, SHA-256 of what is on disk, row counts of the dump's snapshot) with every compressor, and
// a dump that fails says why, promptly, and leaves nothing behind.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createDatabaseBackupActivities } from '../../activities/database-backup';
import { buildDeps } from '../../worker/deps';
import { testRoot } from '../support/env';
import { pgUrl, testConfig, withPg } from '../support/stack';

const dir = path.join(testRoot, 'dump-step');

async function dumpActivities(env: NodeJS.ProcessEnv) {
  const config = testConfig({ RUNBOOK_BACKUP_DIR: dir, ...env });
  return createDatabaseBackupActivities(await buildDeps(config));
}

beforeEach(() => rmSync(dir, { recursive: true, force: true }));

test.each(['zstd', 'gzip', 'none'])('with %s: the manifest describes the file on disk, and it verifies', async (compression) => {
  const a = await dumpActivities({ RUNBOOK_SET_backup__compression: compression });
  const { path: file, manifest, reused } = await a.dumpDatabase({ key: '20240101_020000' });
  expect(reused).toBe(false);
  const onDisk = readFileSync(file);
  expect(manifest.bytes).toBe(onDisk.length);
  expect(manifest.sha256).toBe(createHash('sha256').update(onDisk).digest('hex'));
  expect(manifest.verified?.method).toMatch(/sha256/);
  const counts = await withPg('credits', async (c) => Number((await c.query('SELECT count(*) AS n FROM credits')).rows[0].n));
  expect(manifest.tables['public.credits']).toBe(counts);
  // Nothing but the dump and its manifest: no temp file, no expanded copy.
  expect(readdirSync(dir).sort()).toEqual([path.basename(file), path.basename(file) + '.manifest.json']);
  await expect(a.verifyBackup({ path: file })).resolves.toMatchObject({ sha256: manifest.sha256, bytes: onDisk.length });
});

test('a dump that fails names pg_dump and its error, at once, and leaves no file', async () => {
  const a = await dumpActivities({ RUNBOOK_SET_database__url: pgUrl('credits_does_not_exist') });
  const started = Date.now();
  await expect(a.dumpDatabase({ key: '20240102_020000' })).rejects.toThrow(/credits_does_not_exist.*does not exist/);
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(readdirSync(dir)).toEqual([]);
});
