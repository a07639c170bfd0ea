// Activities of the database-backup runbook: dump (pg_dump custom format through a compressor into
// a temp file, renamed once complete), verify (checksum and a read of every block), retention.
import { createWriteStream } from 'node:fs';
import { open, rm, stat, utimes, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import {
  backupFileName,
  flagAgainst,
  manifestFileName,
  MANIFEST_FORMAT,
  type BackupManifest,
  type Compression,
} from '../common/backup-manifest';
import { Failure } from '../common/failures';
import type { RetentionResult } from '../common/runbooks';
import { CommandError, runCommand } from '../adapters/process';
import { canTieToParent, runPipeline, startPipeline, type Stage } from '../adapters/pipeline';
import { countRows, listTables } from '../adapters/postgres';
import { applyRetention } from './retention';
import { ensurePrivateDir, listBackups, publishWithManifest, readManifest, removeStaleTemps, resolveReference, tempPath, writeManifest } from './backup-files';
import type { ActivityDeps } from './deps';
import { currentAttempt, currentWorkflowId, progressReporter } from './progress';

export interface DatabaseTargetInfo {
  database: string;
  host: string;
  port: number;
  user: string;
  production: boolean;
  backupDirectory: string;
  retentionDays: number;
  compression: Compression;
  applicationStop: boolean;
  applicationStart: boolean;
}

export interface DumpResult {
  path: string;
  manifest: BackupManifest;
  reused: boolean;
}

export interface VerifyResult {
  path: string;
  bytes: number;
  sha256: string;
  durationMs: number;
}

/** The compressor: a dump on stdin, compressed to stdout (none for an uncompressed backup). */
function compressorCommand(deps: ActivityDeps, compression: Compression): string[] | undefined {
  const { level, threads } = deps.config.backup;
  if (compression === 'zstd') return [zstdProgram(deps), '-q', `-${level}`, `-T${threads}`, '-c'];
  if (compression === 'gzip') return [deps.programs?.gzip ?? 'gzip', `-${Math.min(level, 9)}`, '-c'];
  return undefined;
}

/** The decompressor into a pipe: the file given after it, or stdin, to stdout (none for an
 * uncompressed backup). zstd 1.5.3 and later read and write on a thread of their own; into a pipe
 * the handoffs cost more than they overlap (a backup's `zstd -d` took 0.22 instead of 0.33
 * core-seconds without them), so it runs without where it knows --no-asyncio. */
async function decompressorCommand(deps: ActivityDeps, compression: Compression): Promise<string[] | undefined> {
  if (compression === 'zstd') {
    const zstd = zstdProgram(deps);
    return [zstd, '-q', '-d', '-c', ...((await zstdSkipsAsyncIo(zstd)) ? ['--no-asyncio'] : [])];
  }
  if (compression === 'gzip') return [deps.programs?.gzip ?? 'gzip', '-d', '-c'];
  return undefined;
}

/** zstd expanding the file given after it into `target` (with its I/O thread: into a file it pays
 * off, 260-500 ms against 490-615 ms without). */
function zstdExpandCommand(deps: ActivityDeps, target: string): string[] {
  return [zstdProgram(deps), '-q', '-d', '-f', '-o', target];
}

function zstdProgram(deps: ActivityDeps): string {
  return deps.programs?.zstd ?? 'zstd';
}

const skipsAsyncIo = new Map<string, Promise<boolean>>();

/** Whether this zstd takes --no-asyncio (older ones refuse the flag); asked once per program. */
function zstdSkipsAsyncIo(zstd: string): Promise<boolean> {
  let known = skipsAsyncIo.get(zstd);
  if (!known) {
    known = runCommand([zstd, '--no-asyncio', '-V']).then(
      () => true,
      () => false,
    );
    skipsAsyncIo.set(zstd, known);
  }
  return known;
}

/** Waits for `done` (the writer of `out`) and fsyncs the file. The file is flushed every 0.5 s
 * while it grows, so the closing fsync (on the run's critical path) has only the last moments'
 * writes left to wait for. Linux reports a write-back error to an open file once: a flush's error
 * is kept and fails the write. Times are milliseconds since `startMs`. */
async function durablyWritten(out: FileHandle, done: Promise<void>, startMs: number): Promise<{ dumpMs: number; fsyncMs: number }> {
  let flushing: Promise<void> | undefined;
  let flushError: unknown;
  const flusher = setInterval(() => {
    flushing ??= out
      .datasync()
      .catch((e: unknown) => void (flushError ??= e))
      .finally(() => (flushing = undefined));
  }, 500);
  try {
    await done;
  } finally {
    clearInterval(flusher);
    await flushing;
  }
  const dumpMs = Date.now() - startMs;
  await out.sync();
  if (flushError !== undefined) throw flushError;
  return { dumpMs, fsyncMs: Date.now() - startMs - dumpMs };
}

/** Reads a backup file end to end: SHA-256 of its bytes, and every block through the
 * decompressor and `pg_restore -f /dev/null` (`pg_restore -l` reads only the table of contents).
 * With `expandTo`, the decompressed dump is also written there (for zstd without the parse: see
 * below). With `following`, the file is still being written by that process: `tail -f --pid`
 * feeds the tools until the writer has exited and the file's end is reached (a missing tail would
 * leave the decompressor an incomplete frame), and the hash waits for `written`. The tools read
 * the file themselves and the hash is taken by a second reader here, so no byte passes through
 * this process on its way to them. Throws CommandError when a block cannot be read. */
async function readBack(
  deps: ActivityDeps,
  file: string,
  compression: Compression,
  o: {
    expandTo?: string;
    following?: { pid: number; written: Promise<unknown> };
    onProgress?: (bytes: number) => void;
    signal?: AbortSignal;
  },
): Promise<{ sha256: string; bytes: number }> {
  // tail writes, and pg_restore reads, the stream through stdio: 1 MB buffers (see StdioBuffers).
  const readAll = (...fileArg: string[]): Stage => ({ argv: [deps.postgres.tool('pg_restore'), '-f', '/dev/null', ...fileArg], buffers: { input: true } });
  // tail looks every -s seconds whether the writer is gone: the last wait of the read-back.
  const follow: Stage[] = o.following
    ? [{ argv: ['tail', '-c', '+1', '-s', '0.01', '-f', `--pid=${o.following.pid}`, file], buffers: { output: true } }]
    : [];
  const fileArg = o.following ? [] : [file];
  // A restore needs the expanded dump on disk anyway (pg_restore -j wants a seekable file). For a
  // zstd backup about to be restored, zstd writes it and checks every frame's XXH64 checksum: the
  // SHA-256 against the manifest of a backup verified in full when it was made, plus the frame
  // checks, refuse a damaged file before anything is created; the scratch restore that follows
  // (pg_restore -e) then parses every block anyway, so a second parse here would only cost time.
  // Otherwise the expanded copy is written with tee during the full verifying read.
  const expandTo = compression === 'zstd' ? o.expandTo : undefined;
  const decompress = expandTo === undefined ? await decompressorCommand(deps, compression) : undefined;
  const stages: Stage[] = expandTo !== undefined
    ? [...follow, [...zstdExpandCommand(deps, expandTo), ...fileArg]]
    : decompress
      ? [...follow, [...decompress, ...fileArg], ...(o.expandTo ? [['tee', o.expandTo]] : []), readAll()]
      : [...follow, readAll(...fileArg)];
  const [hashed] = await Promise.all([
    // A file that is complete is "followed" with its writer already done: read once to its end.
    hashFollowing(file, o.following?.written ?? Promise.resolve(), o.signal, o.onProgress),
    // The tools read the file, not a pipe from here: tied to this process, they die with it.
    runPipeline(stages, { signal: o.signal, tieToParent: true }),
  ]);
  return hashed;
}

/** SHA-256 and size of a file that another process is still writing, read from the file itself
 * as the bytes land, until `written` settles and everything up to the file's end has been read. */
async function hashFollowing(
  file: string,
  written: Promise<unknown>,
  signal?: AbortSignal,
  onProgress?: (bytes: number) => void,
): Promise<{ sha256: string; bytes: number }> {
  let finished = false;
  const settled = written.then(
    () => void (finished = true),
    () => void (finished = true),
  );
  const hash = createHash('sha256');
  // One buffer for the whole file: hashing is synchronous, so it can be refilled at once, and
  // nothing is allocated per read (the reader catches up with the writer often).
  const buffer = Buffer.allocUnsafe(1 << 20);
  const fh = await open(file, 'r');
  try {
    for (let position = 0; ; ) {
      if (signal?.aborted) throw new Error('cancelled');
      // Whether the writer was done is read before the file is: an empty read after that is the
      // end of the file, never a moment between two of the writer's writes.
      const done = finished;
      const { bytesRead } = await fh.read(buffer, 0, buffer.length, position);
      if (bytesRead > 0) {
        hash.update(buffer.subarray(0, bytesRead));
        position += bytesRead;
        onProgress?.(position);
      } else if (done) {
        return { sha256: hash.digest('hex'), bytes: position };
      } else {
        await Promise.race([settled, new Promise((r) => setTimeout(r, 20))]);
      }
    }
  } finally {
    await fh.close();
  }
}

export const VERIFY_METHOD = 'sha256 + full read by pg_restore';

export function createDatabaseBackupActivities(deps: ActivityDeps) {
  const pg = deps.postgres;
  const dir = deps.config.backupDirectory;
  const now = deps.now ?? (() => new Date());

  async function describeDatabaseTarget(): Promise<DatabaseTargetInfo> {
    return {
      database: pg.target.database,
      host: pg.target.host,
      port: pg.target.port,
      user: pg.target.user,
      production: deps.config.database.production,
      backupDirectory: dir,
      retentionDays: deps.config.backup.retentionDays,
      compression: deps.config.backup.compression,
      applicationStop: deps.config.applicationService !== undefined,
      applicationStart: deps.config.application.start !== undefined,
    };
  }

  /** Idempotent per key: a complete backup for the key is returned as it is; leftovers of an
   * interrupted attempt are removed and the dump is made again. */
  async function dumpDatabase(input: { key: string }): Promise<DumpResult> {
    const compression = deps.config.backup.compression;
    const file = backupFileName(pg.target.database, input.key, compression);
    const finalPath = path.join(dir, file);
    const manifestPath = path.join(dir, manifestFileName(file));
    await ensurePrivateDir(dir);

    const existing = await readManifest(manifestPath);
    // A manifest of another database under this name (two names that map to one file name) is
    // not this slot's backup.
    if (existing && existing.database !== pg.target.database) {
      throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `${manifestPath} describes a backup of ${existing.database}, not ${pg.target.database}: refusing to overwrite it`, nonRetryable: true });
    }
    if (existing) {
      try {
        const st = await stat(finalPath);
        if (st.size === existing.bytes) return { path: finalPath, manifest: existing, reused: true };
      } catch {
        // manifest without its dump: an attempt died between the two renames; make it again
      }
    }
    await removeStaleTemps(dir, file);

    const progress = progressReporter();
    const tmpPath = tempPath(finalPath, currentAttempt());
    const manifestTmp = tempPath(manifestPath, currentAttempt());
    const startedAt = now();
    const snapshotClient = await pg.connect();
    // Stops the read-back (and its processes) as soon as the dump fails or the run is cancelled.
    const stopVerifying = new AbortController();
    const cancel = (): void => stopVerifying.abort();
    progress.signal?.addEventListener('abort', cancel, { once: true });
    try {
      // One snapshot for the dump and the row counts, so the manifest describes exactly the dump.
      await snapshotClient.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // The counts run beside the dump and its read-back; parallel scan workers would only fight
      // them for the same cores.
      await snapshotClient.query('SET LOCAL max_parallel_workers_per_gather = 0');
      const snapshot = (await snapshotClient.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
      const serverVersion = (await snapshotClient.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
      const pgDumpVersion = await pg.toolVersion('pg_dump');

      const dump = [pg.tool('pg_dump'), '-Fc', '-Z0', `--snapshot=${snapshot}`, ...pg.toolArgs()];
      const compressor = compressorCommand(deps, compression);
      // pg_dump -Fc given a seekable output goes back at the end to fill in the data offsets of
      // its table of contents: the read-back would then have hashed a head that changed since.
      // Without a compressor a `cat` keeps its output a pipe, as with one.
      // pg_dump writes its archive through stdio: 1 MB buffers (see StdioBuffers).
      const stages: Stage[] = [{ argv: dump, buffers: { output: true } }, compressor ?? ['cat']];
      const out = await open(tmpPath, 'wx', 0o600);
      // The write: into the temp file, then fsync. Where the stages can be tied to this process
      // the last one writes the file itself, so the bytes never pass through here (on two cores
      // that copy competes with pg_dump and the compressor); a killed worker takes them along by
      // their parent-death signal. Otherwise the bytes pass through here (a pipe ties the stages
      // to this process), hashed on the way.
      const writeDirect = canTieToParent();
      let streamBytes = 0;
      const streamHash = createHash('sha256');
      const writer = writeDirect
        ? startPipeline(stages, { env: pg.toolEnv(), signal: progress.signal, outputFd: out.fd, tieToParent: true })
        : startPipeline(stages, {
            env: pg.toolEnv(),
            signal: progress.signal,
            output: createWriteStream('', { fd: out.fd, autoClose: false }),
            onOutput: (chunk) => {
              streamBytes += chunk.length;
              streamHash.update(chunk);
            },
          });
      const written = durablyWritten(out, writer.done, startedAt.getTime());
      written.catch(cancel);

      // The read-back. With the writer a process of its own, it follows the file as it is
      // written, from the file itself (not a copy of the stream): the same bytes a read after the
      // last write would get (both come through the page cache), but on cores the dump leaves
      // partly idle (pg_dump and its server process take turns) it costs little extra time. Its
      // byte count is compared with the file's size below. The row counts run meanwhile, in the
      // dump's snapshot.
      const writerPid = writer.pids[writer.pids.length - 1];
      const verified =
        writeDirect && writerPid !== undefined
          ? readBack(deps, tmpPath, compression, { following: { pid: writerPid, written }, signal: stopVerifying.signal })
          : written.then(() => readBack(deps, tmpPath, compression, { signal: stopVerifying.signal }));
      let verifyEndMs = 0;
      let countEndMs = 0;
      // A heartbeat every second whatever the compressor's output rhythm (a slow level writes in
      // bursts): the bytes written so far.
      const ticker = setInterval(() => {
        void stat(tmpPath).then(
          (st) => progress.report({ phase: 'dump and verify', bytes: st.size }),
          () => undefined,
        );
      }, 1000);
      const [write, counted, check] = await Promise.allSettled([
        written,
        (async () => {
          const counts = await countRows(snapshotClient, await listTables(snapshotClient));
          countEndMs = Date.now() - startedAt.getTime();
          return counts;
        })(),
        verified.then((r) => {
          verifyEndMs = Date.now() - startedAt.getTime();
          return r;
        }),
      ]).finally(() => clearInterval(ticker));
      await out.close();
      // The first failure is the cause: a failed dump also cuts its read-back short.
      if (write.status === 'rejected') throw write.reason;
      if (check.status === 'rejected') {
        throw ApplicationFailure.create({
          type: Failure.CommandFailed,
          message: `the new backup does not read back: ${(check.reason as Error).message}`,
        });
      }
      if (counted.status === 'rejected') throw counted.reason;
      await snapshotClient.query('COMMIT');
      const finishedAt = now();
      const tables = counted.value;
      const bytes = (await stat(tmpPath)).size;
      const sentSha = writeDirect ? undefined : streamHash.digest('hex');
      if (check.value.bytes !== bytes || (sentSha !== undefined && (check.value.sha256 !== sentSha || streamBytes !== bytes))) {
        throw ApplicationFailure.create({
          type: Failure.CommandFailed,
          message: `the new backup reads back as ${check.value.bytes} bytes with SHA-256 ${check.value.sha256}, but the file has ${bytes} bytes${sentSha ? ` and ${streamBytes} bytes with ${sentSha} were written` : ''}`,
        });
      }
      const manifest: BackupManifest = {
        format: MANIFEST_FORMAT,
        key: input.key,
        database: pg.target.database,
        file,
        compression,
        bytes,
        sha256: check.value.sha256,
        serverVersion,
        pgDumpVersion,
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        tables,
        // The verification ran alongside the write: its duration is from the start to its end.
        verified: { at: finishedAt.toISOString(), method: VERIFY_METHOD, durationMs: verifyEndMs },
        // Milliseconds from the start: the dump written, fsynced; the counts and the read-back done.
        phasesMs: { dump: write.value.dumpMs, fsync: write.value.fsyncMs, countsDoneAt: countEndMs, verifiedAt: verifyEndMs },
        workflowId: currentWorkflowId(),
      };
      // A backup of an emptied or wiped database verifies fine: flag it when it is much smaller
      // than the previous verified one, so "latest", retention and disaster recovery pass it over.
      const previous = (await listBackups(dir)).backups.find((b) => b.present && b.manifest.verified && !b.manifest.flagged && b.manifest.database === pg.target.database && b.manifest.key < input.key);
      const flag = previous ? flagAgainst(manifest, previous.manifest, deps.config.backup.flagBelowRatio) : undefined;
      if (flag && previous) manifest.flagged = { reason: flag, previousKey: previous.manifest.key };
      await publishWithManifest({ tmpPath, finalPath, manifestTmp, manifestPath, manifest });
      progress.report({ phase: 'dump', bytes, detail: 'complete' }, true);
      return { path: finalPath, manifest, reused: false };
    } catch (e) {
      stopVerifying.abort();
      await rm(tmpPath, { force: true });
      await rm(manifestTmp, { force: true });
      if (e instanceof CommandError) {
        throw ApplicationFailure.create({ type: Failure.CommandFailed, message: e.message, cause: e });
      }
      throw e;
    } finally {
      progress.signal?.removeEventListener('abort', cancel);
      await snapshotClient.end().catch(() => undefined);
    }
  }

  /** Re-reads the file end to end: SHA-256 against the manifest, and every block through the
   * decompressor and pg_restore (`pg_restore -l` reads only the table of contents). */
  async function verifyBackup(input: { path: string; markVerified?: boolean; expandTo?: string }): Promise<VerifyResult> {
    const started = Date.now();
    const manifestPath = manifestFileName(input.path);
    const manifest = await readManifest(manifestPath);
    let size: number;
    try {
      size = (await stat(input.path)).size;
    } catch {
      throw ApplicationFailure.create({
        type: Failure.BackupMissing,
        message: `backup ${input.path} does not exist`,
        nonRetryable: true,
      });
    }
    if (!manifest) {
      throw ApplicationFailure.create({
        type: Failure.BackupMissing,
        message: `backup ${input.path} has no manifest (expected ${manifestPath}); it was not written by this tool and is not trusted`,
        nonRetryable: true,
      });
    }
    const damaged = (message: string): ApplicationFailure =>
      ApplicationFailure.create({ type: Failure.BackupDamaged, message: `backup ${input.path} is damaged: ${message}`, nonRetryable: true });
    if (size !== manifest.bytes) {
      throw damaged(`it is ${size} bytes, its manifest says ${manifest.bytes}${size < manifest.bytes ? ' (truncated)' : ''}`);
    }
    const progress = progressReporter();
    let sha256: string;
    try {
      ({ sha256 } = await readBack(deps, input.path, manifest.compression, {
        expandTo: input.expandTo,
        signal: progress.signal,
        onProgress: (read) => progress.report({ phase: 'verify', bytes: read, totalBytes: size }),
      }));
    } catch (e) {
      if (input.expandTo) await rm(input.expandTo, { force: true });
      if (e instanceof CommandError) throw damaged(`reading it back failed: ${e.message}`);
      throw e;
    }
    if (sha256 !== manifest.sha256) {
      if (input.expandTo) await rm(input.expandTo, { force: true });
      throw damaged(`SHA-256 is ${sha256}, its manifest says ${manifest.sha256}`);
    }
    const durationMs = Date.now() - started;
    if (input.markVerified && !manifest.verified) {
      // Keep the file's time as it was: retention reads backup age from it.
      const st = await stat(manifestPath);
      await writeManifest(manifestPath, {
        ...manifest,
        verified: { at: now().toISOString(), method: VERIFY_METHOD, durationMs },
      });
      await utimes(manifestPath, st.atime, st.mtime);
    }
    progress.report({ phase: 'verify', bytes: size, totalBytes: size, detail: 'verified' }, true);
    return { path: input.path, bytes: size, sha256, durationMs };
  }

  /** Deletes backups older than the retention, but never the newest verified one, never a file
   * without our manifest, and nothing at all unless the backup of `currentKey` is verified. */
  async function applyBackupRetention(input: { currentKey: string; retentionDays?: number; dryRun?: boolean }): Promise<RetentionResult> {
    return applyRetention<BackupManifest & { database: string }>({
      dir,
      format: MANIFEST_FORMAT,
      what: 'backup',
      currentKey: input.currentKey,
      days: input.retentionDays ?? deps.config.backup.retentionDays,
      now: now(),
      dryRun: input.dryRun,
      ours: (m) => m.database === pg.target.database,
    });
  }

  /** The backup a restore input names: "latest" (the newest verified, unflagged backup of the
   * target database), a slot key or a file name in the backup directory; never a path, never a
   * backup of another database, a flagged one only when allowed. */
  async function resolveBackup(input: { backup?: string; allowFlagged?: boolean }): Promise<{ path: string; file: string; manifest: BackupManifest; flagged?: string }> {
    const entry = await resolveReference<BackupManifest>({
      dir,
      format: MANIFEST_FORMAT,
      ref: input.backup,
      what: `backup of ${pg.target.database}`,
      ours: (m) => m.database === pg.target.database || `a backup of database ${m.database}, not of the target ${pg.target.database}`,
      allowFlagged: input.allowFlagged,
    });
    return { path: entry.path, file: entry.file, manifest: entry.manifest, flagged: entry.flagged };
  }

  return { describeDatabaseTarget, dumpDatabase, verifyBackup, applyBackupRetention, resolveBackup };
}
