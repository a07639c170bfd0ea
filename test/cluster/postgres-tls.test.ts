// PostgreSQL over TLS, as libpq spells it in DATABASE_URL: a cluster that refuses every connection
// without TLS (hostnossl ... reject), certificates made here by openssl. With sslmode=verify-full
// and the CA the backup and its verification run (node-postgres and pg_dump both over TLS); without
// TLS, or with a CA that did not sign the server's certificate, the step is refused with the
// server's or the TLS library's reason, and nothing is left behind.
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { createDatabaseBackupActivities } from '../../activities/database-backup';
import { serverUser, startCluster, stopCluster } from '../../sandbox/postgres-cluster';
import { createSchema, seedCredits } from '../../sandbox/credits-data';
import { buildDeps } from '../../worker/deps';
import { testRoot } from '../support/env';
import { testConfig } from '../support/stack';

const dir = path.join(testRoot, 'pg-tls');
const backups = path.join(testRoot, 'pg-tls-backups');
const port = 55493;
const certs = mkdtempSync(path.join(os.tmpdir(), 'runbook-pg-tls-'));
const f = (n: string): string => path.join(certs, n);

function makeCertificates(): void {
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: certs, stdio: 'ignore' });
  for (const ca of ['ca', 'other-ca']) ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.pem`);
  writeFileSync(f('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'server.ext', '-out', 'server.pem');
}

const url = (params: string): string => `postgres://zerotrustml@localhost:${port}/credits?${params}`;
const dump = async (databaseUrl: string) => createDatabaseBackupActivities(await buildDeps(testConfig({ DATABASE_URL: databaseUrl, RUNBOOK_BACKUP_DIR: backups })));
const failure = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'no failure',
    (e: unknown) => (e as Error).message,
  );

beforeAll(async () => {
  makeCertificates();
  rmSync(dir, { recursive: true, force: true });
  rmSync(backups, { recursive: true, force: true });
  await startCluster({ dir, port, role: 'zerotrustml', database: 'credits' });
  const seed = new PgClient({ host: '127.0.0.1', port, user: 'zerotrustml', database: 'credits' });
  await seed.connect();
  await createSchema(seed);
  await seedCredits(seed, { credits: 500 });
  await seed.end();
  await stopCluster({ dir });
  // TLS on, and every connection without it refused (the first matching pg_hba line wins).
  const user = serverUser();
  for (const n of ['server.pem', 'server.key']) {
    copyFileSync(f(n), path.join(dir, n));
    if (user) chownSync(path.join(dir, n), user.uid, user.gid);
  }
  chmodSync(path.join(dir, 'server.key'), 0o600);
  appendFileSync(path.join(dir, 'postgresql.auto.conf'), "ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\n");
  const hba = path.join(dir, 'pg_hba.conf');
  writeFileSync(hba, `hostnossl all all 0.0.0.0/0 reject\n${readFileSync(hba, 'utf8')}`);
  await startCluster({ dir, port, role: 'zerotrustml', database: 'credits' });
}, 120_000);

afterAll(async () => {
  await stopCluster({ dir }, 'immediate');
});

test('sslmode=verify-full with the CA: the backup is dumped over TLS and verified', async () => {
  const a = await dump(url(`sslmode=verify-full&sslrootcert=${f('ca.pem')}`));
  const r = await a.dumpDatabase({ key: '20330101_000000' });
  expect(r.manifest.tables['public.credits']).toBeGreaterThanOrEqual(500);
  await expect(a.verifyBackup({ path: r.path })).resolves.toMatchObject({ sha256: r.manifest.sha256 });
});

test('without TLS the server refuses the step; with another CA the certificate is refused; nothing is left behind', async () => {
  const before = readdirSync(backups).sort();
  expect(await failure((await dump(url('sslmode=disable'))).dumpDatabase({ key: '20330102_000000' }))).toMatch(/no encryption|SSL off|pg_hba\.conf rejects/i);
  expect(await failure((await dump(url(`sslmode=verify-full&sslrootcert=${f('other-ca.pem')}`))).dumpDatabase({ key: '20330103_000000' }))).toMatch(/certificate/i);
  expect(readdirSync(backups).sort()).toEqual(before);
});
