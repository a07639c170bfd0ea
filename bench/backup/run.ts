// bench/backup: the database-backup and restore-database runbooks against the runbook's manual
// procedure and the floor, on a generated credits database of at least 400 MB, in one run.
//
//   manual backup:   pg_dump > f.sql && gzip f.sql
//   manual restore:  gunzip -c f.sql.gz | psql   (into an empty database)
//   floor:           pg_dump -Fc -Z0 > /dev/null
//   runbooks:        through Temporal, verification, retention and the swap included
//
// Usage: npm run bench:backup [-- --min-mb 400 --reps 3]
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import type { DatabaseBackupResult, RestoreDatabaseResult } from '../../common/runbooks';
import { postgresBinDir } from '../../sandbox/postgres-cluster';
import { benchRoot, ensureDatabaseSize, median, secs, sh, startBenchStack, timed } from '../support';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const minMb = arg('min-mb', 400);
  const reps = arg('reps', 3);
  const stack = await startBenchStack();
  try {
    const { config, client } = stack;
    const pgUrl = config.database.url;
    const pg = new PgClient({ connectionString: pgUrl });
    await pg.connect();
    const dbBytes = await ensureDatabaseSize(pg, minMb);
    const credits = Number((await pg.query('SELECT count(*) AS n FROM credits')).rows[0].n);
    await pg.end();

    const bin = await postgresBinDir(config.database.binDir);
    const conn = `-h 127.0.0.1 -p ${new URL(pgUrl).port} -U zerotrustml`;
    const work = path.join(benchRoot, 'manual');
    mkdirSync(work, { recursive: true });
    const t = {
      floor: [] as number[],
      manualBackup: [] as number[],
      runbookBackup: [] as number[],
      manualRestore: [] as number[],
      runbookRestoreLive: [] as number[],
      runbookRestoreTotal: [] as number[],
    };
    // Each measurement starts with the dirty pages of the previous one written out (untimed), so
    // no step pays for its predecessor's writeback.
    // A CHECKPOINT too: each restore writes ~1 GB of WAL, and a checkpoint spread over the next
    // steps would slow whichever step it lands in.
    const superuser = new URL(pgUrl);
    superuser.username = 'postgres';
    superuser.pathname = '/postgres';
    const settle = async (): Promise<void> => {
      const c = new PgClient({ connectionString: superuser.toString() });
      await c.connect();
      await c.query('CHECKPOINT');
      await c.end();
      await sh('sync');
    };
    const phases: Array<Record<string, number>> = [];
    let manualBytes = 0;
    let runbookBytes = 0;
    let backupPath = '';

    for (let i = 0; i < reps; i++) {
      process.stderr.write(`repetition ${i + 1}/${reps}\n`);
      // The database was just replaced by a restore: vacuum it as autovacuum would have by 02:00,
      // so every repetition backs up a database in production's steady state (untimed).
      await sh(`${bin}/vacuumdb -q ${conn} -d credits`);
      await settle();
      t.floor.push(await sh(`${bin}/pg_dump -Fc -Z0 ${conn} credits > /dev/null`));

      // The two backups alternate which goes first, so neither always runs in the other's wake.
      const runbookBackup = async (): Promise<void> => {
        const key = `20200101_0${String(i).padStart(5, '0')}`;
        await settle();
        const backup = await timed(() =>
          client.workflow.execute<(i: object) => Promise<DatabaseBackupResult>>('databaseBackup', {
            taskQueue: config.temporal.taskQueue,
            workflowId: `bench-backup-${Date.now()}`,
            args: [{ key }],
          }),
        );
        t.runbookBackup.push(backup.ms);
        phases.push({ ...(backup.value.manifest?.phasesMs ?? {}), workflowMs: backup.ms, activityTotalMs: backup.value.durationMs });
        runbookBytes = backup.value.bytes;
        backupPath = backup.value.path;
      };
      const manualBackup = async (): Promise<void> => {
        rmSync(path.join(work, 'f.sql.gz'), { force: true });
        await settle();
        t.manualBackup.push(await sh(`${bin}/pg_dump ${conn} credits > ${work}/f.sql && gzip ${work}/f.sql`));
        manualBytes = statSync(path.join(work, 'f.sql.gz')).size;
      };
      const backups = [runbookBackup, manualBackup];
      for (const step of i % 2 === 0 ? backups : [...backups].reverse()) await step();

      await sh(`${bin}/dropdb ${conn} --if-exists manual_restore && ${bin}/createdb ${conn} manual_restore`);
      await settle();
      t.manualRestore.push(await sh(`gunzip -c ${work}/f.sql.gz | ${bin}/psql -X -q ${conn} -d manual_restore > /dev/null`));
      await sh(`${bin}/dropdb ${conn} manual_restore`);

      await settle();
      const restore = await timed(() =>
        client.workflow.execute<(i: object) => Promise<RestoreDatabaseResult>>('restoreDatabase', {
          taskQueue: config.temporal.taskQueue,
          workflowId: `bench-restore-${Date.now()}`,
          args: [{ backup: path.basename(backupPath) }],
        }),
      );
      if (restore.value.outcome !== 'succeeded') throw new Error(`restore ended ${restore.value.outcome}`);
      t.runbookRestoreTotal.push(restore.ms);
      // Live = restored database under its name and verified; the rest is dropping the old one.
      t.runbookRestoreLive.push(restore.ms - (restore.value.durationMs - (restore.value.liveAfterMs ?? restore.value.durationMs)));
      rmSync(backupPath, { force: true });
      rmSync(backupPath + '.manifest.json', { force: true });
    }

    const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof t, number>;
    const ratios = {
      backupSpeedupVsManual: m.manualBackup / m.runbookBackup,
      backupVsFloor: m.runbookBackup / m.floor,
      sizeVsManual: runbookBytes / manualBytes,
      restoreSpeedupVsManual: m.manualRestore / m.runbookRestoreLive,
      restoreTotalSpeedupVsManual: m.manualRestore / m.runbookRestoreTotal,
    };
    const report = {
      at: new Date().toISOString(),
      database: { bytes: dbBytes, credits },
      reps,
      medianMs: m,
      samplesMs: t,
      backupPhasesMs: phases,
      bytes: { manual: manualBytes, runbook: runbookBytes },
      ratios,
      goals: {
        'backup >= 3x faster than manual': ratios.backupSpeedupVsManual >= 3,
        'backup within 1.5x of the floor': ratios.backupVsFloor <= 1.5,
        'backup no larger than manual': ratios.sizeVsManual <= 1,
        'restore no slower than manual': ratios.restoreSpeedupVsManual >= 1,
      },
    };
    console.log(`
database: ${(dbBytes / 1048576).toFixed(0)} MB, ${credits} credits; median of ${reps}
                                   time        size
floor  pg_dump -Fc -Z0 >/dev/null  ${secs(m.floor).padStart(9)}
manual pg_dump | gzip              ${secs(m.manualBackup).padStart(9)}   ${(manualBytes / 1048576).toFixed(1)} MB
runbook database-backup            ${secs(m.runbookBackup).padStart(9)}   ${(runbookBytes / 1048576).toFixed(1)} MB   (dump + verify + retention)
manual gunzip | psql               ${secs(m.manualRestore).padStart(9)}
runbook restore-database, live     ${secs(m.runbookRestoreLive).padStart(9)}               (verify + scratch restore + check + swap + verify)
runbook restore-database, total    ${secs(m.runbookRestoreTotal).padStart(9)}               (… + drop the pre-restore database)

ratios
  backup speed-up vs manual   ${ratios.backupSpeedupVsManual.toFixed(2)}x   (goal >= 3)
  backup time / floor         ${ratios.backupVsFloor.toFixed(2)}x   (goal <= 1.5)
  backup size / manual        ${ratios.sizeVsManual.toFixed(2)}x   (goal <= 1)
  restore speed-up vs manual  ${ratios.restoreSpeedupVsManual.toFixed(2)}x   (goal >= 1; ${ratios.restoreTotalSpeedupVsManual.toFixed(2)}x with the drop)
`);
    mkdirSync(path.join(__dirname, '..', 'results'), { recursive: true });
    writeFileSync(path.join(__dirname, '..', 'results', 'backup.json'), JSON.stringify(report, null, 2) + '\n');
  } finally {
    await stack.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
