// The conductor as activities see it, through @holochain/client (the client a real deployment
// uses): liveness, network stats, install/enable of the app, and the runbook's zome calls.
// Connections carry an Origin (the conductor refuses upgrades without one), calls time out, and
// a lost app connection is rebuilt with a fresh token and fresh signing credentials.
import type { LoadedConfig } from '../config/load';
import {
  AdminWebsocket,
  AppWebsocket,
  CellType,
  type AppInfo,
  type CallZomeRequest,
  type CellId,
} from '@holochain/client';

export interface ConductorSettings {
  adminUrl: string;
  origin: string;
  appId: string;
  roleName: string;
  zomeName: string;
  /** Zome function names; the runbook's defaults, configurable because the real zome lacks them. */
  functions: {
    exportState: string;
    importState: string;
    getAllCredits: string;
    triggerGossip: string;
    getNetworkStats: string;
  };
  timeoutMs: number;
  /** The app bundle install_app reads when the app is missing. */
  appBundle?: string;
}

/** Thrown by ConductorClient when the conductor cannot be reached or does not answer in time. */
export class ConductorUnreachable extends Error {
  override readonly name = 'ConductorUnreachable';
}

export interface Liveness {
  alive: boolean;
  appInstalled: boolean;
  appEnabled: boolean;
  error?: string;
  latencyMs: number;
}

export class ConductorClient {
  private adminWs: AdminWebsocket | undefined;
  private appWs: AppWebsocket | undefined;
  private cellId: CellId | undefined;

  constructor(readonly settings: ConductorSettings) {}

  private wsOptions(): { origin: string; handshakeTimeout: number } {
    return { origin: this.settings.origin, handshakeTimeout: this.settings.timeoutMs };
  }

  async admin(): Promise<AdminWebsocket> {
    if (this.adminWs && this.adminWs.client.socket.readyState === this.adminWs.client.socket.OPEN) return this.adminWs;
    try {
      this.adminWs = await withTimeout(
        AdminWebsocket.connect({ url: new URL(this.settings.adminUrl), wsClientOptions: this.wsOptions(), defaultTimeout: this.settings.timeoutMs }),
        this.settings.timeoutMs,
        `connect to the conductor's admin interface at ${this.settings.adminUrl}`,
      );
    } catch (e) {
      this.adminWs = undefined;
      throw new ConductorUnreachable(`cannot reach the conductor's admin interface at ${this.settings.adminUrl}: ${(e as Error).message}`, { cause: e });
    }
    return this.adminWs;
  }

  /** list_apps is the cheapest call that proves the conductor answers. */
  async liveness(): Promise<Liveness> {
    const started = Date.now();
    try {
      const admin = await this.admin();
      const apps = await admin.listApps({});
      const app = apps.find((a) => a.installed_app_id === this.settings.appId);
      return { alive: true, appInstalled: !!app, appEnabled: app?.status.type === 'enabled', latencyMs: Date.now() - started };
    } catch (e) {
      await this.close();
      return { alive: false, appInstalled: false, appEnabled: false, error: (e as Error).message, latencyMs: Date.now() - started };
    }
  }

  async networkStats(): Promise<{ peers: number; backend: string }> {
    const stats = await (await this.admin()).dumpNetworkStats();
    return { peers: stats.transport_stats.connections.length, backend: stats.transport_stats.backend };
  }

  /** Installs the app from the bundle if it is missing and enables it if it is not enabled. */
  async ensureApp(): Promise<{ installed: boolean; enabled: boolean }> {
    const admin = await this.admin();
    const apps = await admin.listApps({});
    let app = apps.find((a) => a.installed_app_id === this.settings.appId);
    let installed = false;
    let enabled = false;
    if (!app) {
      if (!this.settings.appBundle) throw new Error(`app ${this.settings.appId} is not installed and no app bundle is configured (conductor.appBundle)`);
      app = await admin.installApp({ source: { type: 'path', value: this.settings.appBundle }, installed_app_id: this.settings.appId });
      installed = true;
    }
    if (app.status.type !== 'enabled') {
      await admin.enableApp({ installed_app_id: this.settings.appId });
      enabled = true;
    }
    return { installed, enabled };
  }

  private async app(): Promise<{ ws: AppWebsocket; cellId: CellId }> {
    if (this.appWs && this.cellId && this.appWs.client.socket.readyState === this.appWs.client.socket.OPEN) return { ws: this.appWs, cellId: this.cellId };
    const admin = await this.admin();
    const interfaces = await admin.listAppInterfaces();
    const usable = interfaces.find((i) => (!i.installed_app_id || i.installed_app_id === this.settings.appId) && (i.allowed_origins === '*' || i.allowed_origins.split(',').includes(this.settings.origin)));
    const port = usable ? usable.port : (await admin.attachAppInterface({ allowed_origins: this.settings.origin, installed_app_id: this.settings.appId })).port;
    const { token } = await admin.issueAppAuthenticationToken({ installed_app_id: this.settings.appId, single_use: true, expiry_seconds: 60 });
    const url = new URL(this.settings.adminUrl);
    url.port = String(port);
    const ws = await withTimeout(
      AppWebsocket.connect({ url, token, wsClientOptions: this.wsOptions(), defaultTimeout: this.settings.timeoutMs }),
      this.settings.timeoutMs,
      `connect to the app interface on port ${port}`,
    );
    const cellId = provisionedCell(ws.cachedAppInfo ?? (await ws.appInfo()), this.settings.roleName);
    // Signing credentials live only in this process: authorise afresh with every connection.
    await admin.authorizeSigningCredentials(cellId);
    this.appWs = ws;
    this.cellId = cellId;
    return { ws, cellId };
  }

  /** A zome call; a connection lost on the way is rebuilt once (new token, new credentials). */
  async call<T>(fnName: string, payload: unknown): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const { ws, cellId } = await this.app();
        const request: CallZomeRequest = { cell_id: cellId, zome_name: this.settings.zomeName, fn_name: fnName, payload };
        return (await ws.callZome(request, this.settings.timeoutMs));
      } catch (e) {
        const lost = /closed|not open|ECONNREFUSED|timed out|socket/i.test((e as Error).message);
        await this.closeApp();
        if (!lost || attempt >= 1) throw e;
      }
    }
  }

  exportState(after: string | undefined, limit: number): Promise<CreditsPage> {
    return this.call(this.settings.functions.exportState, { after, limit });
  }

  importState(credits: unknown[]): Promise<{ imported: number; skipped: number; total: number }> {
    return this.call(this.settings.functions.importState, { credits });
  }

  getAllCredits(after: string | undefined, limit: number): Promise<CreditsPage & { hashes: string[] }> {
    return this.call(this.settings.functions.getAllCredits, { after, limit });
  }

  /** Every credit this node's DHT view holds, page by page (get_all_credits, by credit id). */
  async *allCredits(pageSize = 10_000): AsyncGenerator<CreditsPage['credits'][number]> {
    let after: string | undefined;
    for (;;) {
      const page = await this.getAllCredits(after, pageSize);
      yield* page.credits;
      if (!page.next) return;
      after = page.next;
    }
  }

  triggerGossip(): Promise<{ triggered: boolean; round: number; peers: number; resynced?: number }> {
    return this.call(this.settings.functions.triggerGossip, null);
  }

  getNetworkStats(): Promise<{ peers: number; credits: number; gossip_rounds: number }> {
    return this.call(this.settings.functions.getNetworkStats, null);
  }

  private async closeApp(): Promise<void> {
    const ws = this.appWs;
    this.appWs = undefined;
    this.cellId = undefined;
    if (ws) await closeQuietly(ws.client);
  }

  async close(): Promise<void> {
    await this.closeApp();
    const admin = this.adminWs;
    this.adminWs = undefined;
    if (admin) await closeQuietly(admin.client);
  }
}

export interface CreditsPage {
  credits: Array<Record<string, unknown> & { credit_id: string }>;
  next: string | null;
  total: number;
}

function provisionedCell(info: AppInfo, roleName: string): CellId {
  const cell = info.cell_info[roleName]?.find((c) => c.type === CellType.Provisioned);
  if (!cell || cell.type !== CellType.Provisioned) throw new Error(`app ${info.installed_app_id} has no provisioned cell for role ${roleName}`);
  return cell.value.cell_id;
}

async function closeQuietly(client: { socket: { readyState: number; OPEN: number; terminate?: () => void }; close: () => Promise<unknown> }): Promise<void> {
  try {
    if (client.socket.readyState === client.socket.OPEN) await withTimeout(client.close(), 1000, 'close');
    else client.socket.terminate?.();
  } catch {
    client.socket.terminate?.();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** The configured conductor's client; `adminUrl` points it at another one (the DR drill's). */
export function conductorClient(config: LoadedConfig, adminUrl?: string): ConductorClient {
  const c = config.conductor;
  return new ConductorClient({
    adminUrl: adminUrl ?? c.adminUrl,
    origin: c.origin,
    appId: c.appId,
    roleName: c.roleName,
    zomeName: c.zomeName,
    functions: c.functions,
    timeoutMs: c.timeoutSeconds * 1000,
    appBundle: config.conductorAppBundle,
  });
}
