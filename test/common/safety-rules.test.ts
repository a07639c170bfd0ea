// The small rules the safety of the runbooks rests on, each against the shapes that broke it:
// names that PostgreSQL would cut, pid files that name the wrong process, errors that are not a
// database being down, secrets in messages, temp files that a running step owns, exit codes.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { HOST_TAG, tempInUse, tempPath } from '../../activities/backup-files';
import { isConnectionFailure } from '../../activities/incident';
import { writerPid } from '../../activities/maintenance';
import { webhookOrigin } from '../../activities/notify';
import { exitCodeOf } from '../../client/run';
import { flagAgainst } from '../../common/backup-manifest';
import { previousDatabaseName, scratchDatabaseName } from '../../common/database-names';
import { fnv1a, sha256Hex } from '../../common/digest';
import { utf8Length } from '../../common/formats';
import { nodeSslOptions, Postgres } from '../../adapters/postgres';
import { redact, redactUrl, resolveSecretRefs } from '../../adapters/secrets';
import { testPorts } from '../support/env';

describe('database names beside the live one', () => {
  const names = ['credits', 'a'.repeat(63), `${'b'.repeat(55)}_restore`, 'Crédits Ünïcode ünd Spaß mit sehr langen Namen ÄÖÜ äöü', '"quoted" name; DROP', 'x'];
  test.each(names)('%s: scratch and previous names fit 63 bytes, differ from it and from each other', (live) => {
    for (const suffix of ['0f3a9c21', 'ffffffff']) {
      const scratch = scratchDatabaseName(live, suffix);
      const previous = previousDatabaseName(live, '20251001_020000', suffix);
      for (const n of [scratch, previous]) {
        expect(utf8Length(n)).toBeLessThanOrEqual(63);
        expect(n).not.toBe(live);
        // What PostgreSQL would make of it (it cuts at 63 bytes) is still not the live name.
        expect(Buffer.from(n).subarray(0, 63).toString()).not.toBe(live);
      }
      expect(scratch).not.toBe(previous);
    }
  });

  test('two long names with the same 40-byte prefix keep apart', () => {
    const a = `${'p'.repeat(50)}_one`;
    const b = `${'p'.repeat(50)}_two`;
    expect(scratchDatabaseName(a, 'abc')).not.toBe(scratchDatabaseName(b, 'abc'));
  });
});

test('the workflow-side SHA-256 equals node:crypto, on plain, empty, multi-block and Unicode text', () => {
  for (const text of ['', 'abc', 'x'.repeat(1000), 'plan\nrestore credits ünd 🚀', 'a'.repeat(55), 'a'.repeat(56), 'a'.repeat(64)]) {
    expect(sha256Hex(text)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
  }
  expect(fnv1a('credits')).toMatch(/^[0-9a-f]{8}$/);
});

describe('log rotation signals only the process the pid file should name', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pidfile-'));
  const pidFile = path.join(dir, 'app.pid');
  test.each([
    ['an empty pid file (pid 0 would be the whole process group)', ''],
    ['pid 0', '0'],
    ['pid 1 (init)', '1'],
    ['a negative pid (a process group)', '-42'],
    ['text', 'credits-service'],
    ['a pid with trailing junk', '123abc'],
  ])('%s: refused', (_what, text) => {
    writeFileSync(pidFile, text);
    expect(writerPid(pidFile, 'credits-service')).toMatch(/^no process/);
  });

  test("the worker's own pid: refused", () => {
    writeFileSync(pidFile, String(process.pid));
    expect(writerPid(pidFile, 'jest')).toMatch(/never signalled/);
  });

  test('a live process running another command: refused, and it keeps running', async () => {
    const other = spawn('sleep', ['30']);
    try {
      writeFileSync(pidFile, String(other.pid));
      expect(writerPid(pidFile, 'credits-service/cli.ts')).toMatch(/runs "sleep 30", not the log's writer/);
      expect(writerPid(pidFile, undefined)).toMatch(/no expectCommand/);
      // The expected command: that pid is returned.
      expect(writerPid(pidFile, 'sleep')).toBe(other.pid);
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('a pid that does not run: refused', () => {
    writeFileSync(pidFile, '999999');
    expect(writerPid(pidFile, 'sleep')).toMatch(/no process 999999/);
  });
});

describe('only a refused or timed-out connection is "database down"', () => {
  const connect = async (url: string): Promise<unknown> => {
    const c = new PgClient({ connectionString: url, connectionTimeoutMillis: 3000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.end();
      return undefined;
    } catch (e) {
      return e;
    }
  };

  test('connection refused (nothing listens): down', async () => {
    expect(isConnectionFailure(await connect('postgres://zerotrustml@127.0.0.1:1/credits'))).toBe(true);
  });

  test('an unknown role (the server answers with an error): not down', async () => {
    const e = await connect(`postgres://no_such_role@127.0.0.1:${testPorts.postgres}/credits`);
    expect(e).toBeDefined();
    expect(isConnectionFailure(e)).toBe(false);
  });

  test('a database that does not exist: not down', async () => {
    const e = await connect(`postgres://zerotrustml@127.0.0.1:${testPorts.postgres}/no_such_database`);
    expect(e).toBeDefined();
    expect(isConnectionFailure(e)).toBe(false);
  });

  test('too many connections (53300) and authentication (28P01): not down; a timeout: down', () => {
    expect(isConnectionFailure(Object.assign(new Error('sorry, too many clients already'), { code: '53300' }))).toBe(false);
    expect(isConnectionFailure(Object.assign(new Error('password authentication failed for user "x"'), { code: '28P01' }))).toBe(false);
    expect(isConnectionFailure(new Error('Connection terminated due to connection timeout'))).toBe(true);
    expect(isConnectionFailure(Object.assign(new Error('connect ETIMEDOUT 10.0.0.1:5432'), { code: 'ETIMEDOUT' }))).toBe(true);
  });
});

describe('secrets never show', () => {
  test('URL passwords, key=value secrets and bearer tokens are masked', () => {
    expect(redactUrl('postgres://admin:s3cr3t@db.example:5432/credits?sslmode=require')).toBe('postgres://admin:***@db.example:5432/credits?…');
    expect(redact('curl -H "Authorization: Bearer abc.def" https://u:p@h/x --password=hunter2 token=xyz PGPASSWORD=pw')).not.toMatch(/abc\.def|hunter2|xyz|:p@|=pw/);
    expect(webhookOrigin('https://hooks.example.com/services/T000/B000/XXXXSECRET')).toBe('https://hooks.example.com/…');
    expect(webhookOrigin('${env:RUNBOOK_WEBHOOK_URL}')).toBe('the configured webhook');
  });

  test('${env:NAME} and ${file:PATH} resolve at the moment of use, and a missing one says which', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'secret-'));
    writeFileSync(path.join(dir, 'token'), 'from-a-file\nsecond line\n');
    expect(resolveSecretRefs('--token=${env:T1} ${file:' + path.join(dir, 'token') + '}', { T1: 'from-env' })).toBe('--token=from-env from-a-file');
    expect(() => resolveSecretRefs('${env:NOT_SET_ANYWHERE}', {})).toThrow(/\$\{env:NOT_SET_ANYWHERE\} is not set/);
  });
});

test("sslmode and friends of DATABASE_URL reach the tools and node-postgres (they used to be dropped)", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tls-'));
  writeFileSync(path.join(dir, 'ca.pem'), 'CA');
  const pg = Postgres.fromUrl(`postgres://u:p%40ss@db.example:6543/credits?sslmode=verify-full&sslrootcert=${path.join(dir, 'ca.pem')}`, '/usr/bin');
  expect(pg.target).toMatchObject({ host: 'db.example', port: 6543, user: 'u', password: 'p@ss', database: 'credits' });
  expect(pg.toolEnv()).toMatchObject({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: path.join(dir, 'ca.pem'), PGPASSWORD: 'p@ss' });
  expect(nodeSslOptions(pg.target.ssl)).toMatchObject({ rejectUnauthorized: true, ca: 'CA' });
  expect(nodeSslOptions({ mode: 'require' })).toEqual({ rejectUnauthorized: false });
  expect(nodeSslOptions({ mode: 'disable' })).toBe(false);
  expect(Postgres.fromUrl('postgres://u@h/db', '/x').toolEnv().PGSSLMODE).toBeUndefined();
});

test('a temp file of this host is in use while its owner runs; one of another host while it is written to', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'temps-'));
  const live = spawn('sleep', ['30']);
  try {
    const owned = path.join(dir, `credits_x.dump.zst.tmp-${live.pid}-1-${HOST_TAG}`);
    const deadRecent = path.join(dir, `credits_w.dump.zst.tmp-999999-1-${HOST_TAG}`);
    const otherHostRecent = path.join(dir, 'credits_y.dump.zst.tmp-999999-1-0badc0de');
    const otherHostStale = path.join(dir, 'credits_z.dump.zst.tmp-999999-1-0badc0de');
    for (const f of [owned, deadRecent, otherHostRecent, otherHostStale]) writeFileSync(f, 'partial');
    const old = new Date(Date.now() - 3600_000);
    utimesSync(owned, old, old);
    utimesSync(otherHostStale, old, old);
    expect(await tempInUse(owned)).toBe(true); // quiet for an hour, but its writer runs
    expect(await tempInUse(deadRecent)).toBe(false); // a killed worker's leftover, just written
    expect(await tempInUse(otherHostRecent)).toBe(true);
    expect(await tempInUse(otherHostStale)).toBe(false);
    expect(path.basename(tempPath('/x/credits.dump.zst', 2))).toBe(`credits.dump.zst.tmp-${process.pid}-2-${HOST_TAG}`);
  } finally {
    live.kill('SIGKILL');
  }
});

test('a backup much smaller than the previous verified one is flagged, with why', () => {
  const previous = { key: '20251001_020000', bytes: 10_000_000, tables: { 'public.credits': 50_000, 'public.nodes': 40 } };
  expect(flagAgainst({ bytes: 9_000_000, tables: { 'public.credits': 50_100, 'public.nodes': 40 } }, previous, 0.5)).toBeUndefined();
  expect(flagAgainst({ bytes: 40_000, tables: { 'public.credits': 0, 'public.nodes': 0 } }, previous, 0.5)).toMatch(/40000 bytes against 10000000 .*0 rows against 50040/);
  expect(flagAgainst({ bytes: 9_000_000, tables: { 'public.credits': 50_000 } }, previous, 0.5)).toMatch(/1 table\(s\) of 20251001_020000 missing \(public\.nodes\)/);
});

test('exit codes: 0 succeeded or dry-run, 1 failed (a FAILED drill too), 3 escalated, rejected or waiting on a human', () => {
  for (const o of ['succeeded', 'passed', 'resolved', 'dry-run']) expect(exitCodeOf({ outcome: o })).toBe(0);
  for (const o of ['failed', undefined, 'something new']) expect(exitCodeOf({ outcome: o })).toBe(1);
  for (const o of ['escalated', 'rejected', 'approval-timeout', 'closed-by-operator']) expect(exitCodeOf({ outcome: o })).toBe(3);
});
