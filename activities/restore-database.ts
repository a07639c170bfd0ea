// Activities of the restore-database runbook. Nothing here writes to the live database: a restore
// goes into a scratch database, and the live one is only ever renamed, so it can be swapped back.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { BackupManifest } from '../common/backup-manifest';
import { Failure } from '../common/failures';
import { CommandError, runCommand } from '../adapters/process';
import type { Client as PgClient } from 'pg';
import { countRows, listTables, quoteIdent } from '../adapters/postgres';
import { serviceControl } from '../adapters/service-control';
import { databaseTarget } from '../config/load';
import { createDatabaseBackupActivities } from './database-backup';
import type { ActivityDeps } from './deps';
import { progressReporter } from './progress';

export interface TableCheck {
  matches: boolean;
  tables: Record<string, number>;
  differences: string[];
  /** The database's OID, which a rename keeps: how the swap is verified. */
  oid: number;
}

/** Ends the client sessions on a database that this role may end, one by one: a session it may
 * not end (another role's without pg_signal_backend, or autovacuum, which only a superuser may
 * end) is left, and the caller's wait for "object in use" covers it (autovacuum finishes; the
 * application was stopped). A failed termination must not fail the step: that turned a busy
 * autovacuum on the live database into five attempts of the swap. */
async function endSessions(c: PgClient, database: string, o: { ownOnly?: boolean } = {}): Promise<number> {
  const pids = (
    await c.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'${o.ownOnly ? ' AND usename = current_user' : ''}`,
      [database],
    )
  ).rows.map((r) => r.pid);
  let ended = 0;
  for (const pid of pids) {
    try {
      if ((await c.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid])).rows[0]?.ok) ended++;
    } catch {
      // not ours to end: waited out by the caller
    }
  }
  return ended;
}

export function createRestoreDatabaseActivities(deps: ActivityDeps) {
  const pg = deps.postgres;
  const backupActivities = createDatabaseBackupActivities(deps);

  /** The configured live database on the configured server. The drill's adapters point at a
   * cluster of its own, where a database of the same name is its to replace; on the live server it
   * is refused before anything happens. */
  const live = databaseTarget(deps.config);
  function refuseLive(name: string, what: string): void {
    if (name === live.name && pg.target.port === live.port && pg.target.host === live.host.replace(/^\[(.*)\]$/, '$1')) {
      throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `refusing to ${what} ${name}: it is the live database`, nonRetryable: true });
    }
  }

  /** Where a restore keeps the expanded (seekable) copy of a compressed backup. */
  function expandedPath(input: { path: string; scratch: string }): string {
    return path.join(path.dirname(input.path), `.restore-${input.scratch}.dump`);
  }

  /** Creates `scratch` (dropping a leftover of an earlier attempt: the name is this run's own) and
   * restores the backup into it in parallel (pg_restore -j) from the expanded copy that the
   * verification wrote. If that copy is gone (another host, a cleaned disk), it is verified and
   * expanded again here: nothing unverified is ever restored. */
  async function restoreIntoScratch(input: { path: string; scratch: string; compression: BackupManifest['compression'] }): Promise<{ durationMs: number }> {
    // It drops and recreates the scratch database: never the live one, whatever name it is given.
    refuseLive(input.scratch, 'restore into');
    const started = Date.now();
    const progress = progressReporter();
    const plain = input.compression === 'none' ? input.path : expandedPath(input);
    if (!existsSync(plain)) {
      progress.report({ phase: 'verify and expand', detail: plain }, true);
      await backupActivities.verifyBackup({ path: input.path, expandTo: plain });
    }
    await pg.withClient('postgres', async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(input.scratch)} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${quoteIdent(input.scratch)} OWNER ${quoteIdent(pg.target.user)} TEMPLATE template0`);
    });
    progress.report({ phase: 'restore', detail: `pg_restore into ${input.scratch}` }, true);
    const ticker = setInterval(() => progress.report({ phase: 'restore', detail: `pg_restore into ${input.scratch}` }), 1000);
    try {
      // -e: stop at the first error instead of leaving a partial database behind.
      await runCommand([pg.tool('pg_restore'), '-e', '-j', String(deps.config.backup.threads), ...pg.toolArgs(input.scratch), plain], {
        // The scratch database is not live: its commits need not wait for the WAL flush (the swap's
        // own commit, synchronous, makes everything before it durable), and index builds get the
        // memory to sort in one pass.
        env: { ...pg.toolEnv(), PGOPTIONS: '-c synchronous_commit=off -c maintenance_work_mem=256MB' },
        signal: progress.signal,
      });
    } catch (e) {
      if (e instanceof CommandError) throw ApplicationFailure.create({ type: Failure.CommandFailed, message: e.message });
      throw e;
    } finally {
      clearInterval(ticker);
    }
    return { durationMs: Date.now() - started };
  }

  /** Verifies the backup and writes its expanded copy for restoreIntoScratch, in one read. */
  async function verifyAndExpandBackup(input: { path: string; scratch: string; compression: BackupManifest['compression']; expand: boolean }): Promise<{ expanded?: string }> {
    const expanded = input.expand && input.compression !== 'none' ? expandedPath(input) : undefined;
    await backupActivities.verifyBackup({ path: input.path, expandTo: expanded });
    return { expanded };
  }

  async function discardExpandedBackup(input: { path: string; scratch: string; compression: BackupManifest['compression'] }): Promise<void> {
    if (input.compression !== 'none') await rm(expandedPath(input), { force: true });
  }

  /** Row counts of every table against the manifest, and no table missing or extra. The counts
   * run on several connections at once: a freshly restored table is read for the first time
   * here (hint bits), which is CPU work worth spreading over the cores. */
  async function checkAgainstManifest(input: { database: string; tables: Record<string, number> }): Promise<TableCheck> {
    const { names, oid, sizes } = await pg.withClient(input.database, async (c) => ({
      names: await listTables(c),
      oid: Number((await c.query<{ oid: string }>('SELECT oid FROM pg_database WHERE datname = current_database()')).rows[0]!.oid),
      sizes: new Map(
        (await c.query<{ t: string; p: string }>(`SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS t, c.relpages AS p FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace`)).rows.map((r) => [r.t, Number(r.p)]),
      ),
    }));
    const lanes = Math.max(1, Math.min(deps.config.backup.threads, names.length));
    const queue = [...names].sort((a, b) => (sizes.get(b) ?? 0) - (sizes.get(a) ?? 0));
    const tables: Record<string, number> = {};
    // Counting a large table takes a while: heartbeat on a clock, not per table.
    const progress = progressReporter();
    const ticker = setInterval(() => progress.report({ phase: 'count rows', detail: `${Object.keys(tables).length} of ${names.length} tables` }), 1000);
    try {
      await Promise.all(
        Array.from({ length: lanes }, () =>
          pg.withClient(input.database, async (c) => {
            for (let t = queue.shift(); t !== undefined; t = queue.shift()) Object.assign(tables, await countRows(c, [t]));
          }),
        ),
      );
    } finally {
      clearInterval(ticker);
    }
    const differences: string[] = [];
    for (const [t, n] of Object.entries(input.tables)) {
      if (!(t in tables)) differences.push(`${t}: missing (backup has ${n} rows)`);
      else if (tables[t] !== n) differences.push(`${t}: ${tables[t]} rows, backup has ${n}`);
    }
    for (const t of names) if (!(t in input.tables)) differences.push(`${t}: not in the backup`);
    return { matches: differences.length === 0, tables, differences, oid };
  }

  /** After the swap: the database now under the live name is the very one that was checked
   * (same OID), it accepts connections, and it has exactly the manifest's tables. */
  async function verifySwapped(input: { database: string; oid: number; tables: Record<string, number> }): Promise<{ matches: boolean; differences: string[] }> {
    return pg.withClient(input.database, async (c) => {
      const differences: string[] = [];
      const oid = Number((await c.query<{ oid: string }>('SELECT oid FROM pg_database WHERE datname = current_database()')).rows[0]!.oid);
      if (oid !== input.oid) differences.push(`${input.database} is database ${oid}, not the restored and checked ${input.oid}`);
      const names = await listTables(c);
      for (const t of Object.keys(input.tables)) if (!names.includes(t)) differences.push(`${t}: missing`);
      for (const t of names) if (!(t in input.tables)) differences.push(`${t}: not in the backup`);
      return { matches: differences.length === 0, differences };
    });
  }

  async function requireMatch(input: { database: string; tables: Record<string, number>; what: string }): Promise<TableCheck> {
    const check = await checkAgainstManifest(input);
    if (!check.matches) {
      throw ApplicationFailure.create({
        type: Failure.RestoreMismatch,
        message: `${input.what} ${input.database} does not match the backup's manifest: ${check.differences.join('; ')}`,
        nonRetryable: true,
      });
    }
    return check;
  }

  /** Waits until no session but autovacuum's is left on the freshly restored scratch database, and
   * until autovacuum is done with it too (it starts on a large restore, and a database with any
   * session cannot be renamed). Called before the application stops, so the wait is not downtime.
   * Sessions of our own role (a tool's leftover) are ended. */
  async function awaitDatabaseIdle(input: { database: string; timeoutSeconds: number }): Promise<{ waitedMs: number }> {
    const started = Date.now();
    const progress = progressReporter();
    return pg.withClient('postgres', async (c) => {
      for (;;) {
        await endSessions(c, input.database, { ownOnly: true });
        const busy = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [input.database])).rows[0]!.n);
        if (busy === 0) return { waitedMs: Date.now() - started };
        if (Date.now() - started > input.timeoutSeconds * 1000) {
          throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `${input.database} still has ${busy} session(s) (autovacuum?) after ${input.timeoutSeconds} s` });
        }
        progress.report({ phase: 'wait for the scratch database to be idle', detail: `${busy} session(s)` });
        await new Promise((r) => setTimeout(r, 250));
      }
    });
  }

  /** target -> previous, scratch -> target, in one transaction. Idempotent: an already completed
   * swap is recognised and reported as done. */
  async function swapDatabases(input: { target: string; scratch: string; previous: string }): Promise<{ swapped: boolean; terminated: number }> {
    return pg.withClient('postgres', async (c) => {
      const exists = async (n: string): Promise<boolean> => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [n])).rowCount === 1;
      if ((await exists(input.previous)) && (await exists(input.target)) && !(await exists(input.scratch))) {
        return { swapped: true, terminated: 0 };
      }
      if (!(await exists(input.scratch))) {
        throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `scratch database ${input.scratch} does not exist`, nonRetryable: true });
      }
      if (await exists(input.previous)) {
        throw ApplicationFailure.create({
          type: Failure.PreconditionFailed,
          message: `${input.previous} already exists; refusing to overwrite a kept database`,
          nonRetryable: true,
        });
      }
      const targetExists = await exists(input.target);
      let terminated = 0;
      if (targetExists) {
        // Close the door, then clear the room: new sessions are refused while old ones end.
        await c.query(`ALTER DATABASE ${quoteIdent(input.target)} ALLOW_CONNECTIONS false`);
      }
      try {
        for (let attempt = 0; ; attempt++) {
          if (targetExists) {
            terminated += await endSessions(c, input.target);
          }
          try {
            await c.query('BEGIN');
            if (targetExists) await c.query(`ALTER DATABASE ${quoteIdent(input.target)} RENAME TO ${quoteIdent(input.previous)}`);
            await c.query(`ALTER DATABASE ${quoteIdent(input.scratch)} RENAME TO ${quoteIdent(input.target)}`);
            await c.query('COMMIT');
            break;
          } catch (e) {
            await c.query('ROLLBACK').catch(() => undefined);
            // 55006: object in use (a terminated session has not exited yet, or autovacuum started
            // on the scratch database since it was idle).
            if ((e as { code?: string }).code !== '55006' || attempt >= 300) throw e;
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      } finally {
        if (targetExists) {
          const name = (await exists(input.previous)) ? input.previous : input.target;
          await c.query(`ALTER DATABASE ${quoteIdent(name)} ALLOW_CONNECTIONS true`);
        }
      }
      return { swapped: true, terminated };
    });
  }

  /** Puts the kept database back under the target's name; the failed restore keeps `failedName`. */
  async function swapBack(input: { target: string; previous: string; failedName: string }): Promise<void> {
    await pg.withClient('postgres', async (c) => {
      await endSessions(c, input.target);
      await c.query('BEGIN');
      await c.query(`ALTER DATABASE ${quoteIdent(input.target)} RENAME TO ${quoteIdent(input.failedName)}`);
      await c.query(`ALTER DATABASE ${quoteIdent(input.previous)} RENAME TO ${quoteIdent(input.target)}`);
      await c.query('COMMIT');
    });
  }

  async function dropDatabase(input: { name: string; protect: string }): Promise<{ dropped: boolean }> {
    // The live database is never dropped by a runbook, whatever name a bug might pass here.
    if (input.name === input.protect || input.name === pg.target.database) {
      throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `refusing to drop ${input.name}: it is the live database`, nonRetryable: true });
    }
    refuseLive(input.name, 'drop');
    return pg.withClient('postgres', async (c) => {
      const r = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [input.name]);
      if (r.rowCount !== 1) return { dropped: false };
      await c.query(`DROP DATABASE ${quoteIdent(input.name)} WITH (FORCE)`);
      return { dropped: true };
    });
  }

  /** Stops or starts the application. A stop of an application that is not running does nothing
   * and says so, so the restore does not start one that an operator had stopped. */
  async function runApplicationCommand(input: { action: 'stop' | 'start' }): Promise<{ ran: boolean; command?: string[]; wasRunning?: boolean }> {
    const spec = deps.config.applicationService;
    if (!spec) return { ran: false };
    const service = serviceControl(spec);
    try {
      if (input.action === 'stop' && (await service.isActive()) === false) return { ran: false, wasRunning: false };
      await service[input.action]();
    } catch (e) {
      throw ApplicationFailure.create({ type: Failure.CommandFailed, message: `application ${input.action}: ${(e as Error).message}` });
    }
    return { ran: true, command: spec.type === 'systemd' ? ['systemctl', input.action, spec.unit] : spec[input.action] };
  }

  return { awaitDatabaseIdle, verifySwapped, verifyAndExpandBackup, discardExpandedBackup, restoreIntoScratch, checkAgainstManifest, requireMatch, swapDatabases, swapBack, dropDatabase, runApplicationCommand };
}
