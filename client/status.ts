// `runbook status`: one screen for the on-call engineer: the application's status report, the KPI
// tables evaluated against the configured thresholds, open incidents, and how old the latest
// verified database backup and DHT export are (the recovery point if disaster struck now).
import type { Client } from '@temporalio/client';
import { listBackups, listManifested } from '../activities/backup-files';
import { hostFigures } from '../activities/host-figures';
import { readStatusReport } from '../activities/status-report';
import { DHT_MANIFEST_FORMAT, type DhtExportManifest } from '../common/dht-export';
import { evaluateKpis, figuresFromStatusReport, kpiRules, type KpiResult, type StatusReport } from '../common/kpi';
import type { LoadedConfig } from '../config/load';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PgBackRest } from '../adapters/pgbackrest';
import { Postgres } from '../adapters/postgres';
import { formatTable, runRow, shortTime, type RunRow } from './runs';

/** The physical tier as the on-call engineer needs it: is WAL reaching the archive, and how old is
 * the newest physical backup (what restore-cluster would start from). */
export interface ArchivingStatus {
  lastArchivedWal?: string;
  lastArchivedAgeSeconds?: number;
  failedCount: number;
  lastFailedWal?: string;
  lastFailedAt?: string;
  /** A failure newer than the last success: segments pile up in pg_wal until it is fixed. */
  failing: boolean;
  latestPhysicalBackup?: { label: string; type: string; ageSeconds: number };
  problems: string[];
}

export async function archivingStatus(config: LoadedConfig, now = new Date()): Promise<ArchivingStatus | undefined> {
  if (!config.physical.enabled) return undefined;
  const problems: string[] = [];
  const pg = Postgres.fromUrl(config.database.url, '');
  let row: { last_archived_wal: string | null; last_archived_time: Date | null; failed_count: string; last_failed_wal: string | null; last_failed_time: Date | null } | undefined;
  try {
    // pg_stat_archiver is readable by every role.
    row = await pg.withClient(undefined, async (c) => (await c.query<NonNullable<typeof row>>('SELECT last_archived_wal, last_archived_time, failed_count, last_failed_wal, last_failed_time FROM pg_stat_archiver')).rows[0]);
  } catch (e) {
    problems.push(`WAL archiving: the database does not answer (${(e as Error).message})`);
  }
  const t = now.getTime();
  const failing = !!row?.last_failed_time && (!row.last_archived_time || row.last_failed_time > row.last_archived_time);
  if (failing) problems.push(`WAL archiving FAILS: ${row!.last_failed_wal} at ${row!.last_failed_time!.toISOString()} (${row!.failed_count} failures): segments pile up in pg_wal; see the server log and ${path.join(config.physical.workDirectory, 'log')}`);
  let latestPhysicalBackup: ArchivingStatus['latestPhysicalBackup'];
  const tool = new PgBackRest(config.physical, pg.target.port);
  if (!existsSync(tool.configFile)) {
    problems.push(`physical tier on, but not set up here (no ${tool.configFile}): run database-archiving`);
  } else {
    try {
      const newest = (await tool.info()).backups.filter((b) => !b.error).pop();
      if (newest) latestPhysicalBackup = { label: newest.label, type: newest.type, ageSeconds: Math.round(t / 1000 - newest.stoppedAt) };
      else problems.push('no physical backup yet: run physical-backup');
    } catch (e) {
      // The repository is on the database host; from elsewhere it is not readable here.
      problems.push(`physical backups: not readable from this machine (${(e as Error).message.split('\n')[0]})`);
    }
  }
  return {
    lastArchivedWal: row?.last_archived_wal ?? undefined,
    lastArchivedAgeSeconds: row?.last_archived_time ? Math.round((t - row.last_archived_time.getTime()) / 1000) : undefined,
    failedCount: Number(row?.failed_count ?? 0),
    lastFailedWal: row?.last_failed_wal ?? undefined,
    lastFailedAt: row?.last_failed_time?.toISOString(),
    failing,
    latestPhysicalBackup,
    problems,
  };
}

export interface SystemStatus {
  at: string;
  statusReport: { url: string; reachable: boolean; error?: string; systemStatus?: string; alerts?: StatusReport['alerts'] };
  kpis: KpiResult[];
  incidents: RunRow[];
  latestBackup?: { file: string; finishedAt: string; ageSeconds: number };
  latestExport?: { file: string; finishedAt: string; ageSeconds: number };
  archiving?: ArchivingStatus;
  problems: string[];
}

async function latestVerified(dir: string, kind: 'backup' | 'export', now: number): Promise<SystemStatus['latestBackup']> {
  const list = kind === 'backup' ? (await listBackups(dir)).backups : (await listManifested<DhtExportManifest>(dir, DHT_MANIFEST_FORMAT)).backups;
  const newest = list.find((b) => b.present && b.manifest.verified);
  if (!newest) return undefined;
  const finishedAt = newest.manifest.finishedAt;
  return { file: newest.path, finishedAt, ageSeconds: Math.round((now - Date.parse(finishedAt)) / 1000) };
}

export async function systemStatus(client: Client, config: LoadedConfig, now = new Date()): Promise<SystemStatus> {
  const problems: string[] = [];
  const url = config.application.statusUrl;
  const { report, error } = await readStatusReport(config);
  const host = await hostFigures({ config, postgres: Postgres.fromUrl(config.database.url, '') }, config.healthCheck.timeoutSeconds * 1000, { record: false });
  problems.push(...host.problems);
  const kpis = evaluateKpis(report ? figuresFromStatusReport(report, host.figures) : host.figures, kpiRules(config.kpi));
  const incidents: RunRow[] = [];
  for await (const w of client.workflow.list({ query: 'RunbookTrigger = "alert" AND ExecutionStatus = "Running"' })) {
    incidents.push(runRow(w));
    if (incidents.length >= 20) break;
  }
  const t = now.getTime();
  const archiving = await archivingStatus(config, now);
  return {
    at: now.toISOString(),
    statusReport: { url, reachable: report !== undefined, error, systemStatus: report?.system_status, alerts: report?.alerts },
    kpis,
    incidents,
    latestBackup: await latestVerified(config.backupDirectory, 'backup', t),
    latestExport: await latestVerified(config.dhtExportDirectory, 'export', t),
    archiving,
    problems: [...problems, ...(archiving?.problems ?? [])],
  };
}

function age(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} days`;
}

function shown(r: KpiResult): string {
  if (r.value === undefined) return '-';
  if (r.name === 'memoryBytes' || r.name === 'storageGrowthBytesPerDay') return `${(r.value / 1024 ** 2).toFixed(1)} MiB`;
  if (['detectionRate', 'falsePositiveRate', 'uptime', 'healthyNodeRatio', 'errorRate'].includes(r.name)) return `${(r.value * 100).toFixed(1)}%`;
  return String(Math.round(r.value * 100) / 100);
}

export function formatSystemStatus(s: SystemStatus): string {
  const out: string[] = [];
  const sr = s.statusReport;
  out.push(`Status report  ${sr.reachable ? sr.systemStatus!.toUpperCase() : `UNREACHABLE (${sr.error})`}  ${sr.url}`);
  for (const a of sr.alerts ?? []) out.push(`  ${a.severity}: ${a.message}`);
  out.push('', formatTable(['KPI', 'TABLE', 'VALUE', 'LEVEL', 'THRESHOLD', 'TARGET'], s.kpis.map((k) => [k.label, k.table, shown(k), k.level === 'ok' || k.level === 'outside-target' ? k.level : k.level.toUpperCase(), k.threshold === undefined ? '' : String(k.threshold), k.target ?? ''])));
  out.push('', s.incidents.length ? `Open incidents (${s.incidents.length})` : 'Open incidents: none');
  if (s.incidents.length) out.push(formatTable(['WORKFLOW ID', 'RUNBOOK', 'SEVERITY', 'STARTED'], s.incidents.map((r) => [r.workflowId, r.runbook, r.severity, shortTime(r.startTime)])));
  out.push('');
  out.push(s.latestBackup ? `Latest verified backup  ${age(s.latestBackup.ageSeconds)} old  ${s.latestBackup.file}` : 'Latest verified backup  NONE');
  out.push(s.latestExport ? `Latest verified export  ${age(s.latestExport.ageSeconds)} old  ${s.latestExport.file}` : 'Latest verified export  NONE');
  const a = s.archiving;
  if (a) {
    out.push(`WAL archiving           ${a.failing ? 'FAILING' : a.lastArchivedWal ? `last segment ${age(a.lastArchivedAgeSeconds ?? 0)} ago (${a.lastArchivedWal})` : 'nothing archived yet'}; ${a.failedCount} failures`);
    out.push(a.latestPhysicalBackup ? `Latest physical backup  ${age(a.latestPhysicalBackup.ageSeconds)} old  ${a.latestPhysicalBackup.type} ${a.latestPhysicalBackup.label}` : 'Latest physical backup  NONE');
  }
  for (const p of s.problems) out.push(`! ${p}`);
  return out.join('\n');
}
