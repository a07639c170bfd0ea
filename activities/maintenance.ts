// The daily maintenance of the runbook's calendar: log rotation (03:00) and metrics cleanup
// (04:00). Rotation renames the log, tells its writer to reopen (a signal or a command), waits
// until the writer has moved to the new file, and only then compresses the rotated one, so no line
// written meanwhile is lost; it keeps the newest `keep` rotated files.
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { ApplicationFailure } from '@temporalio/activity';
import { Failure } from '../common/failures';
import { runCommand } from '../adapters/process';
import { redact } from '../adapters/secrets';
import type { ActivityDeps } from './deps';
import { readSamples, storageSamplesFile } from './host-figures';

export interface RotationResult {
  log: string;
  rotated?: string;
  bytes: number;
  deleted: string[];
  skipped?: string;
}

/** A rotated file's suffix: the time to the millisecond, so names sort in rotation order. */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:.]/g, '');
}

/** The pid in a pid file, if it may be signalled: a whole number greater than 1 (0 and negative
 * pids signal whole process groups, 1 is init), not this worker, a live process whose command
 * line contains `expectCommand`. Otherwise why not, as "no process …" (nothing to tell). */
export function writerPid(pidFile: string, expectCommand: string | undefined): number | string {
  const text = readFileSync(pidFile, 'utf8').trim();
  if (!/^\d{1,10}$/.test(text)) return `no process: ${pidFile} holds ${JSON.stringify(text.slice(0, 40))}, not a pid`;
  const pid = Number(text);
  if (pid <= 1 || pid === process.pid || pid === process.ppid) return `no process: ${pidFile} names pid ${pid}, which is never signalled`;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return `no process ${pid}: nothing writes the log`;
  }
  if (!expectCommand) return `no process: ${pidFile} has no expectCommand to check pid ${pid} against; not signalled`;
  if (!cmdline.includes(expectCommand)) return `no process: pid ${pid} runs "${cmdline.slice(0, 120)}", not the log's writer (${expectCommand}); not signalled`;
  return pid;
}

/** Report files this project writes (and so may delete): never anything else in the directory. */
const OUR_REPORTS = /^(postmortem-|reconcile-|differences-|dr-drill-|troubleshoot-|weekly-|monthly-|vertical-scale-|horizontal-scale-).*\.(md|json|svg)$/;

export function createMaintenanceActivities(deps: ActivityDeps) {
  const cfg = deps.config;
  const now = (): Date => deps.now?.() ?? new Date();

  /** Tells the log's writer to reopen it; `told` says whether one was told (and will create the
   * file again), `how` what was done or why nobody was told. */
  async function tellWriter(f: (typeof cfg.logFiles)[number]): Promise<{ told: boolean; how: string }> {
    if (f.reopen) {
      await runCommand(f.reopen, { timeoutMs: 60_000 });
      return { told: true, how: `ran ${redact(f.reopen.join(' '))}` };
    }
    if (f.pidFile && existsSync(f.pidFile)) {
      const pid = writerPid(f.pidFile, f.expectCommand);
      if (typeof pid === 'string') return { told: false, how: pid };
      process.kill(pid, f.signal);
      return { told: true, how: `${f.signal} to pid ${pid}` };
    }
    return { told: false, how: 'no writer configured (pidFile or reopen)' };
  }

  async function rotateLogs(input: { dryRun?: boolean } = {}): Promise<RotationResult[]> {
    const out: RotationResult[] = [];
    const at = now();
    for (const f of cfg.logFiles) {
      const dir = path.dirname(f.path);
      const base = path.basename(f.path);
      const rotatedOf = async (): Promise<string[]> =>
        (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith(`${base}-`) && n.endsWith('.gz')).sort().reverse();
      if (!existsSync(f.path)) {
        out.push({ log: f.path, bytes: 0, deleted: [], skipped: 'no such file' });
        continue;
      }
      const size = (await stat(f.path)).size;
      const existing = await rotatedOf();
      const toDelete = existing.slice(Math.max(0, cfg.logRotation.keep - 1)).map((n) => path.join(dir, n));
      if (input.dryRun) {
        out.push({ log: f.path, rotated: `${f.path}-${stamp(at)}.gz (planned)`, bytes: size, deleted: toDelete });
        continue;
      }
      if (size === 0) {
        out.push({ log: f.path, bytes: 0, deleted: [], skipped: 'empty' });
        continue;
      }
      let rotated = `${f.path}-${stamp(at)}`;
      // Never onto an earlier rotation's file (two rotations within a millisecond, a frozen clock).
      for (let i = 1; existsSync(rotated) || existsSync(`${rotated}.gz`); i++) rotated = `${f.path}-${stamp(at)}-${i}`;
      await rename(f.path, rotated);
      const writer = await tellWriter(f);
      // The writer has moved on when it has created the file again; until then its lines still go
      // to the rotated file, which is why compression waits.
      const deadline = Date.now() + 30_000;
      while (writer.told && !existsSync(f.path) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (writer.told && !existsSync(f.path)) {
        throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `${f.path}: the writer did not reopen its log within 30 s after ${writer.how}; the rotated file ${rotated} is left uncompressed` });
      }
      await pipeline(createReadStream(rotated), createGzip(), createWriteStream(`${rotated}.gz`));
      await rm(rotated);
      const after = await rotatedOf();
      const deleted = after.slice(cfg.logRotation.keep).map((n) => path.join(dir, n));
      for (const d of deleted) await rm(d, { force: true });
      out.push({ log: f.path, rotated: `${rotated}.gz`, bytes: size, deleted });
    }
    return out;
  }

  /** Reports beyond their retention, and health-check samples beyond theirs. */
  async function cleanupMetrics(input: { dryRun?: boolean } = {}): Promise<{ reports: string[]; samplesRemoved: number; dryRun: boolean }> {
    const t = now().getTime();
    const reports: string[] = [];
    const dir = cfg.reportsDirectory;
    for (const n of await readdir(dir).catch(() => [] as string[])) {
      if (!OUR_REPORTS.test(n)) continue;
      const p = path.join(dir, n);
      if ((await stat(p)).mtimeMs < t - cfg.metricsCleanup.reportsRetentionDays * 86_400_000) reports.push(p);
    }
    const file = storageSamplesFile(cfg);
    const samples = readSamples(file);
    const keep = samples.filter((s) => s.at >= t - cfg.metricsCleanup.samplesRetentionDays * 86_400_000);
    if (!input.dryRun) {
      for (const p of reports) await rm(p, { force: true });
      if (keep.length !== samples.length) await writeFile(file, JSON.stringify(keep));
    }
    return { reports, samplesRemoved: samples.length - keep.length, dryRun: input.dryRun === true };
  }

  return { rotateLogs, cleanupMetrics };
}
