// Retention for files that carry a manifest of ours (database backups, DHT exports): delete those
// older than the retention, but never the newest verified unflagged one (a flagged backup, of a
// wiped database say, does not count as the one to keep), never a file without our manifest,
// never another target's, and nothing at all unless this run's file is verified or the retention
// is not a whole number of days of at least one.
import { rm } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/activity';
import { Failure } from '../common/failures';
import type { RetentionResult } from '../common/runbooks';
import { fsyncDir, listManifested, type ManifestBase } from './backup-files';

export async function applyRetention<M extends ManifestBase & { flagged?: unknown }>(o: {
  dir: string;
  format: string;
  what: string;
  currentKey: string;
  days: number;
  now: Date;
  dryRun?: boolean;
  /** Whether a manifest belongs to the target this run looks after. */
  ours: (m: M) => boolean;
}): Promise<RetentionResult> {
  // The schemas keep bad values out; this guard is the last line in front of rm.
  if (!Number.isInteger(o.days) || o.days < 1) {
    throw ApplicationFailure.create({ type: Failure.InvalidInput, message: `retention deletes nothing: expected a whole number of days of at least 1, found ${JSON.stringify(o.days)}`, nonRetryable: true });
  }
  const { backups, foreign } = await listManifested<M>(o.dir, o.format);
  const current = backups.find((b) => b.manifest.key === o.currentKey && o.ours(b.manifest));
  if (!current || !current.present || !current.manifest.verified) {
    throw ApplicationFailure.create({
      type: Failure.PreconditionFailed,
      message: `retention deletes nothing: the ${o.what} for ${o.currentKey} is ${!current || !current.present ? 'missing' : 'not verified'}`,
      nonRetryable: true,
    });
  }
  const mine = backups.filter((b) => o.ours(b.manifest));
  const newestVerified = mine.find((b) => b.present && b.manifest.verified && !b.manifest.flagged);
  const cutoff = o.now.getTime() - o.days * 86_400_000;
  const kept: string[] = [];
  const deleted: string[] = [];
  for (const b of mine) {
    if (b.mtimeMs >= cutoff || b === newestVerified || b === current) {
      if (b.present) kept.push(b.file);
      continue;
    }
    deleted.push(b.file);
    if (!o.dryRun) {
      // Data first, then its manifest: an interruption leaves a manifest, never an unowned file.
      await rm(b.path, { force: true });
      await rm(b.manifestPath, { force: true });
    }
  }
  if (!o.dryRun && deleted.length > 0) await fsyncDir(o.dir);
  const others = backups.filter((b) => !o.ours(b.manifest)).map((b) => b.file);
  return { kept, deleted, ignored: [...foreign, ...others], dryRun: o.dryRun === true };
}
