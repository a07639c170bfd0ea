// Configuration: the runbook's defaults, environment overrides, and errors that name the key.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { productionTemplate } from '../../client/init';
import { ConfigError, loadConfig } from '../../config/load';
import { projectRoot } from '../../config/project';
import { workerVersion } from '../../worker/versioning';

const empty = mkdtempSync(path.join(os.tmpdir(), 'runbook-config-'));

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

test('defaults are the runbook\'s: database credits as zerotrustml, backups at 02:00 kept 30 days', () => {
  const c = loadConfig({ env: {}, cwd: empty });
  expect(c.database.url).toBe('postgres://zerotrustml@127.0.0.1:55432/credits');
  expect(c.backup.schedule).toBe('02:00');
  expect(c.backup.retentionDays).toBe(30);
  expect(c.database.production).toBe(false);
  expect(c.backupDirectory).toBe(path.join(empty, '.data', 'backups', 'postgres'));
});

test('environment overrides: DATABASE_URL means an existing server; RUNBOOK_SET_ sets any key', () => {
  const c = loadConfig({ env: { DATABASE_URL: 'postgres://ops@db.internal:5432/credits', RUNBOOK_SET_backup__retentionDays: '7', RUNBOOK_SET_database__production: 'true' }, cwd: empty });
  expect(c.database.url).toBe('postgres://ops@db.internal:5432/credits');
  expect(c.database.managed).toBe(false);
  expect(c.backup.retentionDays).toBe(7);
  expect(c.database.production).toBe(true);
});

test('a bad value names the key, what was expected, what was found and where it came from', () => {
  expect(problems(() => loadConfig({ env: { RUNBOOK_SET_backup__retentionDays: '0' }, cwd: empty }))).toEqual([
    expect.stringMatching(/^backup\.retentionDays: expected at least 1 day, found number 0 \(from environment variable RUNBOOK_SET_backup__retentionDays\)$/),
  ]);
  expect(problems(() => loadConfig({ env: { RUNBOOK_TIMEZONE: 'Mars/Olympus' }, cwd: empty }))).toEqual([
    expect.stringMatching(/^timezone: expected an IANA time zone .*found "Mars\/Olympus"/),
  ]);
  expect(problems(() => loadConfig({ env: { RUNBOOK_SET_backup__compression: 'lz4' }, cwd: empty }))[0]).toMatch(/backup\.compression: .*"zstd".*found "lz4"/);
});

test('a file that is not YAML, or not a mapping, or missing when named, is reported as such', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runbook-config-'));
  writeFileSync(path.join(dir, 'a.yaml'), 'backup: [unclosed');
  expect(() => loadConfig({ file: path.join(dir, 'a.yaml'), env: {} })).toThrow(/not valid YAML/);
  writeFileSync(path.join(dir, 'b.yaml'), '- just\n- a list\n');
  expect(() => loadConfig({ file: path.join(dir, 'b.yaml'), env: {} })).toThrow(/expected a mapping of settings at the top level, found a list/);
  expect(() => loadConfig({ file: path.join(dir, 'missing.yaml'), env: {} })).toThrow(/does not exist/);
});

test('hostile configuration values are refused, each naming its key: routes to no runbook, names with paths, unknown or bad URL parameters, pid files without the command to check', () => {
  const file = path.join(empty, 'hostile.yaml');
  writeFileSync(
    file,
    [
      'receiver:',
      '  routes: { HighErrorRate: "rm -rf /" }',
      'conductor:',
      '  appId: ../../etc',
      'logRotation:',
      '  files:',
      '    - path: /var/log/app.log',
      '      pidFile: /run/app.pid',
      'escalation:',
      '  webhookUrl: "not a url"',
      'approvals:',
      '  approvers: ["bob; rm -rf /"]',
    ].join('\n'),
  );
  const found = problems(() => loadConfig({ file, env: {}, cwd: empty })).join('\n');
  expect(found).toMatch(/receiver\.routes\.HighErrorRate: expected a runbook name \(database-backup, /);
  expect(found).toMatch(/conductor\.appId: expected 1-100 letters, digits, _ \. - .*found "\.\.\/\.\.\/etc"/);
  expect(found).toMatch(/logRotation\.files\.0\.expectCommand: expected expectCommand .* with pidFile/);
  expect(found).toMatch(/escalation\.webhookUrl: expected a URL, or a secret reference like \$\{env:RUNBOOK_WEBHOOK_URL\}/);
  expect(found).toMatch(/approvals\.approvers\.0: expected a name of 1-64 letters/);
  const url = (u: string): string => problems(() => loadConfig({ env: { DATABASE_URL: u }, cwd: empty })).join('\n');
  expect(url('postgres://u@h/credits?sslmode=sometimes')).toMatch(/expected sslmode to be one of disable, allow, prefer, require, verify-ca, verify-full/);
  expect(url('postgres://u@h/credits?options=-c%20x')).toMatch(/options is not honoured/);
  expect(url(`postgres://u@h/${'x'.repeat(64)}`)).toMatch(/expected a database name of 1-63 bytes/);
  // An odd but valid name, percent-encoded, is accepted as it is.
  expect(loadConfig({ env: { DATABASE_URL: `postgres://u@h/${encodeURIComponent('Crédits "x"; y')}` }, cwd: empty }).database.url).toContain('Cr%C3%A9dits');
});

test('the physical tier: on for the sandbox\'s own cluster, off for another server until configured, and then it needs the data directory', () => {
  const sandbox = loadConfig({ env: {}, cwd: empty });
  expect(sandbox.physical).toMatchObject({ enabled: true, stanza: 'credits', archiveTimeoutSeconds: 60, dataDirectory: path.join(sandbox.dataDir, 'postgres'), repository: path.join(sandbox.dataDir, 'backups', 'pgbackrest') });
  const remote = { DATABASE_URL: 'postgres://credits@db.internal:5432/credits' };
  expect(loadConfig({ cwd: empty, env: remote }).physical.enabled).toBe(false);
  expect(problems(() => loadConfig({ cwd: empty, env: { ...remote, RUNBOOK_SET_physicalBackup__enabled: 'true' } }))).toEqual([expect.stringMatching(/^physicalBackup\.dataDirectory: required/)]);
  const on = loadConfig({ cwd: empty, env: { ...remote, RUNBOOK_SET_physicalBackup__enabled: 'true', RUNBOOK_SET_physicalBackup__dataDirectory: '/var/lib/postgresql/15/main' } });
  expect(on.physical).toMatchObject({ enabled: true, dataDirectory: '/var/lib/postgresql/15/main', socketDirectory: undefined });
  for (const [key, value] of [['physicalBackup__stanza', '"../x"'], ['physicalBackup__archiveTimeoutSeconds', '0'], ['physicalBackup__fullDay', 'someday'], ['physicalBackup__incrementalEveryMinutes', '1']]) {
    expect(problems(() => loadConfig({ cwd: empty, env: { [`RUNBOOK_SET_${key}`]: value } }))[0]).toMatch(new RegExp(`^${key!.replace('__', '\\.')}: `));
  }
});

describe('a production configuration', () => {
  test('runbook init --production writes a template that names every value left to fill in, and loads once they are filled', async () => {
    const file = path.join(empty, 'prod-template.yaml');
    writeFileSync(file, productionTemplate);
    const left = problems(() => loadConfig({ file, env: {}, cwd: empty }));
    expect(left).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^temporal\.address: fill in the Temporal frontend/),
        expect.stringMatching(/^database\.url: fill in postgres:\/\/USER/),
        expect.stringMatching(/^conductor\.service\.clean\.0: fill in the command that wipes/),
        expect.stringMatching(/^configBackup\.files\.3: fill in the conductor's conductor-config\.yaml/),
        expect.stringMatching(/^disasterRecovery\.drill\.database\.start\.0: fill in starts a scratch PostgreSQL cluster/),
      ]),
    );
    const filled = productionTemplate.replace(/"<fill in: ([^>]*)>"/g, (_m: string, what: string) =>
      what.includes('postgres://')
        ? '"postgres://ops:${env:RUNBOOK_DB_PASSWORD}@db.internal:5432/credits?sslmode=verify-full"'
        : what.includes('Temporal frontend')
          ? 'temporal.internal:7233'
          : what.includes('ws://')
            ? '"ws://conductor.internal:8888"'
            : what.includes('http://')
              ? '"http://app.internal:8000/status"'
              : '"/opt/filled"',
    );
    writeFileSync(file, filled);
    const c = loadConfig({ file, env: {}, cwd: empty });
    expect(c.production).toBe(true);
    expect([c.database.managed, c.conductor.managed, c.application.managed, c.monitoring.managed]).toEqual([false, false, false, false]);
    expect(c.database.production).toBe(true);
    expect(c.logFiles).toEqual([]);
    expect(c.provisionNode).toBeUndefined();
  });

  test('a sandbox part, or a sandbox default, in a production configuration is refused', () => {
    const file = path.join(empty, 'prod-sandbox.yaml');
    writeFileSync(file, 'production: true\ndatabase:\n  managed: true\n');
    const missing = problems(() => loadConfig({ file, env: {}, cwd: empty })).join('\n');
    expect(missing).toMatch(/temporal\.address: expected the Temporal frontend \(host:port\) in a production configuration, found nothing \(the default is the sandbox's\)/);
    expect(missing).toMatch(/conductor\.appBundle: expected the app bundle/);
    // Everything given, but parts still managed: each one named.
    const given = ['temporal:', '  address: t:7233', 'database:', '  url: postgres://u@db/credits', '  managed: true', '  production: false', '  service: {type: systemd, unit: postgresql}', 'backup: {directory: /b}', 'dhtExport: {directory: /d}', 'conductor:', '  adminUrl: ws://c:8888', '  appBundle: /a.happ', '  service: {type: systemd, unit: holochain}', 'application:', '  statusUrl: http://a:8000/status', '  service: {type: systemd, unit: app}', 'configBackup: {files: [/etc/x]}', 'disasterRecovery:', '  drill:', '    database: {start: [a], stop: [b]}', '    conductor: {start: [a], stop: [b]}'];
    writeFileSync(file, ['production: true', ...given].join('\n'));
    const sandboxParts = problems(() => loadConfig({ file, env: {}, cwd: empty })).join('\n');
    expect(sandboxParts).toMatch(/database\.managed: expected false in a production configuration \(production: true\): a managed database is a sandbox part/);
    expect(sandboxParts).toMatch(/application\.managed: expected false/);
    expect(sandboxParts).toMatch(/conductor\.managed: expected false/);
    expect(sandboxParts).toMatch(/monitoring\.managed: expected false/);
    expect(sandboxParts).toMatch(/database\.production: expected true in a production configuration/);
  });

  test('TLS and API key for the Temporal connection come from the configuration or the SDK\'s environment variables', () => {
    const c = loadConfig({ env: { TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/etc/t/ca.pem', TEMPORAL_TLS_CLIENT_CERT_PATH: '/etc/t/c.pem', TEMPORAL_TLS_CLIENT_KEY_PATH: '/etc/t/c.key', TEMPORAL_TLS_SERVER_NAME: 'temporal.internal', TEMPORAL_API_KEY: '${env:KEY}' }, cwd: empty });
    expect(c.temporal.tls).toEqual({ caFile: '/etc/t/ca.pem', certFile: '/etc/t/c.pem', keyFile: '/etc/t/c.key', serverName: 'temporal.internal' });
    expect(c.temporal.apiKey).toBe('${env:KEY}');
  });
});

test('worker versioning: off by default; a build id from the package and commit, or RUNBOOK_BUILD_ID; a hostile id is refused', () => {
  const off = loadConfig({ env: {}, cwd: empty });
  expect(workerVersion(off)).toBeUndefined();
  const on = loadConfig({ env: { RUNBOOK_SET_temporal__versioning__enabled: 'true' }, cwd: empty });
  const version = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')).version as string;
  expect(workerVersion(on)).toEqual({ deploymentName: 'zerotrustml-runbooks', buildId: expect.stringMatching(new RegExp(`^${version.replace(/\./g, '\\.')}\\+[0-9a-f]{12}(\\.dirty)?$`)) });
  const pinned = loadConfig({ env: { RUNBOOK_SET_temporal__versioning__enabled: 'true', RUNBOOK_BUILD_ID: '2.1.0+abc' }, cwd: empty });
  expect(workerVersion(pinned)?.buildId).toBe('2.1.0+abc');
  expect(problems(() => loadConfig({ env: { RUNBOOK_BUILD_ID: 'a b;rm -rf /' }, cwd: empty }))[0]).toMatch(/^temporal\.versioning\.buildId: expected a build id of letters, digits, \. \+ _ -.*found "a b;rm -rf \/" \(from environment variable RUNBOOK_BUILD_ID\)/);
  expect(problems(() => loadConfig({ env: { RUNBOOK_SET_temporal__versioning__deploymentName: '"../x"' }, cwd: empty }))[0]).toMatch(/^temporal\.versioning\.deploymentName: expected a deployment name/);
});
