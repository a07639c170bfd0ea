// Activities of the DHT runbooks: export the conductor's credits to a file with a manifest,
// verify an export, import one (idempotent: keyed by credit id), and compare the DHT with one.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { ApplicationFailure } from '@temporalio/activity';
import { DHT_MANIFEST_FORMAT, dhtExportFileName, type DhtExportManifest } from '../common/dht-export';
import { Failure } from '../common/failures';
import type { DhtCheck, RetentionResult } from '../common/runbooks';
import { ConductorUnreachable } from '../adapters/conductor';
import { ensurePrivateDir, manifestPathOf, publishWithManifest, readManifestOf, removeStaleTemps, resolveReference, tempPath } from './backup-files';
import { ContentHash, exportHeader, readExport, type CreditRecord } from './dht-files';
import type { ActivityDeps } from './deps';
import { currentAttempt, currentWorkflowId, progressReporter } from './progress';
import { applyRetention } from './retention';


export function createDhtActivities(deps: ActivityDeps) {
  const dir = deps.config.dhtExportDirectory;
  const appId = deps.config.conductor.appId;
  const pageSize = deps.config.dhtExport.pageSize;
  const now = deps.now ?? (() => new Date());
  const conductor = deps.conductor;

  const unreachable = (e: unknown): ApplicationFailure =>
    ApplicationFailure.create({ type: Failure.CommandFailed, message: (e as Error).message, cause: e as Error });

  /** Pages through export_state into a temp file, then manifest, then rename (as for backups). */
  async function exportDht(input: { key: string }): Promise<{ path: string; manifest: DhtExportManifest; reused: boolean }> {
    await ensurePrivateDir(dir);
    const file = dhtExportFileName(appId, input.key);
    const finalPath = path.join(dir, file);
    const manifestPath = manifestPathOf(finalPath);
    const existing = await readManifestOf<DhtExportManifest>(manifestPath, DHT_MANIFEST_FORMAT);
    if (existing?.verified) {
      try {
        if ((await stat(finalPath)).size === existing.bytes) return { path: finalPath, manifest: existing, reused: true };
      } catch {
        // manifest without its file: make it again
      }
    }
    await removeStaleTemps(dir, file);
    const progress = progressReporter();
    const tmp = tempPath(finalPath, currentAttempt());
    const started = now();
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    const fileHash = createHash('sha256');
    let bytes = 0;
    const write = async (text: string): Promise<void> => {
      const buf = Buffer.from(text);
      fileHash.update(buf);
      bytes += buf.length;
      if (!out.write(buf)) await once(out, 'drain');
    };
    const content = new ContentHash();
    try {
      await write(exportHeader({ key: input.key, appId, exportedAt: started.toISOString() }));
      let after: string | undefined;
      let first = true;
      for (;;) {
        const page = await conductor.exportState(after, pageSize).catch((e: unknown) => {
          throw e instanceof ConductorUnreachable ? unreachable(e) : e;
        });
        for (const c of page.credits) {
          content.add(c);
          await write(`${first ? '' : ',\n'}${JSON.stringify(c)}`);
          first = false;
        }
        progress.report({ phase: 'export', detail: `${content.count} of ${page.total} credits` });
        if (!page.next) break;
        after = page.next;
      }
      await write(`${first ? '' : '\n'}]}\n`);
      out.end();
      await once(out, 'finish');
      const h = await open(tmp, 'r+');
      await h.sync();
      await h.close();
    } catch (e) {
      out.destroy();
      await rm(tmp, { force: true });
      throw e;
    }
    const finished = now();
    const manifest: DhtExportManifest = {
      format: DHT_MANIFEST_FORMAT,
      key: input.key,
      file,
      appId,
      conductor: deps.config.conductor.adminUrl,
      bytes,
      sha256: fileHash.digest('hex'),
      credits: content.count,
      contentHash: content.digest(),
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      workflowId: currentWorkflowId(),
    };
    // Read the written file back before anyone may rely on it.
    const check = await verifyFile(tmp, manifest);
    manifest.verified = { at: now().toISOString(), method: 'sha256 + parse of every record + content hash', durationMs: check.durationMs };
    const manifestTmp = tempPath(manifestPath, currentAttempt());
    await publishWithManifest({ tmpPath: tmp, finalPath, manifestTmp, manifestPath, manifest });
    return { path: finalPath, manifest, reused: false };
  }

  /** Reads an export end to end (SHA-256, then every record and the content hash), heartbeating as
   * it goes: on a large export this is minutes of work. */
  async function verifyFile(file: string, manifest: DhtExportManifest): Promise<{ durationMs: number }> {
    const started = Date.now();
    const progress = progressReporter();
    const damaged = (why: string): ApplicationFailure =>
      ApplicationFailure.create({ type: Failure.BackupDamaged, message: `DHT export ${file} is damaged: ${why}`, nonRetryable: true });
    const size = (await stat(file)).size;
    if (size !== manifest.bytes) throw damaged(`it is ${size} bytes, its manifest says ${manifest.bytes}${size < manifest.bytes ? ' (truncated)' : ''}`);
    const h = createHash('sha256');
    let read = 0;
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
      h.update(chunk as Buffer);
      read += (chunk as Buffer).length;
      progress.report({ phase: 'verify: SHA-256', bytes: read, totalBytes: size });
      if (progress.signal?.aborted) throw new Error('cancelled');
    }
    const sha = h.digest('hex');
    if (sha !== manifest.sha256) throw damaged(`SHA-256 is ${sha}, its manifest says ${manifest.sha256}`);
    const content = new ContentHash();
    try {
      for await (const c of readExport(file)) {
        content.add(c);
        if ((content.count & 1023) === 0) progress.report({ phase: 'verify: records', detail: `${content.count} of ${manifest.credits}` });
      }
    } catch (e) {
      throw damaged((e as Error).message);
    }
    if (content.count !== manifest.credits) throw damaged(`it holds ${content.count} credits, its manifest says ${manifest.credits}`);
    const digest = content.digest();
    if (digest !== manifest.contentHash) throw damaged(`content hash is ${digest}, its manifest says ${manifest.contentHash}`);
    return { durationMs: Date.now() - started };
  }

  /** The export a restore input names: "latest" (the newest verified export of this app), a slot
   * key or a file name in the export directory; never a path, never another app's export. */
  async function resolveDhtExport(input: { export?: string }): Promise<{ path: string; file: string; manifest: DhtExportManifest }> {
    const entry = await resolveReference<DhtExportManifest>({ dir, format: DHT_MANIFEST_FORMAT, ref: input.export, what: `DHT export of ${appId}`, ours: (m) => m.appId === appId || `an export of app ${m.appId}, not of ${appId}` });
    return { path: entry.path, file: entry.file, manifest: entry.manifest };
  }

  async function verifyDhtExport(input: { path: string }): Promise<{ credits: number; contentHash: string; durationMs: number }> {
    const manifest = await readManifestOf<DhtExportManifest>(manifestPathOf(input.path), DHT_MANIFEST_FORMAT);
    if (!manifest) {
      throw ApplicationFailure.create({ type: Failure.BackupMissing, message: `DHT export ${input.path} has no manifest of ours`, nonRetryable: true });
    }
    try {
      await stat(input.path);
    } catch {
      throw ApplicationFailure.create({ type: Failure.BackupMissing, message: `DHT export ${input.path} does not exist`, nonRetryable: true });
    }
    const { durationMs } = await verifyFile(input.path, manifest);
    return { credits: manifest.credits, contentHash: manifest.contentHash, durationMs };
  }

  /** Imports in batches. Idempotent: the zome keys credits by id, so a retry after a crash (of
   * the worker or of the conductor) re-sends batches that were already stored without
   * duplicating any. The conductor is started first if it does not answer. */
  async function importDht(input: { path: string }): Promise<{ sent: number; imported: number; skipped: number; total: number; restartedConductor: boolean }> {
    const progress = progressReporter();
    let restartedConductor = false;
    const live = await conductor.liveness();
    if (!live.alive) {
      await deps.conductorService.start();
      restartedConductor = true;
      const deadline = Date.now() + deps.config.conductor.readyTimeoutSeconds * 1000;
      while (!(await conductor.liveness()).alive) {
        if (Date.now() > deadline) throw unreachable(new Error('the conductor did not come back for the import'));
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await conductor.ensureApp();
    let batch: CreditRecord[] = [];
    let sent = 0;
    let imported = 0;
    let skipped = 0;
    let total = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const r = await conductor.importState(batch).catch((e: unknown) => {
        throw unreachable(e);
      });
      sent += batch.length;
      imported += r.imported;
      skipped += r.skipped;
      total = r.total;
      batch = [];
      progress.report({ phase: 'import', detail: `${sent} sent, ${imported} new, ${skipped} already there` });
    };
    for await (const c of readExport(input.path)) {
      batch.push(c);
      if (batch.length >= pageSize) await flush();
      else if ((batch.length & 255) === 0) progress.report({ phase: 'import', detail: `${sent} sent` });
    }
    await flush();
    return { sent, imported, skipped, total, restartedConductor };
  }

  /** Every exported credit must be in the DHT with the same content; extra credits (issued
   * after the export) are counted, not failed. */
  async function checkDhtAgainstExport(input: { path: string }): Promise<DhtCheck> {
    const progress = progressReporter();
    const expected = new Map<string, string>();
    const exported = new ContentHash();
    for await (const c of readExport(input.path)) {
      expected.set(c.credit_id, exported.add(c));
      if ((exported.count & 1023) === 0) progress.report({ phase: 'read the export', detail: `${exported.count} credits` });
    }
    const missing: string[] = [];
    const different: string[] = [];
    const seen = new ContentHash();
    let present = 0;
    let extra = 0;
    let after: string | undefined;
    for (;;) {
      const page = await conductor.getAllCredits(after, pageSize).catch((e: unknown) => {
        throw unreachable(e);
      });
      for (const c of page.credits) {
        const want = expected.get(c.credit_id);
        if (want === undefined) {
          extra++;
          continue;
        }
        const got = seen.add(c);
        present++;
        expected.delete(c.credit_id);
        if (got !== want) different.push(c.credit_id);
      }
      progress.report({ phase: 'compare', detail: `${present} of ${exported.count}` });
      if (!page.next) break;
      after = page.next;
    }
    missing.push(...expected.keys());
    const contentHash = seen.digest();
    return {
      matches: missing.length === 0 && different.length === 0,
      exported: exported.count,
      present,
      missing: missing.slice(0, 100),
      different: different.slice(0, 100),
      extra,
      contentHash,
    };
  }

  async function applyDhtRetention(input: { currentKey: string; retentionDays?: number; dryRun?: boolean }): Promise<RetentionResult> {
    return applyRetention<DhtExportManifest>({
      dir,
      format: DHT_MANIFEST_FORMAT,
      what: 'DHT export',
      currentKey: input.currentKey,
      days: input.retentionDays ?? deps.config.dhtExport.retentionDays,
      now: now(),
      dryRun: input.dryRun,
      ours: (m) => m.appId === appId,
    });
  }

  async function describeDhtTarget(): Promise<{ appId: string; adminUrl: string; directory: string; retentionDays: number; pageSize: number }> {
    return { appId, adminUrl: deps.config.conductor.adminUrl, directory: dir, retentionDays: deps.config.dhtExport.retentionDays, pageSize };
  }


  return { exportDht, resolveDhtExport, verifyDhtExport, importDht, checkDhtAgainstExport, applyDhtRetention, describeDhtTarget };
}
