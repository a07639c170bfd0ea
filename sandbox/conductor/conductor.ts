// A stand-in for the Holochain conductor that speaks its WebSocket protocol: msgpack envelopes,
// the admin calls operations use, app interfaces with token authentication, and signed zome
// calls checked against capability grants. It exists because a real conductor cannot be built
// on this project's machines; the product talks to it through @holochain/client, as it would to
// a real one. State lives in the data directory and survives a SIGKILL.
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import path from 'node:path';
import { decode, encode } from '@msgpack/msgpack';
import { WebSocketServer, type WebSocket } from 'ws';
import { FaultSwitch } from '../fault-switch';
import { CreditsStore } from './credits-store';
import { b64ToHash, core, hashOf, hashToB64, randomAgentKey, sameBytes } from './holo-hash';
import { callCreditsZome, ZomeError } from './credits-zome';

export interface ConductorOptions {
  dataDir: string;
  adminPort: number;
  host?: string;
  /** Peers reported by network stats and reached by gossip. */
  peers?: number;
  log?: (line: string) => void;
}

interface AppRecord {
  installed_app_id: string;
  agent_pub_key: string;
  dna_hash: string;
  role_name: string;
  status: { type: 'enabled' } | { type: 'disabled'; value: { type: string } };
  installed_at: number;
}

interface GrantRecord {
  cell: string;
  tag: string;
  functions: { type: 'all' } | { type: 'listed'; value: Array<[string, string]> };
  access: { type: 'unrestricted' } | { type: 'assigned'; value: { secret: string; assignees: string[] } } | { type: 'transferable'; value: { secret: string } };
}

interface InterfaceRecord {
  port: number;
  allowed_origins: string;
  installed_app_id?: string;
}

interface PersistedState {
  apps: AppRecord[];
  grants: GrantRecord[];
  interfaces: InterfaceRecord[];
}

export interface Fault {
  mode: 'none' | 'hang' | 'refuse' | 'slow';
  delayMs?: number;
  /** The process the fault was injected into: a restarted conductor is healthy again. */
  pid?: number;
}

/** Error kinds as the conductor's ExternalApiWireError serialises them. */
type ErrorKind = 'internal_error' | 'deserialization' | 'dna_read_error' | 'ribosome_error' | 'activate_app' | 'zome_call_unauthorized';

class ApiError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export function unsyncedPath(dataDir: string): string {
  return path.join(dataDir, 'unsynced.json');
}

export function faultPath(dataDir: string): string {
  return path.join(dataDir, 'fault.json');
}

export class Conductor {
  private state: PersistedState = { apps: [], grants: [], interfaces: [] };
  private readonly store: CreditsStore;
  private readonly tokens = new Map<string, { appId: string; expiresAt: number; singleUse: boolean }>();
  private readonly nonces = new Map<string, number>();
  private readonly servers: Array<{ http: Server; wss: WebSocketServer; kind: 'admin' | 'app'; iface?: InterfaceRecord }> = [];
  private fault: Fault = { mode: 'none' };
  private readonly faultSwitch: FaultSwitch<Fault>;
  private faultTimer: NodeJS.Timeout | undefined;
  private readonly log: (line: string) => void;
  gossipRounds = 0;

  constructor(private readonly o: ConductorOptions) {
    this.log = o.log ?? ((l) => process.stdout.write(l + '\n'));
    mkdirSync(o.dataDir, { recursive: true });
    this.store = new CreditsStore(path.join(o.dataDir, 'credits.log'));
    this.faultSwitch = new FaultSwitch<Fault>(faultPath(o.dataDir), { mode: 'none' });
  }

  /** Credits this node's DHT view has lost track of (the "corrupt DHT" fault of the sandbox):
   * the zome's reads skip them until a gossip round re-syncs them from peers. Kept in a file of the
   * data directory so the fault survives a restart, as a damaged local shard would. */
  unsyncedIds(): Set<string> {
    try {
      const st = statSync(this.unsyncedPath);
      if (st.mtimeMs !== this.unsyncedMtime) {
        this.unsynced = new Set(JSON.parse(readFileSync(this.unsyncedPath, 'utf8')) as string[]);
        this.unsyncedMtime = st.mtimeMs;
      }
    } catch {
      this.unsynced = new Set();
      this.unsyncedMtime = 0;
    }
    return this.unsynced;
  }

  /** A gossip round: what peers hold comes back into this node's view. */
  resync(): number {
    const n = this.unsyncedIds().size;
    rmSync(this.unsyncedPath, { force: true });
    this.unsynced = new Set();
    this.unsyncedMtime = 0;
    return n;
  }

  private unsynced = new Set<string>();
  private unsyncedMtime = 0;
  private get unsyncedPath(): string {
    return unsyncedPath(this.o.dataDir);
  }

  private get statePath(): string {
    return path.join(this.o.dataDir, 'conductor.json');
  }

  private save(): void {
    const tmp = `${this.statePath}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(this.state, null, 2));
    renameSync(tmp, this.statePath);
  }

  async start(): Promise<void> {
    if (existsSync(this.statePath)) this.state = JSON.parse(readFileSync(this.statePath, 'utf8')) as PersistedState;
    const loaded = this.store.load();
    if (loaded.tornLines) this.log(`dropped ${loaded.tornLines} torn log line(s) left by an interrupted write`);
    this.readFault();
    this.faultTimer = setInterval(() => this.readFault(), 200);
    await this.listen('admin', this.o.adminPort);
    for (const iface of this.state.interfaces) await this.listen('app', iface.port, iface);
    this.log(`admin interface on ${this.o.host ?? '127.0.0.1'}:${this.o.adminPort}; ${this.store.size} credits`);
  }

  async stop(): Promise<void> {
    if (this.faultTimer) clearInterval(this.faultTimer);
    await this.closeServers();
    this.store.close();
  }

  private async closeServers(): Promise<void> {
    for (const s of this.servers.splice(0)) {
      for (const c of s.wss.clients) c.terminate();
      s.wss.close();
      await new Promise<void>((r) => s.http.close(() => r()));
    }
  }

  private readFault(): void {
    const next = this.faultSwitch.poll();
    if (!next) return;
    const before = this.fault.mode;
    this.fault = next;
    if (before !== next.mode) this.log(`fault: ${next.mode}${next.delayMs ? ` (${next.delayMs} ms)` : ''}`);
    if (next.mode === 'refuse' && before !== 'refuse') void this.closeServers();
    if (before === 'refuse' && next.mode !== 'refuse') {
      void (async () => {
        await this.listen('admin', this.o.adminPort);
        for (const iface of this.state.interfaces) await this.listen('app', iface.port, iface);
      })();
    }
  }

  private async listen(kind: 'admin' | 'app', port: number, iface?: InterfaceRecord): Promise<number> {
    const http = createServer((_req, res) => {
      res.writeHead(400).end('expected a WebSocket upgrade');
    });
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: 64 * 1024 * 1024,
    });
    http.on('upgrade', (req: IncomingMessage, socket, head) => {
      // The conductor refuses an upgrade without an Origin header, and one whose origin its
      // interface does not allow.
      const origin = req.headers.origin;
      const allowed = kind === 'admin' ? '*' : (iface?.allowed_origins ?? '*');
      const ok = typeof origin === 'string' && origin !== '' && (allowed === '*' || allowed.split(',').map((s) => s.trim()).includes(origin));
      if (!ok) {
        socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${origin ? `origin ${origin} is not allowed` : 'missing Origin header'}`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => (kind === 'admin' ? this.adminConnection(ws) : this.appConnection(ws, iface!)));
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, this.o.host ?? '127.0.0.1', () => resolve());
    });
    const address = http.address();
    const actual = typeof address === 'object' && address ? address.port : port;
    this.servers.push({ http, wss, kind, iface });
    return actual;
  }

  /** Every answer goes through here, so the hang and slow faults apply to all of them. */
  private async respond(ws: WebSocket, id: number, produce: () => unknown): Promise<void> {
    let value: unknown;
    try {
      value = await produce();
    } catch (e) {
      value = this.errorValue(e);
    }
    if (this.fault.mode === 'hang') return; // never answers; the client times out
    if (this.fault.mode === 'slow') await new Promise((r) => setTimeout(r, this.fault.delayMs ?? 5000));
    if (ws.readyState !== ws.OPEN) return;
    ws.send(encode({ type: 'response', id, data: encode(value) }));
  }

  private errorValue(e: unknown): { type: 'error'; value: { type: ErrorKind; value: string } } {
    if (e instanceof ApiError) return { type: 'error', value: { type: e.kind, value: e.message } };
    if (e instanceof ZomeError) return { type: 'error', value: { type: 'ribosome_error', value: e.message } };
    return { type: 'error', value: { type: 'internal_error', value: (e as Error).message } };
  }

  private adminConnection(ws: WebSocket): void {
    ws.on('message', (raw: Buffer) => {
      let id = -1;
      try {
        const envelope = decode(raw) as { type: string; id: number; data: Uint8Array };
        id = envelope.id;
        if (envelope.type !== 'request') throw new ApiError('deserialization', `expected a request, got ${envelope.type}`);
        const request = decode(envelope.data) as { type: string; value: unknown };
        void this.respond(ws, id, () => this.admin(request));
      } catch (e) {
        if (id >= 0) void this.respond(ws, id, () => this.errorValue(e));
      }
    });
  }

  private appConnection(ws: WebSocket, iface: InterfaceRecord): void {
    let appId: string | undefined;
    ws.on('message', (raw: Buffer) => {
      let id = -1;
      try {
        const envelope = decode(raw) as { type: string; id?: number; data: Uint8Array };
        if (envelope.type === 'authenticate') {
          const { token } = decode(envelope.data) as { token: number[] | Uint8Array };
          const key = Buffer.from(token).toString('hex');
          const t = this.tokens.get(key);
          // An unknown or expired token, or one for another app: the conductor closes the socket.
          if (!t || t.expiresAt < Date.now() || (iface.installed_app_id && iface.installed_app_id !== t.appId)) {
            ws.close(4001, 'invalid app authentication token');
            return;
          }
          if (t.singleUse) this.tokens.delete(key);
          appId = t.appId;
          return;
        }
        id = envelope.id ?? -1;
        if (envelope.type !== 'request') throw new ApiError('deserialization', `expected a request, got ${envelope.type}`);
        if (!appId) {
          ws.close(4001, 'not authenticated');
          return;
        }
        const request = decode(envelope.data) as { type: string; value: unknown };
        void this.respond(ws, id, () => this.app(appId!, request));
      } catch (e) {
        if (id >= 0) void this.respond(ws, id, () => this.errorValue(e));
      }
    });
  }

  private appInfo(a: AppRecord): Record<string, unknown> {
    const cellId = [b64ToHash(a.dna_hash), b64ToHash(a.agent_pub_key)];
    return {
      agent_pub_key: b64ToHash(a.agent_pub_key),
      installed_app_id: a.installed_app_id,
      cell_info: {
        [a.role_name]: [{ type: 'provisioned', value: { cell_id: cellId, dna_modifiers: { network_seed: '', properties: new Uint8Array() }, name: a.role_name } }],
      },
      status: a.status,
      installed_at: a.installed_at,
    };
  }

  private findApp(id: string): AppRecord {
    const app = this.state.apps.find((a) => a.installed_app_id === id);
    if (!app) throw new ApiError('internal_error', `AppNotInstalled("${id}")`);
    return app;
  }

  private admin(request: { type: string; value: unknown }): unknown {
    const v = (request.value ?? {}) as Record<string, unknown>;
    switch (request.type) {
      case 'list_apps': {
        const filter = v.status_filter as string | undefined;
        const apps = this.state.apps.filter((a) => !filter || a.status.type === filter);
        return { type: 'apps_listed', value: apps.map((a) => this.appInfo(a)) };
      }
      case 'install_app': {
        const source = v.source as { type: 'path' | 'bytes'; value: string | Uint8Array } | undefined;
        if (!source) throw new ApiError('deserialization', 'install_app: missing source');
        let bundle: Uint8Array;
        if (source.type === 'path') {
          if (!existsSync(source.value as string)) throw new ApiError('dna_read_error', `app bundle not found: ${String(source.value)}`);
          bundle = readFileSync(source.value as string);
        } else bundle = source.value as Uint8Array;
        const manifest = parseBundle(bundle);
        const id = (v.installed_app_id as string | undefined) ?? manifest.name;
        if (this.state.apps.some((a) => a.installed_app_id === id)) throw new ApiError('internal_error', `AppAlreadyInstalled("${id}")`);
        const agent = (v.agent_key as Uint8Array | undefined) ?? randomAgentKey();
        const app: AppRecord = {
          installed_app_id: id,
          agent_pub_key: hashToB64(agent),
          dna_hash: hashToB64(hashOf('dna', Buffer.concat([Buffer.from(bundle), Buffer.from(typeof v.network_seed === 'string' ? v.network_seed : '')]))),
          role_name: manifest.role,
          status: { type: 'disabled', value: { type: 'never_started' } },
          installed_at: Date.now() * 1000,
        };
        this.state.apps.push(app);
        this.save();
        return { type: 'app_installed', value: this.appInfo(app) };
      }
      case 'enable_app': {
        const app = this.findApp(v.installed_app_id as string);
        app.status = { type: 'enabled' };
        this.save();
        return { type: 'app_enabled', value: this.appInfo(app) };
      }
      case 'disable_app': {
        const app = this.findApp(v.installed_app_id as string);
        app.status = { type: 'disabled', value: { type: 'user' } };
        this.save();
        return { type: 'app_disabled', value: null };
      }
      case 'attach_app_interface': {
        const wanted = (v.port as number | undefined) ?? 0;
        const iface: InterfaceRecord = { port: wanted, allowed_origins: (v.allowed_origins as string | undefined) ?? '*', installed_app_id: v.installed_app_id as string | undefined };
        return this.listen('app', wanted, iface).then((port) => {
          iface.port = port;
          this.state.interfaces.push(iface);
          this.save();
          return { type: 'app_interface_attached', value: { port } };
        });
      }
      case 'list_app_interfaces':
        return { type: 'app_interfaces_listed', value: this.state.interfaces.map((i) => ({ port: i.port, allowed_origins: i.allowed_origins, installed_app_id: i.installed_app_id ?? null })) };
      case 'issue_app_authentication_token': {
        this.findApp(v.installed_app_id as string);
        const token = randomBytes(32);
        const expiry = (v.expiry_seconds as number | undefined) ?? 30;
        this.tokens.set(token.toString('hex'), { appId: v.installed_app_id as string, expiresAt: expiry === 0 ? Infinity : Date.now() + expiry * 1000, singleUse: (v.single_use as boolean | undefined) ?? true });
        return { type: 'app_authentication_token_issued', value: { token: [...token], expires_at: expiry === 0 ? null : (Date.now() + expiry * 1000) * 1000 } };
      }
      case 'grant_zome_call_capability': {
        const req = v as { cell_id: [Uint8Array, Uint8Array]; cap_grant: { tag: string; functions: GrantRecord['functions']; access: { type: string; value?: { secret: Uint8Array; assignees?: Uint8Array[] } } } };
        const access: GrantRecord['access'] =
          req.cap_grant.access.type === 'unrestricted'
            ? { type: 'unrestricted' }
            : req.cap_grant.access.type === 'assigned'
              ? { type: 'assigned', value: { secret: Buffer.from(req.cap_grant.access.value!.secret).toString('base64'), assignees: (req.cap_grant.access.value!.assignees ?? []).map(hashToB64) } }
              : { type: 'transferable', value: { secret: Buffer.from(req.cap_grant.access.value!.secret).toString('base64') } };
        this.state.grants.push({ cell: cellKey(req.cell_id), tag: req.cap_grant.tag, functions: req.cap_grant.functions, access });
        this.save();
        return { type: 'zome_call_capability_granted', value: hashOf('action', randomBytes(32)) };
      }
      case 'dump_network_stats':
        return { type: 'network_stats_dumped', value: this.networkStats() };
      default:
        throw new ApiError('deserialization', `unknown admin request type ${request.type}`);
    }
  }

  networkStats(): Record<string, unknown> {
    const peers = this.o.peers ?? 3;
    return {
      transport_stats: {
        backend: 'zerotrustml-conductor-stand-in',
        peer_urls: [`ws://127.0.0.1:${this.o.adminPort}/peer`],
        connections: Array.from({ length: peers }, (_, i) => ({
          pub_key: `peer-${i}`,
          send_message_count: this.gossipRounds,
          send_bytes: 0,
          recv_message_count: this.gossipRounds,
          recv_bytes: 0,
          opened_at_s: Math.floor(Date.now() / 1000),
          is_direct: true,
        })),
      },
      blocked_message_counts: {},
    };
  }

  private app(appId: string, request: { type: string; value: unknown }): unknown {
    const app = this.findApp(appId);
    switch (request.type) {
      case 'app_info':
        return { type: 'app_info', value: this.appInfo(app) };
      case 'dump_network_stats':
        return { type: 'network_stats_dumped', value: (this.networkStats() as { transport_stats: unknown }).transport_stats };
      case 'call_zome':
        return { type: 'zome_called', value: this.callZome(app, request.value as { bytes: Uint8Array; signature: Uint8Array }) };
      default:
        throw new ApiError('deserialization', `unknown app request type ${request.type}`);
    }
  }

  private callZome(app: AppRecord, signed: { bytes: Uint8Array; signature: Uint8Array }): Uint8Array {
    if (!signed?.bytes || !signed.signature) throw new ApiError('deserialization', 'call_zome: expected {bytes, signature}');
    const call = decode(signed.bytes) as {
      cap_secret: Uint8Array | null;
      cell_id: [Uint8Array, Uint8Array];
      zome_name: string;
      fn_name: string;
      provenance: Uint8Array;
      payload: Uint8Array;
      nonce: Uint8Array;
      expires_at: number;
    };
    // The signature is Ed25519 over sha512(bytes), by the key inside the provenance.
    const publicKey = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(core(call.provenance))]), format: 'der', type: 'spki' });
    const digest = createHash('sha512').update(signed.bytes).digest();
    if (!verify(null, digest, publicKey, Buffer.from(signed.signature))) {
      throw new ApiError('zome_call_unauthorized', `invalid signature for ${call.zome_name}/${call.fn_name}`);
    }
    if (cellKey(call.cell_id) !== cellKey([b64ToHash(app.dna_hash), b64ToHash(app.agent_pub_key)])) {
      throw new ApiError('internal_error', `CellMissing: the cell is not part of app ${app.installed_app_id}`);
    }
    if (app.status.type !== 'enabled') throw new ApiError('internal_error', `CellDisabled: app ${app.installed_app_id} is not enabled`);
    if (Number(call.expires_at) < Date.now() * 1000) throw new ApiError('zome_call_unauthorized', 'the zome call has expired');
    const nonceKey = Buffer.from(call.nonce).toString('hex');
    if (this.nonces.has(nonceKey)) throw new ApiError('zome_call_unauthorized', 'nonce already used');
    this.nonces.set(nonceKey, Number(call.expires_at));
    if (this.nonces.size > 100_000) for (const [k, exp] of this.nonces) if (exp < Date.now() * 1000) this.nonces.delete(k);
    if (!this.authorised(app, call)) {
      throw new ApiError('zome_call_unauthorized', `no capability grant allows ${hashToB64(call.provenance)} to call ${call.zome_name}/${call.fn_name}`);
    }
    const payload = call.payload && call.payload.length ? decode(call.payload) : null;
    const result = callCreditsZome(this, call.zome_name, call.fn_name, payload, app.agent_pub_key);
    return encode(result);
  }

  private authorised(app: AppRecord, call: { cell_id: [Uint8Array, Uint8Array]; zome_name: string; fn_name: string; provenance: Uint8Array; cap_secret: Uint8Array | null }): boolean {
    if (sameBytes(call.provenance, b64ToHash(app.agent_pub_key))) return true; // the author's own grant
    const secret = call.cap_secret ? Buffer.from(call.cap_secret).toString('base64') : undefined;
    const provenance = hashToB64(call.provenance);
    return this.state.grants.some((g) => {
      if (g.cell !== cellKey(call.cell_id)) return false;
      const fnOk = g.functions.type === 'all' || g.functions.value.some(([z, f]) => z === call.zome_name && f === call.fn_name);
      if (!fnOk) return false;
      if (g.access.type === 'unrestricted') return true;
      if (g.access.value.secret !== secret) return false;
      return g.access.type === 'transferable' || g.access.value.assignees.includes(provenance);
    });
  }

  get credits(): CreditsStore {
    return this.store;
  }
}

function cellKey(cellId: [Uint8Array, Uint8Array]): string {
  return hashToB64(cellId[0]) + hashToB64(cellId[1]);
}

/** The stand-in's "app bundle": a small JSON manifest naming the app, its role and its zome. */
export function parseBundle(bytes: Uint8Array): { name: string; role: string; zome: string } {
  try {
    const m = JSON.parse(Buffer.from(bytes).toString('utf8')) as { name?: string; role?: string; zome?: string };
    if (!m.name || !m.role) throw new Error('missing name or role');
    return { name: m.name, role: m.role, zome: m.zome ?? 'zerotrustml_credits' };
  } catch (e) {
    throw new ApiError('dna_read_error', `the app bundle is not readable: ${(e as Error).message}`);
  }
}
