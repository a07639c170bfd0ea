// Retention deletes exactly what it should: backups older than the retention, never the newest
// verified one, never a file without our manifest, and nothing when this run's backup failed.
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../activities';
import { MANIFEST_FORMAT, type BackupManifest } from '../../common/backup-manifest';
import { buildDeps } from '../../worker/deps';
import { testRoot } from '../support/env';
import { testConfig } from '../support/stack';

const dir = path.join(testRoot, 'retention');
const day = 86_400_000;
const now = new Date('2025-10-31T02:30:00Z');

async function activities() {
  const config = { ...testConfig(), backupDirectory: dir };
  return createActivities(await buildDeps(config, { now: () => now }));
}

/** A backup of ours: dump + manifest, with the dump's time set `ageDays` before `now`. */
function fakeBackup(key: string, ageDays: number, o: { verified?: boolean; database?: string } = {}): string {
  const file = `${o.database ?? 'credits'}_${key}.dump.zst`;
  writeFileSync(path.join(dir, file), `dump ${key}`);
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    key,
    database: o.database ?? 'credits',
    file,
    compression: 'zstd',
    bytes: 0,
    sha256: '',
    serverVersion: '15',
    pgDumpVersion: '15',
    startedAt: '',
    finishedAt: '',
    durationMs: 0,
    tables: {},
    verified: o.verified === false ? undefined : { at: '', method: 'test', durationMs: 0 },
  };
  writeFileSync(path.join(dir, file + '.manifest.json'), JSON.stringify(manifest));
  const t = new Date(now.getTime() - ageDays * day);
  utimesSync(path.join(dir, file), t, t);
  return file;
}

function foreign(name: string, ageDays: number): void {
  writeFileSync(path.join(dir, name), 'not ours');
  const t = new Date(now.getTime() - ageDays * day);
  utimesSync(path.join(dir, name), t, t);
}

beforeEach(() => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
});

test('deletes backups older than the retention and keeps the rest', async () => {
  const today = fakeBackup('20251031_020000', 0.02);
  const recent = fakeBackup('20251010_020000', 21);
  const edge = fakeBackup('20251002_020000', 29.9);
  const old1 = fakeBackup('20250930_020000', 31);
  const old2 = fakeBackup('20250901_020000', 60);
  const unverifiedOld = fakeBackup('20250915_020000', 46, { verified: false });
  const otherDb = fakeBackup('20250801_020000', 90, { database: 'other' });
  foreign('credits_20250101_020000.sql.gz', 300);
  foreign('notes.txt', 300);

  const result = await (await activities()).applyBackupRetention({ currentKey: '20251031_020000', retentionDays: 30 });
  expect(result.deleted.sort()).toEqual([old1, old2, unverifiedOld].sort());
  expect(result.kept.sort()).toEqual([today, recent, edge].sort());
  expect(result.ignored.sort()).toEqual(['credits_20250101_020000.sql.gz', 'notes.txt', otherDb].sort());
  expect(readdirSync(dir).sort()).toEqual(
    [today, recent, edge, otherDb, 'credits_20250101_020000.sql.gz', 'notes.txt']
      .flatMap((f) => (f.endsWith('.zst') ? [f, f + '.manifest.json'] : [f]))
      .sort(),
  );
});

test('never deletes the newest verified backup, however old', async () => {
  const current = fakeBackup('20250901_020000', 60);
  const older = fakeBackup('20250801_020000', 91);
  const result = await (await activities()).applyBackupRetention({ currentKey: '20250901_020000', retentionDays: 30 });
  expect(result.kept).toEqual([current]);
  expect(result.deleted).toEqual([older]);
  expect(existsSync(path.join(dir, current))).toBe(true);
});

test('deletes nothing when this run\'s backup is missing or not verified', async () => {
  const old = fakeBackup('20250901_020000', 60);
  fakeBackup('20251031_020000', 0, { verified: false });
  const a = await activities();
  await expect(a.applyBackupRetention({ currentKey: '20251031_020000', retentionDays: 30 })).rejects.toThrow(/deletes nothing.*not verified/);
  await expect(a.applyBackupRetention({ currentKey: '20251101_020000', retentionDays: 30 })).rejects.toThrow(/deletes nothing.*missing/);
  expect(existsSync(path.join(dir, old))).toBe(true);
});

test('a dry-run reports what would go and deletes nothing', async () => {
  fakeBackup('20251031_020000', 0);
  const old = fakeBackup('20250901_020000', 60);
  const before = readdirSync(dir).sort();
  const result = await (await activities()).applyBackupRetention({ currentKey: '20251031_020000', retentionDays: 30, dryRun: true });
  expect(result.deleted).toEqual([old]);
  expect(result.dryRun).toBe(true);
  expect(readdirSync(dir).sort()).toEqual(before);
});
