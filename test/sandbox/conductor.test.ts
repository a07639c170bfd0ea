// The conductor stand-in speaks the conductor's protocol: driven here by @holochain/client, the
// same client the product uses. It refuses what a real conductor refuses: upgrades without or
// with a wrong Origin, bad app tokens, zome calls with a bad signature or without a grant.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encode } from '@msgpack/msgpack';
import { AdminWebsocket, AppWebsocket, CellType, type CellId } from '@holochain/client';
import { readPid, startBackground, stopManaged } from '../../sandbox/processes';
import { projectRoot, testRoot } from '../support/env';

const dataDir = path.join(testRoot, 'conductor-protocol');
const port = 28889;
const url = new URL(`ws://127.0.0.1:${port}`);
const cli = (...args: string[]): string =>
  execFileSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'sandbox', 'conductor', 'cli.ts'), ...args, '--data-dir', dataDir], { encoding: 'utf8' });
const bundle = path.join(projectRoot, 'sandbox', 'conductor', 'zerotrustml.happ.json');

let admin: AdminWebsocket;
let cellId: CellId;
let appPort: number;

beforeAll(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  expect(cli('start', '--admin-port', String(port))).toMatch(/Conductor ready\./);
  admin = await AdminWebsocket.connect({ url, wsClientOptions: { origin: 'test' } });
  const app = await admin.installApp({ source: { type: 'path', value: bundle }, installed_app_id: 'zerotrustml' });
  await admin.enableApp({ installed_app_id: 'zerotrustml' });
  const cell = app.cell_info.zerotrustml?.[0];
  if (cell?.type !== CellType.Provisioned) throw new Error('no provisioned cell');
  cellId = cell.value.cell_id;
  appPort = (await admin.attachAppInterface({ allowed_origins: 'http://ops.example', installed_app_id: 'zerotrustml' })).port;
});

afterAll(async () => {
  await admin?.client.close();
  cli('stop');
});

async function appSocket(origin: string, token?: number[]): Promise<AppWebsocket> {
  const t = token ?? (await admin.issueAppAuthenticationToken({ installed_app_id: 'zerotrustml' })).token;
  return AppWebsocket.connect({ url: new URL(`ws://127.0.0.1:${appPort}`), token: t, wsClientOptions: { origin } });
}

test('admin calls: list_apps shows the enabled app; network stats answer', async () => {
  const apps = await admin.listApps({});
  expect(apps.map((a) => [a.installed_app_id, a.status.type])).toEqual([['zerotrustml', 'enabled']]);
  const stats = await admin.dumpNetworkStats();
  expect(stats.transport_stats.connections.length).toBeGreaterThan(0);
});

test('an upgrade without an Origin header is refused', async () => {
  await expect(AdminWebsocket.connect({ url })).rejects.toThrow(/could not connect|400|Unexpected server response/i);
});

test('an app interface refuses an origin it does not allow, and accepts the one it does', async () => {
  await expect(appSocket('http://evil.example')).rejects.toThrow(/could not connect|400|Unexpected server response/i);
  const ws = await appSocket('http://ops.example');
  expect(ws.installedAppId).toBe('zerotrustml');
  await ws.client.close();
});

test('a bad app authentication token is refused', async () => {
  const err = await appSocket('http://ops.example', Array.from({ length: 32 }, () => 7)).catch((e: unknown) => e as Error);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).name).toBe('InvalidTokenError');
});

test('a signed zome call with a capability grant works; a bad signature or no grant is refused', async () => {
  const ws = await appSocket('http://ops.example');
  await admin.authorizeSigningCredentials(cellId);
  const id = await ws.callZome({ cell_id: cellId, zome_name: 'zerotrustml_credits', fn_name: 'create_credit', payload: { holder: 'node-0001', amount: 70, earned_from: 'round-1', verifiers: [], event_type: 'quality_gradient' } });
  expect(typeof id).toBe('string');
  expect(await ws.callZome({ cell_id: cellId, zome_name: 'zerotrustml_credits', fn_name: 'get_balance', payload: 'node-0001' })).toBe(70);

  // The same call bytes with a signature from nobody.
  const zomeCall = {
    cap_secret: null,
    cell_id: cellId,
    zome_name: 'zerotrustml_credits',
    fn_name: 'get_balance',
    provenance: cellId[1],
    payload: encode('node-0001'),
    nonce: new Uint8Array(32).fill(1),
    expires_at: (Date.now() + 60_000) * 1000,
  };
  const badSignature = { bytes: encode(zomeCall), signature: new Uint8Array(64).fill(9) };
  // Sent as it is: the client passes an already signed call through untouched.
  const callZomeRequester = (ws as unknown as { callZomeRequester: (r: unknown) => Promise<unknown> }).callZomeRequester;
  await expect(callZomeRequester(badSignature)).rejects.toMatchObject({ name: 'zome_call_unauthorized' });

  // A correctly signed call by a key that holds no grant.
  const { generateSigningKeyPair, setSigningCredentials, getSigningCredentials } = await import('@holochain/client');
  const granted = getSigningCredentials(cellId)!;
  const [keyPair, signingKey] = await generateSigningKeyPair();
  setSigningCredentials(cellId, { capSecret: granted.capSecret, keyPair, signingKey });
  await expect(ws.callZome({ cell_id: cellId, zome_name: 'zerotrustml_credits', fn_name: 'get_balance', payload: 'node-0001' })).rejects.toMatchObject({
    name: 'zome_call_unauthorized',
  });
  setSigningCredentials(cellId, granted);
  await ws.client.close();
});

test('state survives a SIGKILL: credits come back after a restart', async () => {
  const ws = await appSocket('http://ops.example');
  await admin.authorizeSigningCredentials(cellId);
  const page = (await ws.callZome({ cell_id: cellId, zome_name: 'zerotrustml_credits', fn_name: 'get_all_credits', payload: { limit: 100 } })) as { total: number };
  await ws.client.close();
  await admin.client.close();
  const pid = Number(execFileSync('cat', [path.join(dataDir, 'conductor.pid')], { encoding: 'utf8' }));
  process.kill(pid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  expect(cli('start', '--admin-port', String(port))).toMatch(/Conductor ready\./);
  admin = await AdminWebsocket.connect({ url, wsClientOptions: { origin: 'test' } });
  // Tokens and signing credentials do not survive a restart; grants and data do.
  const again = await appSocket('http://ops.example');
  await admin.authorizeSigningCredentials(cellId);
  const after = (await again.callZome({ cell_id: cellId, zome_name: 'zerotrustml_credits', fn_name: 'get_all_credits', payload: { limit: 100 } })) as { total: number };
  expect(after.total).toBe(page.total);
  await again.client.close();
});

test('a managed process is signalled only if its pid file names the program started under that name: never init, this process, or another program', async () => {
  const dir = path.join(testRoot, 'managed-pid');
  mkdirSync(path.join(dir, 'run'), { recursive: true });
  const other = spawn('sleep', ['30']);
  try {
    for (const claim of ['1', String(process.pid), String(other.pid)]) {
      writeFileSync(path.join(dir, 'run', 'x.pid'), claim);
      expect({ claim, pid: readPid(dir, 'x') }).toEqual({ claim, pid: undefined });
      expect(await stopManaged(dir, 'x')).toBe(false);
    }
    expect(other.exitCode).toBeNull();
    expect(other.signalCode).toBeNull();
    // What startBackground started is found and stopped.
    const mine = startBackground(dir, 'y', ['sleep', '30']);
    expect(readPid(dir, 'y')).toBe(mine.pid);
    expect(await stopManaged(dir, 'y', { graceMs: 2000 })).toBe(true);
  } finally {
    other.kill('SIGKILL');
  }
});
