// The configuration backup of the nightly maintenance: an archive (tar + gzip) of the
// configuration files the runbook lists, with a manifest of each file's size and SHA-256, verified
// by reading the archive back and comparing every member, and retained like the other backups.
// Disaster recovery needs it; `runbook status` shows its age.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { Failure } from '../common/failures';
import type { RetentionResult } from '../common/runbooks';
import { runCommand } from '../adapters/process';
import { backupKeyPattern } from '../common/formats';
import { ensurePrivateDir, manifestPathOf, publishWithManifest, readManifestOf, removeStaleTemps, resolveReference, sha256File, tempPath, type ManifestBase } from './backup-files';
import type { ActivityDeps } from './deps';
import { applyRetention } from './retention';

export const CONFIG_MANIFEST_FORMAT = 'zerotrustml-runbooks/config-backup@1';

export interface ConfigBackupManifest extends ManifestBase {
  format: typeof CONFIG_MANIFEST_FORMAT;
  bytes: number;
  sha256: string;
  files: Array<{ path: string; bytes: number; sha256: string }>;
  /** Configured files that did not exist when the backup ran. */
  missing: string[];
  startedAt: string;
  finishedAt: string;
}

/** Verifies an archive against its manifest: the archive's checksum, then every member's. */
async function verifyArchive(file: string, m: ConfigBackupManifest): Promise<void> {
  const fail = (why: string): never => {
    throw ApplicationFailure.create({ type: Failure.BackupDamaged, message: `config backup ${file}: ${why}`, nonRetryable: true });
  };
  const st = await stat(file).catch(() => fail('the archive is missing'));
  if (st.size !== m.bytes) fail(`expected ${m.bytes} bytes, found ${st.size}`);
  if ((await sha256File(file)) !== m.sha256) fail('SHA-256 differs from the manifest');
  // Every member is extracted into a scratch directory and hashed.
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'config-verify-'));
  try {
    await runCommand(['tar', '-xzf', file, '-C', scratch]).catch((e: unknown) => fail(`cannot be read: ${(e as Error).message}`));
    for (const f of m.files) {
      const member = path.join(scratch, f.path.replace(/^\//, ''));
      if (!existsSync(member)) fail(`${f.path} is missing from the archive`);
      if ((await sha256File(member)) !== f.sha256) fail(`${f.path} differs from the manifest`);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export function createConfigBackupActivities(deps: ActivityDeps) {
  const cfg = deps.config;
  const dir = cfg.configBackupDirectory;
  const now = (): Date => deps.now?.() ?? new Date();

  async function backupConfiguration(input: { key: string }): Promise<{ path: string; manifest: ConfigBackupManifest; reused: boolean }> {
    // The key becomes a file name: only a slot key may (the workflow checked it; this is the
    // last line before the file system).
    if (!backupKeyPattern.test(input.key)) throw ApplicationFailure.create({ type: Failure.InvalidInput, message: `key: expected a slot key like 20251001_024500, found ${JSON.stringify(input.key.slice(0, 80))}`, nonRetryable: true });
    await ensurePrivateDir(dir);
    const file = `config_${input.key}.tar.gz`;
    const finalPath = path.join(dir, file);
    const manifestPath = manifestPathOf(finalPath);
    const existing = await readManifestOf<ConfigBackupManifest>(manifestPath, CONFIG_MANIFEST_FORMAT);
    if (existing?.verified && existsSync(finalPath)) return { path: finalPath, manifest: existing, reused: true };
    await removeStaleTemps(dir, file);
    const started = now();
    const present = cfg.configBackupFiles.filter((f) => existsSync(f));
    const missing = cfg.configBackupFiles.filter((f) => !existsSync(f));
    if (present.length === 0) {
      throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `configBackup.files: expected at least one existing file, found none of ${cfg.configBackupFiles.join(', ')}`, nonRetryable: true });
    }
    const files = await Promise.all(present.map(async (p) => ({ path: p, bytes: (await stat(p)).size, sha256: await sha256File(p) })));
    const tmp = tempPath(finalPath);
    try {
      // The archive holds secrets: it exists as 0600 before tar writes a byte into it.
      await writeFile(tmp, '', { mode: 0o600, flag: 'wx' });
      // Absolute paths (leading / stripped by tar) so a restore knows where each file belongs.
      await runCommand(['tar', '-czf', tmp, '-C', '/', ...present.map((p) => p.replace(/^\//, ''))]);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    const manifest: ConfigBackupManifest = {
      format: CONFIG_MANIFEST_FORMAT,
      key: input.key,
      file,
      bytes: (await stat(tmp)).size,
      sha256: await sha256File(tmp),
      files,
      missing,
      startedAt: started.toISOString(),
      finishedAt: now().toISOString(),
    };
    await verifyArchive(tmp, manifest);
    manifest.verified = { at: now().toISOString(), method: 'sha256 of the archive and of every member read back', durationMs: Date.now() - started.getTime() };
    await publishWithManifest({ tmpPath: tmp, finalPath, manifestTmp: tempPath(manifestPath), manifestPath, manifest });
    return { path: finalPath, manifest, reused: false };
  }

  /** The newest verified configuration backup (or the one named: a slot key or a file name in the
   * directory, never a path), verified again. */
  async function resolveConfigBackup(input: { backup?: string } = {}): Promise<{ path: string; manifest: ConfigBackupManifest }> {
    const b = await resolveReference<ConfigBackupManifest>({ dir, format: CONFIG_MANIFEST_FORMAT, ref: input.backup, what: 'configuration backup', ours: () => true });
    await verifyArchive(b.path, b.manifest);
    return { path: b.path, manifest: b.manifest };
  }

  async function applyConfigRetention(input: { currentKey: string; dryRun?: boolean }): Promise<RetentionResult> {
    return applyRetention<ConfigBackupManifest>({ dir, format: CONFIG_MANIFEST_FORMAT, what: 'configuration backup', currentKey: input.currentKey, days: cfg.configBackup.retentionDays, now: now(), dryRun: input.dryRun, ours: () => true });
  }

  /** Puts archived files back where they were, keeping any file it would replace as .pre-restore. */
  async function restoreConfiguration(input: { backup: string }): Promise<{ restored: string[] }> {
    const { path: archive, manifest } = await resolveConfigBackup({ backup: input.backup });
    // The manifest says where each file goes; only a path the configuration lists today may be
    // written (a crafted or stale archive must not overwrite any other file). Checked for every
    // member before the first one is touched.
    const allowed = new Set(cfg.configBackupFiles.map((f) => path.resolve(f)));
    const foreign = manifest.files.filter((f) => !path.isAbsolute(f.path) || path.resolve(f.path) !== f.path || !allowed.has(f.path));
    if (foreign.length > 0) {
      throw ApplicationFailure.create({
        type: Failure.PreconditionFailed,
        message: `config backup ${manifest.file}: expected only files listed in configBackup.files, found ${foreign.map((f) => JSON.stringify(f.path)).join(', ')}; nothing was restored`,
        nonRetryable: true,
      });
    }
    const restored: string[] = [];
    for (const f of manifest.files) {
      if (existsSync(f.path) && (await sha256File(f.path)) === f.sha256) continue;
      if (existsSync(f.path)) await rename(f.path, `${f.path}.pre-restore`);
      await mkdir(path.dirname(f.path), { recursive: true });
      await runCommand(['tar', '-xzf', archive, '-C', '/', f.path.replace(/^\//, '')]);
      if ((await sha256File(f.path)) !== f.sha256) throw ApplicationFailure.create({ type: Failure.BackupDamaged, message: `restored ${f.path} differs from the manifest`, nonRetryable: true });
      restored.push(f.path);
    }
    return { restored };
  }

  return { backupConfiguration, resolveConfigBackup, applyConfigRetention, restoreConfiguration };
}
