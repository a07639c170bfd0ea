// The backup directory: manifests, atomic writes, and which files are ours. A file is a backup
// of ours only when its manifest (of our format) sits beside it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, readdir, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { fnv1a } from '../common/digest';
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

/** This host, as temp file names carry it. */
export const HOST_TAG = fnv1a(os.hostname());

/** A temp file of this process for `file`: `<file>.tmp-<pid>-<tag>-<host>`. The pid and the host
 * say who owns it, so a cleanup can tell a running step's file from a leftover (tempInUse). */
export function tempPath(file: string, tag: string | number = Date.now()): string {
  return `${file}.tmp-${process.pid}-${tag}-${HOST_TAG}`;
}

/** How long a temp file of another host may sit unwritten and still belong to a running step. */
const TEMP_IDLE_MS = 10 * 60_000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** Whether a temp file may belong to a step that still runs, and so must not be deleted. One of
 * this host: while its owner pid is alive (this very process included: another attempt). One of
 * another host (or of an older name without a host): while it was written to in the last 10
 * minutes, since its pid means nothing here. */
export async function tempInUse(file: string, nowMs = Date.now()): Promise<boolean> {
  const m = /\.tmp-(\d+)-(.+?)(?:-([0-9a-f]{8}))?$/.exec(path.basename(file));
  const pid = Number(m?.[1]);
  if (m?.[3] === HOST_TAG && Number.isInteger(pid)) return pid <= 1 || pidAlive(pid);
  if (Number.isInteger(pid) && pid > 1 && pid !== process.pid && m?.[3] === undefined && pidAlive(pid)) return true;
  try {
    return nowMs - (await stat(file)).mtimeMs < TEMP_IDLE_MS;
  } catch {
    return false; // gone
  }
}

/** Creates `dir` (and parents) and makes it private: backups and reports hold the database and
 * its secrets, so only the owner may list or read them (0700; the files themselves are 0600). */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await stat(dir);
  if ((st.mode & 0o077) !== 0 && (typeof process.getuid !== 'function' || st.uid === process.getuid())) await chmod(dir, 0o700);
}

/** Write to a temp file, fsync, rename: a reader sees the old file or the new one, never half. */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const tmp = tempPath(file);
  await writeFileDurably(tmp, data);
  await rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

/** Writes a new file and fsyncs it (for a temp file that the caller renames into place). */
async function writeFileDurably(file: string, data: string | Buffer): Promise<void> {
  const handle = await open(file, 'wx', 0o600);
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

/** Temp files left by an interrupted attempt for this backup file; a temp file that a running
 * step may still own (tempInUse) is left alone. */
export async function removeStaleTemps(dir: string, file: string): Promise<string[]> {
  const { removed } = await removeUnownedTemps(dir, (n) => n.startsWith(`${file}.tmp-`) || n.startsWith(`${file}${MANIFEST_SUFFIX}.tmp-`));
  return removed.map((p) => path.basename(p));
}

/** Deletes the temp files in `dir` that `match` names and no running step owns (tempInUse);
 * returns what it removed (with the bytes freed) and what it left because a step may own it. */
export async function removeUnownedTemps(dir: string, match: (name: string) => boolean = (n) => /\.tmp-[^/]+$/.test(n)): Promise<{ removed: string[]; inUse: string[]; freedBytes: number }> {
  const out = { removed: [] as string[], inUse: [] as string[], freedBytes: 0 };
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  for (const n of names.filter(match)) {
    const file = path.join(dir, n);
    if (await tempInUse(file)) {
      out.inUse.push(file);
      continue;
    }
    try {
      const { size } = await stat(file);
      await rm(file, { force: true });
      out.freedBytes += size;
      out.removed.push(file);
    } catch {
      // gone already
    }
  }
  return out;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A reference to one of our files in `dir`, as an input gives it: "latest" (the newest present,
 * verified and unflagged one of this target), a slot key, or a file name. Nothing outside the
 * directory can be named (a name has no "/", and a symbolic link out of it is refused), a file
 * without our manifest is not ours, and a file of another target (a backup of another database,
 * an export of another app) is refused with what it is. A flagged file is taken only when named
 * and allowed. */
export async function resolveReference<M extends ManifestBase & { flagged?: { reason: string } }>(o: {
  dir: string;
  format: string;
  ref: string | undefined;
  what: string;
  /** Whether the manifest belongs to the target, and if not, what it is a file of. */
  ours: (m: M) => true | string;
  allowFlagged?: boolean;
}): Promise<ManifestEntry<M> & { flagged?: string }> {
  const refuse = (type: 'BackupMissing' | 'PreconditionFailed', message: string): never => {
    throw ApplicationFailure.create({ type, message, nonRetryable: true });
  };
  const { backups } = await listManifested<M>(o.dir, o.format);
  const ref = o.ref ?? 'latest';
  if (ref === 'latest') {
    const mine = backups.filter((b) => b.present && b.manifest.verified && o.ours(b.manifest) === true);
    const latest = mine.find((b) => !b.manifest.flagged);
    if (!latest) {
      const flagged = mine[0];
      return refuse(
        'BackupMissing',
        flagged
          ? `no unflagged verified ${o.what} in ${o.dir}: the newest, ${flagged.file}, is flagged (${flagged.manifest.flagged!.reason}); name it and allow it explicitly if it is what you want`
          : `no verified ${o.what} in ${o.dir}`,
      );
    }
    return latest;
  }
  if (ref.includes('/') || ref.includes('\0') || ref === '.' || ref.includes('..')) return refuse('PreconditionFailed', `${ref}: expected "latest", a slot key or a file name inside ${o.dir}, not a path`);
  const candidates = /^\d{8}_\d{6}$/.test(ref) ? backups.filter((b) => b.manifest.key === ref) : backups.filter((b) => b.file === ref);
  if (candidates.length === 0) return refuse('BackupMissing', `no ${o.what} named ${ref} with a manifest of ours in ${o.dir}`);
  const owned = candidates.filter((b) => o.ours(b.manifest) === true);
  if (owned.length === 0) return refuse('PreconditionFailed', `${candidates[0]!.file} is ${String(o.ours(candidates[0]!.manifest))}: refusing to use it for this target`);
  const entry = owned[0]!;
  if (!entry.present) return refuse('BackupMissing', `${o.what} ${entry.file} has a manifest but no file in ${o.dir}`);
  // A symbolic link inside the directory may point anywhere: the real file must be inside too.
  const [realDir, realFile] = await Promise.all([realpath(o.dir), realpath(entry.path)]);
  if (path.dirname(realFile) !== realDir) return refuse('PreconditionFailed', `${entry.file} leads outside ${o.dir} (to ${realFile}): refusing it`);
  if (entry.manifest.flagged && !o.allowFlagged) {
    return refuse('PreconditionFailed', `${entry.file} is flagged: ${entry.manifest.flagged.reason}. Set allowFlagged: true to use it anyway`);
  }
  return { ...entry, flagged: entry.manifest.flagged?.reason };
}
