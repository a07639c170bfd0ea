// The backup directory: manifests, atomic writes, and which files are ours. A file is a backup
// of ours only when its manifest (of our format) sits beside it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FORMAT, MANIFEST_SUFFIX, type BackupManifest } from '../common/backup-manifest';

/** What every manifest of ours has, whatever it describes (a database dump, a DHT export). */
export interface ManifestBase {
  format: string;
  key: string;
  file: string;
  verified?: { at: string; method: string; durationMs: number };
}

export interface ManifestEntry<M extends ManifestBase = BackupManifest> {
  file: string;
  path: string;
  manifestPath: string;
  manifest: M;
  /** The dump file exists (a manifest without it is a leftover of an interrupted run). */
  present: boolean;
  mtimeMs: number;
}

export type BackupEntry = ManifestEntry<BackupManifest>;

export async function readManifest(manifestPath: string): Promise<BackupManifest | undefined> {
  return readManifestOf<BackupManifest>(manifestPath, MANIFEST_FORMAT);
}

export async function readManifestOf<M extends ManifestBase>(manifestPath: string, format: string): Promise<M | undefined> {
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const m = JSON.parse(text) as M;
    return m && m.format === format ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Write to a temp file, fsync, rename: a reader sees the old file or the new one, never half. */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  await writeFileDurably(tmp, data);
  await rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

/** Writes a new file and fsyncs it (for a temp file that the caller renames into place). */
async function writeFileDurably(file: string, data: string | Buffer): Promise<void> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function manifestText(manifest: ManifestBase): string {
  return JSON.stringify(manifest, null, 2) + '\n';
}

export async function writeManifest(manifestPath: string, manifest: ManifestBase): Promise<void> {
  await writeFileAtomic(manifestPath, manifestText(manifest));
}

/** Puts a finished temp file and its manifest in place: the manifest is written to `manifestTmp`
 * (this attempt's own, fsynced) and renamed first, the file second, then the directory is
 * fsynced. A crash in between leaves a manifest without its file, which the next attempt redoes,
 * never a file that nobody claims. */
export async function publishWithManifest(o: { tmpPath: string; finalPath: string; manifestTmp: string; manifestPath: string; manifest: ManifestBase }): Promise<void> {
  await writeFileDurably(o.manifestTmp, manifestText(o.manifest));
  await rename(o.manifestTmp, o.manifestPath);
  await rename(o.tmpPath, o.finalPath);
  await fsyncDir(path.dirname(o.finalPath));
}

/** Every backup of ours in the directory, newest key first, plus files that are not ours. */
export async function listBackups(dir: string): Promise<{ backups: BackupEntry[]; foreign: string[] }> {
  return listManifested<BackupManifest>(dir, MANIFEST_FORMAT);
}

/** Every file of ours (with a manifest of `format`) in the directory, newest key first. */
export async function listManifested<M extends ManifestBase>(dir: string, format: string): Promise<{ backups: Array<ManifestEntry<M>>; foreign: string[] }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { backups: [], foreign: [] };
    throw e;
  }
  const nameSet = new Set(names);
  const backups: Array<ManifestEntry<M>> = [];
  const owned = new Set<string>();
  for (const name of names) {
    if (!name.endsWith(MANIFEST_SUFFIX)) continue;
    const manifestPath = path.join(dir, name);
    const manifest = await readManifestOf<M>(manifestPath, format);
    if (!manifest) continue;
    const file = name.slice(0, -MANIFEST_SUFFIX.length);
    if (manifest.file !== file) continue;
    owned.add(name);
    owned.add(file);
    const present = nameSet.has(file);
    const st = present ? await stat(path.join(dir, file)) : await stat(manifestPath);
    backups.push({ file, path: path.join(dir, file), manifestPath, manifest, present, mtimeMs: st.mtimeMs });
  }
  // Temp files of an interrupted run belong to us too (named <file>.tmp-...).
  const foreign = names.filter((n) => !owned.has(n) && !/\.tmp-[^/]+$/.test(n) && !n.startsWith('.'));
  backups.sort((a, b) => (a.manifest.key < b.manifest.key ? 1 : a.manifest.key > b.manifest.key ? -1 : 0));
  return { backups, foreign };
}

export function manifestPathOf(file: string): string {
  return file + MANIFEST_SUFFIX;
}

/** Temp files left by an interrupted attempt for this backup file. */
export async function removeStaleTemps(dir: string, file: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => n.startsWith(`${file}.tmp-`) || n.startsWith(`${file}${MANIFEST_SUFFIX}.tmp-`));
  for (const n of stale) await rm(path.join(dir, n), { force: true });
  return stale;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
