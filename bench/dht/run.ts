// bench/dht: export and import throughput of the DHT runbooks at 10k, 100k and 1M credits,
// through Temporal, @holochain/client and the stand-in conductor. Prints credits per second per
// step and the per-credit cost ratio between sizes (1.0 = perfectly linear).
//
// Usage: npm run bench:dht [-- --sizes 10000,100000,1000000]
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { ContentHash, exportHeader, type CreditRecord } from '../../activities/dht-files';
import { DHT_MANIFEST_FORMAT, type DhtExportManifest } from '../../common/dht-export';
import type { DhtExportResult, RestoreDhtResult } from '../../common/runbooks';
import { serviceControl } from '../../adapters/service-control';
import { startBenchStack, timed } from '../support';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

/** Writes an export of n synthetic credits with its manifest, as exportDht would. */
async function writeExport(dir: string, n: number): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const key = `20200601_${String(n % 1_000_000).padStart(6, '0')}`;
  const file = path.join(dir, `dht_export_zerotrustml_${key}.json`);
  const out = createWriteStream(file);
  const sha = createHash('sha256');
  const content = new ContentHash();
  let bytes = 0;
  const write = async (t: string): Promise<void> => {
    const b = Buffer.from(t);
    sha.update(b);
    bytes += b.length;
    if (!out.write(b)) await once(out, 'drain');
  };
  await write(exportHeader({ key, appId: 'zerotrustml', exportedAt: new Date().toISOString() }));
  for (let i = 0; i < n; i++) {
    const c: CreditRecord = {
      credit_id: createHash('sha256').update(`bench-${n}-${i}`).digest('hex'),
      holder: `node-${String(1 + (i % 80)).padStart(4, '0')}`,
      amount: [70, 50, 10, 1][i % 4]!,
      earned_from: `round-${i % 10_000}`,
      verifiers: [`node-${String(1 + ((i * 31) % 80)).padStart(4, '0')}`],
      event_type: ['quality_gradient', 'byzantine_detection', 'peer_validation', 'network_contribution'][i % 4]!,
      created_at: 1_700_000_000_000_000 + i,
      author: 'bench',
    };
    credits.push(c);
  }
  credits.sort((a, b) => (a.credit_id < b.credit_id ? -1 : 1));
  for (const [i, c] of credits.entries()) {
    content.add(c);
    await write(`${i ? ',\n' : ''}${JSON.stringify(c)}`);
  }
  credits.length = 0;
  await write('\n]}\n');
  out.end();
  await once(out, 'finish');
  const manifest: DhtExportManifest = {
    format: DHT_MANIFEST_FORMAT,
    key,
    file: path.basename(file),
    appId: 'zerotrustml',
    conductor: 'bench',
    bytes,
    sha256: sha.digest('hex'),
    credits: n,
    contentHash: content.digest(),
    startedAt: '',
    finishedAt: '',
    durationMs: 0,
    verified: { at: new Date().toISOString(), method: 'bench generator', durationMs: 0 },
  };
  writeFileSync(file + '.manifest.json', JSON.stringify(manifest));
  return file;
}
const credits: CreditRecord[] = [];

async function main(): Promise<void> {
  const sizes = arg('sizes', '10000,100000,1000000').split(',').map(Number);
  const stack = await startBenchStack();
  const service = serviceControl(stack.config.conductorService, { timeoutMs: 300_000 });
  const rows: Array<{ n: number; importMs: number; verifyMs: number; exportMs: number; importRate: number; exportRate: number }> = [];
  try {
    for (const n of sizes) {
      process.stderr.write(`${n} credits: generating the export\n`);
      // A restore reads exports from the configured directory only, by file name.
      const file = await writeExport(stack.config.dhtExportDirectory, n);
      await service.stop().catch(() => undefined);
      rmSync(stack.config.conductorDataDir, { recursive: true, force: true });
      await service.start();

      process.stderr.write(`${n} credits: restore-dht\n`);
      const id = `bench-restore-dht-${n}-${Date.now()}`;
      const restore = await timed(() =>
        stack.client.workflow.execute<(i: object) => Promise<RestoreDhtResult>>('restoreDht', { taskQueue: stack.config.temporal.taskQueue, workflowId: id, args: [{ export: path.basename(file) }] }),
      );
      if (!restore.value.check?.matches) throw new Error('restore did not verify');
      // The import step's own duration, from the run's history.
      const events = (await stack.client.workflow.getHandle(id).fetchHistory()).events ?? [];
      const at = (e: (typeof events)[number]): number => Number(e.eventTime!.seconds) * 1000 + Math.round((e.eventTime!.nanos ?? 0) / 1e6);
      const stepMs = (name: string): number => {
        const i = events.findIndex((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === name);
        const scheduledId = events[i]?.eventId;
        const done = events.find((e) => e.activityTaskCompletedEventAttributes && String(e.activityTaskCompletedEventAttributes.scheduledEventId) === String(scheduledId));
        return done && i >= 0 ? at(done) - at(events[i]!) : NaN;
      };
      const importMs = stepMs('importDht');
      const verifyMs = stepMs('checkDhtAgainstExport');

      process.stderr.write(`${n} credits: dht-export\n`);
      const exp = await timed(() =>
        stack.client.workflow.execute<(i: object) => Promise<DhtExportResult>>('dhtExport', {
          taskQueue: stack.config.temporal.taskQueue,
          workflowId: `bench-dht-export-${n}-${Date.now()}`,
          args: [{ key: `20200701_${String(n % 1_000_000).padStart(6, '0')}` }],
        }),
      );
      if (exp.value.credits !== n) throw new Error(`exported ${exp.value.credits}, expected ${n}`);
      rmSync(exp.value.path, { force: true });
      rmSync(exp.value.path + '.manifest.json', { force: true });
      rmSync(file, { force: true });
      rmSync(file + '.manifest.json', { force: true });
      rows.push({ n, importMs, verifyMs, exportMs: exp.ms, importRate: n / (importMs / 1000), exportRate: n / (exp.ms / 1000) });
    }
  } finally {
    await service.stop().catch(() => undefined);
    await stack.stop();
  }
  const base = rows[0]!;
  console.log('\ncredits     import (step)          verify (step)   export (runbook)       cost per credit vs smallest (import / export)');
  for (const r of rows) {
    console.log(
      `${String(r.n).padStart(9)}   ${(r.importMs / 1000).toFixed(2).padStart(7)} s ${Math.round(r.importRate).toString().padStart(7)}/s   ${(r.verifyMs / 1000).toFixed(2).padStart(7)} s   ${(r.exportMs / 1000).toFixed(2).padStart(7)} s ${Math.round(r.exportRate).toString().padStart(7)}/s   ${(base.importRate / r.importRate).toFixed(2)}x / ${(base.exportRate / r.exportRate).toFixed(2)}x`,
    );
  }
  mkdirSync(path.join(__dirname, '..', 'results'), { recursive: true });
  writeFileSync(path.join(__dirname, '..', 'results', 'dht.json'), JSON.stringify({ at: new Date().toISOString(), rows }, null, 2) + '\n');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
