// bench/pitr: restores of one generated database of at least 1 GB, in one run:
//   the runbook's restore    gunzip -c f.sql.gz | psql   into an empty database (the manual procedure)
//   restore-database         the logical restore runbook (verify, scratch restore, check, swap)
//   restore-cluster latest   the physical restore runbook (pgBackRest), verification and switch included
//   restore-cluster to time  the same to a time between two known writes
//   floor                    copying the physical backup's files (what any physical restore reads)
// and, with writes flowing, the server killed and restored to the latest point: the recovery point
// (the newest write older than the kill that is lost, from the restored rows) and the downtime
// (old server stopped to new server answering). Goals: physical restore at least 2.5x faster than
// the runbook's restore, verification included; RPO at most the archive timeout; downtime under 5 s.
//
// Usage: npm run bench:pitr [-- --min-mb 1024]
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import type { DatabaseArchivingResult, DatabaseBackupResult, PhysicalBackupResult, RestoreClusterResult, RestoreDatabaseResult } from '../../common/runbooks';
import { postgresToolsDir } from '../../adapters/postgres-tools';
import { benchRoot, ensureDatabaseSize, secs, sh, sleep, startBenchStack, timed } from '../support';
import { activitySteps } from '../../test/support/stack';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const minMb = arg('min-mb', 1024);
const archiveTimeout = 60;

async function main(): Promise<void> {
  const stack = await startBenchStack({ extraYaml: ['physicalBackup:', '  enabled: true', `  archiveTimeoutSeconds: ${archiveTimeout}`, '  restorePort: 55496', 'application:', '  managed: false'] });
  const { client, config } = stack;
  const tq = config.temporal.taskQueue;
  const run = async <T>(workflow: string, input: object): Promise<{ ms: number; value: T; workflowId: string }> => {
    const workflowId = `bench-pitr-${workflow}-${Date.now()}`;
    return { ...(await timed(() => client.workflow.execute<(i: object) => Promise<T>>(workflow, { taskQueue: tq, workflowId, args: [{ trigger: 'manual', ...input }] }))), workflowId };
  };
  const stepsOf = async (workflowId: string): Promise<Record<string, number>> => Object.fromEntries((await activitySteps(client.workflow.getHandle(workflowId))).map((s, i) => [`${i + 1} ${s.name}`, Math.round(s.fromScheduledMs)]));
  const pgUrl = config.database.url;
  const query = async <T extends Record<string, unknown>>(text: string, url = pgUrl): Promise<T[]> => {
    const c = new PgClient({ connectionString: url });
    await c.connect();
    try {
      return (await c.query<T>(text)).rows;
    } finally {
      await c.end();
    }
  };
  const dataDir = config.physical.dataDirectory!;
  try {
    const pg = new PgClient({ connectionString: pgUrl });
    await pg.connect();
    const dbBytes = await ensureDatabaseSize(pg, minMb);
    await pg.query(`CREATE TABLE IF NOT EXISTS bench_writes (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())`);
    await pg.end();
    process.stderr.write(`database: ${(dbBytes / 1048576).toFixed(0)} MB\n`);

    const archiving = await run<DatabaseArchivingResult>('databaseArchiving', {});
    process.stderr.write(`archiving: ${archiving.value.changed.join(', ') || 'already set up'}\n`);
    const full = await run<PhysicalBackupResult>('physicalBackup', { type: 'full' });
    process.stderr.write(`physical full backup: ${secs(full.ms)}, ${(full.value.repositoryDelta / 1048576).toFixed(0)} MB in the repository\n`);

    // The runbook's restore: a plain dump through gzip, then gunzip | psql into an empty database.
    const bin = await postgresToolsDir(config.database.binDir);
    const u = new URL(pgUrl);
    const conn = `-h ${u.hostname} -p ${u.port} -U ${decodeURIComponent(u.username)}`;
    const work = path.join(benchRoot, 'manual');
    mkdirSync(work, { recursive: true });
    process.stderr.write('the runbook\'s backup (pg_dump | gzip)…\n');
    await sh(`${bin}/pg_dump ${conn} -d credits | gzip > ${work}/f.sql.gz`);
    await sh(`${bin}/dropdb ${conn} --if-exists manual_restore && ${bin}/createdb ${conn} manual_restore`);
    const manual = await sh(`gunzip -c ${work}/f.sql.gz | ${bin}/psql -X -q ${conn} -d manual_restore > /dev/null`);
    await sh(`${bin}/dropdb ${conn} manual_restore`);
    process.stderr.write(`the runbook's restore: ${secs(manual)}\n`);

    const logicalBackup = await run<DatabaseBackupResult>('databaseBackup', {});
    const logical = await run<RestoreDatabaseResult>('restoreDatabase', { backup: logicalBackup.value.key });
    const logicalLive = logical.ms - (logical.value.durationMs - (logical.value.liveAfterMs ?? logical.value.durationMs));
    process.stderr.write(`restore-database: ${secs(logicalLive)} live (${secs(logical.ms)} total)\n`);

    // An incremental on top, and two writes with a moment between them.
    await run<PhysicalBackupResult>('physicalBackup', { type: 'incr' });
    await query(`INSERT INTO bench_writes DEFAULT VALUES`);
    await sleep(1000);
    const [{ t }] = (await query<{ t: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`)) as [{ t: string }];
    await sleep(1000);
    const [{ second }] = (await query<{ second: string }>(`INSERT INTO bench_writes DEFAULT VALUES RETURNING id AS second`)) as [{ second: string }];

    const latest = await run<RestoreClusterResult>('restoreCluster', {});
    process.stderr.write(`restore-cluster latest: ${secs(latest.ms)} (restore ${secs(latest.value.restoreMs ?? 0)}, recovery ${secs(latest.value.recoverMs ?? 0)}, downtime ${latest.value.downtimeMs} ms)\n`);
    const counts = await run<RestoreClusterResult>('restoreCluster', { check: 'counts' });
    process.stderr.write(`restore-cluster latest, counts only: ${secs(counts.ms)}\n`);
    const toTime = await run<RestoreClusterResult>('restoreCluster', { toTime: t });
    const has = (await query<{ id: string }>(`SELECT id FROM bench_writes WHERE id = ${Number(second)}`)).length > 0;
    process.stderr.write(`restore-cluster to ${t}: ${secs(toTime.ms)}; the write after it is ${has ? 'PRESENT (wrong)' : 'absent (right)'}\n`);

    // The floor: the backup's files copied (what a physical restore reads and writes at least).
    const repoBackup = path.join(config.physical.repository, 'backup', config.physical.stanza, full.value.label);
    const floor = await sh(`rm -rf ${work}/floor && cp -a ${repoBackup} ${work}/floor && sync`);
    rmSync(path.join(work, 'floor'), { recursive: true, force: true });

    // RPO: writes every 50 ms for longer than the archive timeout, the server killed, restored.
    process.stderr.write(`writes for ${archiveTimeout + 30} s, then the server is killed…\n`);
    const writer = new PgClient({ connectionString: pgUrl });
    await writer.connect();
    writer.on('error', () => undefined);
    const until = Date.now() + (archiveTimeout + 30) * 1000;
    while (Date.now() < until) {
      await writer.query(`INSERT INTO bench_writes DEFAULT VALUES`);
      await sleep(50);
    }
    const killedAt = Date.now();
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    await writer.end().catch(() => undefined);
    const afterKill = await run<RestoreClusterResult>('restoreCluster', {});
    const [{ last }] = (await query<{ last: Date }>(`SELECT max(at) AS last FROM bench_writes`)) as [{ last: Date }];
    const rpoS = (killedAt - last.getTime()) / 1000;

    const ratios = {
      physicalLatestVsRunbook: manual / latest.ms,
      physicalLatestCountsOnlyVsRunbook: manual / counts.ms,
      physicalToTimeVsRunbook: manual / toTime.ms,
      logicalVsRunbook: manual / logicalLive,
      floorVsRunbook: manual / floor,
    };
    const goals = {
      'physical restore >= 2.5x the runbook\'s restore (latest and to a time, every row fingerprinted)': ratios.physicalLatestVsRunbook >= 2.5 && ratios.physicalToTimeVsRunbook >= 2.5,
      'physical restore >= 2.5x the runbook\'s restore (latest, row counts)': ratios.physicalLatestCountsOnlyVsRunbook >= 2.5,
      [`RPO <= archive timeout (${archiveTimeout} s)`]: rpoS <= archiveTimeout,
      'downtime < 5 s': Math.max(latest.value.downtimeMs ?? 0, toTime.value.downtimeMs ?? 0, afterKill.value.downtimeMs ?? 0) < 5000,
      'restore to a time has the first write and not the second': !has,
      'logical restore at least as fast as the runbook\'s (issue 18 item 5)': ratios.logicalVsRunbook >= 1,
    };
    const result = {
      at: new Date().toISOString(),
      databaseMb: Math.round(dbBytes / 1048576),
      physicalFullBackupMs: full.ms,
      physicalFullRepositoryMb: Math.round(full.value.repositoryDelta / 1048576),
      runbookRestoreMs: manual,
      logicalRestoreLiveMs: logicalLive,
      logicalRestoreTotalMs: logical.ms,
      physicalLatestMs: latest.ms,
      physicalLatest: { restoreMs: latest.value.restoreMs, recoverMs: latest.value.recoverMs, downtimeMs: latest.value.downtimeMs, steps: await stepsOf(latest.workflowId) },
      physicalLatestCountsOnlyMs: counts.ms,
      physicalToTimeMs: toTime.ms,
      physicalToTime: { restoreMs: toTime.value.restoreMs, recoverMs: toTime.value.recoverMs, downtimeMs: toTime.value.downtimeMs, steps: await stepsOf(toTime.workflowId) },
      floorMs: floor,
      afterKill: { ms: afterKill.ms, downtimeMs: afterKill.value.downtimeMs, rpoSeconds: rpoS, recoveredTo: afterKill.value.recoveredTo },
      ratios,
      goals,
    };
    writeFileSync(path.join(__dirname, '..', 'results', 'pitr.json'), JSON.stringify(result, null, 2) + '\n');
    console.log(`
bench/pitr: database ${result.databaseMb} MB, one run
the runbook's restore (gunzip | psql)   ${secs(manual).padStart(9)}
restore-database (logical), live       ${secs(logicalLive).padStart(9)}   ${ratios.logicalVsRunbook.toFixed(2)}x
restore-cluster, latest                ${secs(latest.ms).padStart(9)}   ${ratios.physicalLatestVsRunbook.toFixed(2)}x   (verify, restore, recovery, checks, switch)
restore-cluster, latest, counts only   ${secs(counts.ms).padStart(9)}   ${ratios.physicalLatestCountsOnlyVsRunbook.toFixed(2)}x   (the copy checked by row counts, no content fingerprint)
restore-cluster, to a time             ${secs(toTime.ms).padStart(9)}   ${ratios.physicalToTimeVsRunbook.toFixed(2)}x
floor (copy the backup's files)        ${secs(floor).padStart(9)}   ${ratios.floorVsRunbook.toFixed(2)}x
killed under writes, restored latest   ${secs(afterKill.ms).padStart(9)}   RPO ${rpoS.toFixed(1)} s, downtime ${afterKill.value.downtimeMs} ms
steps of restore-cluster, latest (activity: ms from scheduled to completed):${Object.entries(result.physicalLatest.steps).map(([k, v]) => `\n  ${k.padEnd(36)} ${String(v).padStart(6)}`).join('')}
goals: ${Object.entries(goals).map(([g, ok]) => `\n  ${ok ? 'met   ' : 'MISSED'} ${g}`).join('')}`);
  } finally {
    // Leave the bench cluster as the other benches expect it: not archiving, no kept directories.
    const superuser = new URL(pgUrl);
    superuser.username = 'postgres';
    await query(`ALTER SYSTEM RESET archive_mode`, superuser.toString()).catch((e: unknown) => process.stderr.write(`archive_mode not reset: ${(e as Error).message}\n`));
    for (const d of existsSync(path.dirname(dataDir)) ? readdirSync(path.dirname(dataDir)) : []) {
      if (d.startsWith(`${path.basename(dataDir)}.before-`) || d.startsWith(`${path.basename(dataDir)}.restore-`)) rmSync(path.join(path.dirname(dataDir), d), { recursive: true, force: true });
    }
    await stack.stop();
    rmSync(config.physical.repository, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
