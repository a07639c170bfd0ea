// Destructive steps from the activities' side, against the real test stack: freeing disk leaves a
// running step's temp file alone; log rotation never signals what a bad pid file names (pid 0
// would be this very process group); an authentication error is not "database down"; the webhook
// URL (a secret) never reaches a failure message; `stack status` masks the database password;
// references to backups resolve only inside their directory and only to this target's backups.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../activities';
import { HOST_TAG } from '../../activities/backup-files';
import { stackStatus, formatStatus } from '../../client/stack';
import { loadConfig } from '../../config/load';
import { buildDeps } from '../../worker/deps';
import { testConfigPath, testRoot } from '../support/env';
import { testConfig, withPg } from '../support/stack';

const failureMessage = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'no failure',
    (e: unknown) => (e as Error).message,
  );

test('freeing disk removes the leftovers of interrupted steps, never a temp file a running step owns', async () => {
  const config = testConfig();
  const dir = config.backupDirectory;
  mkdirSync(dir, { recursive: true });
  const writer = spawn('sleep', ['30']);
  try {
    const owned = path.join(dir, `credits_20990101_000000.dump.zst.tmp-${writer.pid}-1-${HOST_TAG}`);
    const stale = path.join(dir, `credits_20990102_000000.dump.zst.tmp-999999-1-${HOST_TAG}`);
    writeFileSync(owned, 'a dump being written');
    writeFileSync(stale, 'a dump nobody finishes');
    const old = new Date(Date.now() - 3600_000);
    utimesSync(owned, old, old); // quiet for an hour, but its writer runs
    utimesSync(stale, old, old);
    const r = await createActivities(await buildDeps(config)).freeResources();
    expect(r.removed).toEqual([stale]);
    expect(r.inUse).toContain(owned);
    expect(existsSync(owned)).toBe(true);
    expect(existsSync(stale)).toBe(false);
    rmSync(owned);
  } finally {
    writer.kill('SIGKILL');
  }
});

test('log rotation with a pid file that is empty, 0, 1 or names another program rotates the log and signals nobody', async () => {
  const dir = path.join(testRoot, 'rotation-pid');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const other = spawn('sleep', ['30']);
  try {
    const cases = ['', '0', '1', String(other.pid)];
    const files = cases.map((text, i) => {
      const log = path.join(dir, `app${i}.log`);
      const pidFile = path.join(dir, `app${i}.pid`);
      writeFileSync(log, `line ${i}\n`);
      writeFileSync(pidFile, text);
      return { path: log, pidFile, expectCommand: 'credits-service/cli.ts', signal: 'SIGHUP' as const };
    });
    const config = { ...testConfig(), logFiles: files };
    // Were pid 0 signalled, SIGHUP would reach this test's own process group and end it here.
    const rotated = await createActivities(await buildDeps(config)).rotateLogs();
    expect(rotated.map((r) => r.rotated !== undefined)).toEqual([true, true, true, true]);
    expect(other.exitCode).toBeNull();
    expect(other.signalCode).toBeNull();
    for (const f of files) expect(readdirSync(dir).some((n) => n.startsWith(`${path.basename(f.path)}-`) && n.endsWith('.gz'))).toBe(true);
  } finally {
    other.kill('SIGKILL');
  }
});

test('a database that answers with an error (an unknown role) is "database-error", not "database-down": nothing is restarted for it', async () => {
  const config = loadConfig({ file: testConfigPath, env: { DATABASE_URL: `postgres://no_such_role@127.0.0.1:55433/credits` } });
  const d = await createActivities(await buildDeps({ ...config, databaseService: testConfig().databaseService })).diagnoseSystem();
  expect(d.cause).toBe('database-error');
  expect(d.database.kind).toBe('error');
  expect(d.findings.join('\n')).toMatch(/database answers with an error \(not a restart's to cure\): .*no_such_role/);
  const down = loadConfig({ file: testConfigPath, env: { DATABASE_URL: 'postgres://zerotrustml@127.0.0.1:1/credits' } });
  expect((await createActivities(await buildDeps(down)).diagnoseSystem()).cause).toBe('database-down');
});

test('a failing webhook is reported by its origin: the URL (a secret) is not in the message', async () => {
  const secret = 'T0KEN-abcdef-1234567890';
  const config = { ...testConfig() };
  config.escalation = { ...config.escalation, webhookUrl: `http://127.0.0.1:1/hooks/${secret}` };
  const alert = { fingerprint: 'fp-webhook', name: 'X', status: 'firing' as const, severity: 'warning' as const, category: 'c', summary: 's', labels: {}, startsAt: new Date().toISOString(), source: 'alertmanager' as const };
  const message = await failureMessage(createActivities(await buildDeps(config)).notify({ level: 1, alert, workflowId: 'w', repeats: 0 }));
  expect(message).toMatch(/^notification webhook http:\/\/127\.0\.0\.1:1\/…: /);
  expect(message).not.toContain(secret);
  // A reference to a secret that is not set says which, and nothing else.
  config.escalation = { ...config.escalation, webhookUrl: '${env:RUNBOOK_TEST_UNSET_WEBHOOK}' };
  const missing = await failureMessage(createActivities(await buildDeps(config)).notify({ level: 1, alert, workflowId: 'w', repeats: 0 }));
  expect(missing).toMatch(/the secret \$\{env:RUNBOOK_TEST_UNSET_WEBHOOK\} is not set/);
});

test('stack status masks the database password', async () => {
  const config = loadConfig({ file: testConfigPath, env: { DATABASE_URL: 'postgres://admin:Sup3rSecretPw@127.0.0.1:1/credits?sslmode=require' } });
  const status = await stackStatus(config);
  expect(JSON.stringify(status)).not.toContain('Sup3rSecretPw');
  expect(formatStatus(status)).not.toContain('Sup3rSecretPw');
  expect(status.postgres.url).toContain('admin:***@127.0.0.1:1/credits');
});

describe('backup references resolve only inside the backup directory, only to backups of the target', () => {
  const config = testConfig();
  const dir = config.backupDirectory;
  let acts: ReturnType<typeof createActivities>;
  let fixture: { file: string; key: string };
  beforeAll(async () => {
    acts = createActivities(await buildDeps(config));
    const key = '20991231_235959';
    const dump = await acts.dumpDatabase({ key });
    fixture = { file: path.basename(dump.path), key };
  });
  afterAll(() => {
    for (const n of readdirSync(dir).filter((x) => x.includes('20991231_235959') || x.startsWith('other_') || x.startsWith('escape'))) rmSync(path.join(dir, n), { force: true });
  });

  test('by name and by slot key: found; the files are private', async () => {
    expect((await acts.resolveBackup({ backup: fixture.file })).file).toBe(fixture.file);
    expect((await acts.resolveBackup({ backup: fixture.key })).file).toBe(fixture.file);
    expect(statSync(path.join(dir, fixture.file)).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, `${fixture.file}.manifest.json`)).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  test('a path, "..", or an absolute path is refused', async () => {
    for (const ref of [`../${path.basename(dir)}/${fixture.file}`, path.join(dir, fixture.file), '/etc/passwd', '.', '..']) {
      expect(await failureMessage(acts.resolveBackup({ backup: ref }))).toMatch(/not a path|no backup of credits named/);
    }
  });

  test('a backup of another database in the same directory is refused, saying whose it is', async () => {
    const manifest = JSON.parse(readFileSync(path.join(dir, `${fixture.file}.manifest.json`), 'utf8')) as { database: string; file: string; key: string };
    const file = `other_${fixture.key}.dump.zst`;
    copyFileSync(path.join(dir, fixture.file), path.join(dir, file));
    writeFileSync(path.join(dir, `${file}.manifest.json`), JSON.stringify({ ...manifest, database: 'other', file }));
    expect(await failureMessage(acts.resolveBackup({ backup: file }))).toMatch(/is a backup of database other, not of the target credits: refusing to use it/);
  });

  test('a symbolic link in the directory that leads out of it is refused', async () => {
    const outside = path.join(testRoot, 'outside-backup.dump.zst');
    copyFileSync(path.join(dir, fixture.file), outside);
    const link = 'escape_20991231_235959.dump.zst';
    symlinkSync(outside, path.join(dir, link));
    const manifest = JSON.parse(readFileSync(path.join(dir, `${fixture.file}.manifest.json`), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(dir, `${link}.manifest.json`), JSON.stringify({ ...manifest, file: link, key: '20991231_235958' }));
    expect(await failureMessage(acts.resolveBackup({ backup: link }))).toMatch(/leads outside .* refusing it/);
  });
});

test('every file a runbook writes is 0600 in a 0700 directory: backups, exports, archives, reports', async () => {
  const config = testConfig();
  const acts = createActivities(await buildDeps(config));
  const key = '20991230_000000';
  const files: string[] = [];
  try {
    const exp = await acts.exportDht({ key });
    const conf = await acts.backupConfiguration({ key });
    const report = await acts.writeReport({ name: `postmortem-mode-test-${Date.now()}.md`, markdown: '# test\n' });
    files.push(exp.path, `${exp.path}.manifest.json`, conf.path, `${conf.path}.manifest.json`, report.path);
    for (const f of files) expect({ f, mode: (statSync(f).mode & 0o777).toString(8) }).toEqual({ f, mode: '600' });
    for (const d of new Set(files.map((f) => path.dirname(f)))) expect({ d, mode: (statSync(d).mode & 0o777).toString(8) }).toEqual({ d, mode: '700' });
  } finally {
    for (const f of files) rmSync(f, { force: true });
  }
});

test('hook commands reach the history as configured, literal credentials masked', async () => {
  const config = testConfig();
  config.scaling = { ...config.scaling, verticalUpgrade: ['cloud', 'resize', '--token=abc123secret', 'https://user:pw0rd@api.example/v1', '--key', '${env:CLOUD_KEY}'] };
  const settings = await createActivities(await buildDeps(config)).scalingSettings();
  expect(settings.upgradeHook).toBe('cloud resize --token=*** https://user:***@api.example/v1 --key ${env:CLOUD_KEY}');
});

test('a restore into the live database, or a drop of it, is refused by the step itself, whatever name it is given', async () => {
  const acts = createActivities(await buildDeps(testConfig()));
  const before = await withPg('credits', async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM credits')).rows[0]!.n));
  expect(await failureMessage(acts.restoreIntoScratch({ path: '/etc/hostname', scratch: 'credits', compression: 'none' }))).toMatch(/refusing to restore into credits: it is the live database/);
  expect(await failureMessage(acts.dropDatabase({ name: 'credits', protect: 'something-else' }))).toMatch(/refusing to drop credits: it is the live database/);
  expect(await withPg('credits', async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM credits')).rows[0]!.n))).toBe(before);
});

test('a configuration restore writes only files the configuration lists, and refuses the whole archive otherwise', async () => {
  const dir = path.join(testRoot, 'config-restore');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const listed = path.join(dir, 'app.env');
  const dropped = path.join(dir, 'old name with spaces.conf');
  writeFileSync(listed, 'A=1\n');
  writeFileSync(dropped, 'B=1\n');
  const config = testConfig();
  config.configBackupDirectory = path.join(dir, 'backups');
  config.configBackupFiles = [listed, dropped];
  const key = '20991229_000000';
  await createActivities(await buildDeps(config)).backupConfiguration({ key });
  writeFileSync(listed, 'A=2\n');
  writeFileSync(dropped, 'B=2\n');
  // The configuration no longer lists the second file: the archive is refused, nothing is written.
  const narrowed = { ...config, configBackupFiles: [listed] };
  const refused = await failureMessage(createActivities(await buildDeps(narrowed)).restoreConfiguration({ backup: key }));
  expect(refused).toContain('expected only files listed in configBackup.files');
  expect(refused).toContain(JSON.stringify(dropped));
  expect(readFileSync(listed, 'utf8')).toBe('A=2\n');
  expect(readFileSync(dropped, 'utf8')).toBe('B=2\n');
  // With both listed, both come back and the replaced ones are kept beside them.
  const r = await createActivities(await buildDeps(config)).restoreConfiguration({ backup: key });
  expect(r.restored.sort()).toEqual([listed, dropped].sort());
  expect(readFileSync(listed, 'utf8')).toBe('A=1\n');
  expect(readFileSync(dropped, 'utf8')).toBe('B=1\n');
  expect(readFileSync(`${dropped}.pre-restore`, 'utf8')).toBe('B=2\n');
});
