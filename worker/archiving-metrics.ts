// The physical tier's health for Prometheus, served by the worker that runs the database host's
// steps (it has the server's superuser socket, the data directory and pgBackRest): the archiver
// (last success, failures, a failure newer than the last success, WAL written and not archived
// yet, pg_wal's size and its filesystem's free space) and the newest physical backup of each type.
// WAL archiving fails quietly: the server keeps running while pg_wal grows until the disk is full,
// and the recovery point silently moves back. deploy/prometheus/alerts.yml alerts on these figures.
import { statfs } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { PgBackRest, type PhysicalBackupInfo } from '../adapters/pgbackrest';
import type { ActivityDeps } from '../activities/deps';
import { createPhysicalBackupActivities, type ArchiverState } from '../activities/physical-backup';

export interface ArchivingSample {
  archiveTimeoutSeconds: number;
  archiver?: ArchiverState;
  backups?: Array<Pick<PhysicalBackupInfo, 'type' | 'stoppedAt' | 'error'>>;
  filesystem?: { freeBytes: number; sizeBytes: number };
  /** What could not be read, by part (the figure is left out, the error is a metric). */
  errors: Partial<Record<'archiver' | 'backups' | 'filesystem', string>>;
}

/** The exposition text (Prometheus 0.0.4) of one sample. Pure: tested on its own. */
export function renderArchivingMetrics(s: ArchivingSample): string {
  const out: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: Array<[labels: string, value: number | undefined]>): void => {
    const present = samples.filter((x): x is [string, number] => x[1] !== undefined && Number.isFinite(x[1]));
    if (!present.length) return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...present.map(([l, v]) => `${name}${l} ${v}`));
  };
  const seconds = (iso: string | undefined): number | undefined => (iso ? Date.parse(iso) / 1000 : undefined);
  const a = s.archiver;
  metric('zerotrustml_wal_archive_timeout_seconds', 'gauge', 'archive_timeout as configured: the recovery point while writes happen', [['', s.archiveTimeoutSeconds]]);
  metric('zerotrustml_wal_archiving_enabled', 'gauge', 'whether the server archives WAL (archive_mode is not off)', [['', a ? Number(a.archiving) : undefined]]);
  metric('zerotrustml_wal_archive_last_success_timestamp_seconds', 'gauge', 'when the last WAL segment was archived', [['', seconds(a?.lastArchivedAt)]]);
  metric('zerotrustml_wal_archive_failures_total', 'counter', 'failed archive attempts since the statistics were reset', [['', a?.failedCount]]);
  metric('zerotrustml_wal_archive_last_failure_timestamp_seconds', 'gauge', 'when archiving last failed', [['', seconds(a?.lastFailedAt)]]);
  metric('zerotrustml_wal_archive_failing', 'gauge', '1 when the last archive attempt failed (a failure newer than the last success)', [['', a ? Number(a.failing) : undefined]]);
  metric('zerotrustml_wal_unarchived_bytes', 'gauge', 'WAL written after the end of the last archived segment', [['', a?.unarchivedBytes]]);
  metric('zerotrustml_wal_at_risk_seconds', 'gauge', 'how old the oldest change not archived yet can be (what a failure now would lose)', [['', a?.atRiskSeconds]]);
  metric('zerotrustml_pg_wal_bytes', 'gauge', 'the size of pg_wal (grows while archiving fails)', [['', a?.walBytes]]);
  metric('zerotrustml_pg_wal_filesystem_free_bytes', 'gauge', "free bytes on pg_wal's filesystem (for the server)", [['', s.filesystem?.freeBytes]]);
  metric('zerotrustml_pg_wal_filesystem_size_bytes', 'gauge', "the size of pg_wal's filesystem", [['', s.filesystem?.sizeBytes]]);
  const newest = (type: string): number | undefined =>
    s.backups
      ?.filter((b) => b.type === type && !b.error)
      .map((b) => b.stoppedAt)
      .reduce<number | undefined>((m, v) => (m === undefined || v > m ? v : m), undefined);
  metric(
    'zerotrustml_physical_backup_last_completion_timestamp_seconds',
    'gauge',
    'when the newest usable physical backup of each type ended',
    (['full', 'diff', 'incr'] as const).map((t) => [`{type="${t}"}`, newest(t)]),
  );
  metric('zerotrustml_physical_backups', 'gauge', 'usable physical backups in the repository', [['', s.backups?.filter((b) => !b.error).length]]);
  metric(
    'zerotrustml_physical_tier_read_error',
    'gauge',
    '1 when a part of these figures could not be read (the figure is then missing)',
    (['archiver', 'backups', 'filesystem'] as const).map((p) => [`{part="${p}"}`, s.errors[p] === undefined ? 0 : 1]),
  );
  return `${out.join('\n')}\n`;
}

/** Reads the figures: the archiver through the server, the backups through pgBackRest (at most
 * once per `backupsEveryMs`: it reads the repository), the filesystem of pg_wal (or of the data
 * directory when pg_wal cannot be reached). */
export function archivingSampler(deps: ActivityDeps, o: { backupsEveryMs?: number } = {}): () => Promise<ArchivingSample> {
  const tier = deps.config.physical;
  const activities = createPhysicalBackupActivities(deps);
  const tool = new PgBackRest(tier, deps.postgres.target.port);
  let backups: { at: number; value?: ArchivingSample['backups']; error?: string } | undefined;
  return async () => {
    const errors: ArchivingSample['errors'] = {};
    const archiver = await activities.archiverState().catch((e: unknown) => {
      errors.archiver = (e as Error).message.split('\n')[0];
      return undefined;
    });
    if (!backups || Date.now() - backups.at > (o.backupsEveryMs ?? 30_000)) {
      try {
        tool.writeConfig();
        backups = { at: Date.now(), value: (await tool.info()).backups.map(({ type, stoppedAt, error }) => ({ type, stoppedAt, error })) };
      } catch (e) {
        backups = { at: Date.now(), error: (e as Error).message.split('\n')[0] };
      }
    }
    if (backups.error) errors.backups = backups.error;
    let filesystem: ArchivingSample['filesystem'];
    for (const dir of tier.dataDirectory ? [path.join(tier.dataDirectory, 'pg_wal'), tier.dataDirectory] : []) {
      try {
        const st = await statfs(dir);
        filesystem = { freeBytes: st.bavail * st.bsize, sizeBytes: st.blocks * st.bsize };
        break;
      } catch (e) {
        errors.filesystem = (e as Error).message;
      }
    }
    if (filesystem) delete errors.filesystem;
    return { archiveTimeoutSeconds: tier.archiveTimeoutSeconds, archiver, backups: backups.value, filesystem, errors };
  };
}

/** Serves GET /metrics; a busy port is said and not fatal (the worker's steps matter more). */
export async function serveArchivingMetrics(deps: ActivityDeps, o: { port: number; address: string; log: (l: string) => void }): Promise<{ close: () => Promise<void>; port?: number }> {
  const sample = archivingSampler(deps);
  // One read at a time: scrapes that arrive during a read share it.
  let inFlight: Promise<string> | undefined;
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('expected GET /metrics\n');
      return;
    }
    inFlight ??= sample()
      .then(renderArchivingMetrics)
      .finally(() => (inFlight = undefined));
    inFlight.then(
      (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`),
    );
  });
  const port = await new Promise<number | undefined>((resolve) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      o.log(`physical tier metrics: not served on ${o.address}:${o.port} (${e.code ?? e.message})`);
      resolve(undefined);
    });
    server.listen(o.port, o.address, () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : o.port);
    });
  });
  return { port, close: () => new Promise((r) => (port === undefined ? r() : server.close(() => r()))) };
}
