// Names, descriptions and results of the runbooks. Pure: imported by workflows and the client
// alike. Inputs are in runbook-inputs.ts (one schema per runbook); their types are re-exported here.
import type { BackupManifest } from './backup-manifest';
import type * as Workflows from '../workflows';
import type { RunbookInput } from './runbook-inputs';

export type { CommonInput, IncidentInput } from './runbook-inputs';

/** Runbook name (as users type it and as the RunbookName search attribute shows it) -> workflow
 * type. The workflow type is checked against the workflows' own exports: a typo does not compile. */
export const runbookWorkflows = {
  'database-backup': 'databaseBackup',
  'restore-database': 'restoreDatabase',
  'database-archiving': 'databaseArchiving',
  'physical-backup': 'physicalBackup',
  'restore-cluster': 'restoreCluster',
  'dht-export': 'dhtExport',
  'restore-dht': 'restoreDht',
  'restart-conductor': 'restartConductor',
  'alert-notification': 'alertNotification',
  'health-check': 'healthCheck',
  'incident-system-unresponsive': 'incidentSystemUnresponsive',
  'incident-byzantine-detection-failure': 'incidentByzantineDetectionFailure',
  'incident-data-corruption': 'incidentDataCorruption',
  'incident-high-latency': 'incidentHighLatency',
  'incident-error-rate': 'incidentErrorRate',
  'incident-low-healthy-nodes': 'incidentLowHealthyNodes',
  'incident-rate-limit-violations': 'incidentRateLimitViolations',
  'incident-high-memory': 'incidentHighMemory',
  'incident-high-detection-activity': 'incidentHighDetectionActivity',
  'troubleshoot-high-latency': 'troubleshootHighLatency',
  'troubleshoot-memory-growth': 'troubleshootMemoryGrowth',
  'troubleshoot-conductor-connection': 'troubleshootConductorConnection',
  'troubleshoot-unexpected-detections': 'troubleshootUnexpectedDetections',
  'config-backup': 'configBackup',
  'disaster-recovery': 'disasterRecovery',
  'dr-drill': 'drDrill',
  'log-rotation': 'logRotation',
  'metrics-cleanup': 'metricsCleanup',
  'weekly-health-review': 'weeklyHealthReview',
  'weekly-performance-review': 'weeklyPerformanceReview',
  'weekly-capacity-report': 'weeklyCapacityReport',
  'monthly-threshold-review': 'monthlyThresholdReview',
  'monthly-rate-limit-review': 'monthlyRateLimitReview',
  'monthly-security-checklist': 'monthlySecurityChecklist',
  'vertical-scale': 'verticalScale',
  'horizontal-scale': 'horizontalScale',
} as const satisfies Record<string, keyof typeof Workflows>;

/** Runbooks of which at most one run may exist at a time: they run under their own name as the
 * workflow id, so a second start is refused by the server. */
export const singletonRunbooks: readonly RunbookName[] = ['disaster-recovery', 'dr-drill'];

export type RunbookName = keyof typeof runbookWorkflows;

export function isRunbookName(name: string): name is RunbookName {
  return Object.prototype.hasOwnProperty.call(runbookWorkflows, name);
}

export interface RunbookDescription {
  summary: string;
  /** The steps in order, as the run's progress and the UI name them. */
  steps: string[];
  /** What it may change; "nothing" for read-only runbooks. */
  changes: string;
}

/** What `runbook describe` and docs/runbooks.md say of each runbook besides its inputs. */
export const runbookDescriptions: Record<RunbookName, RunbookDescription> = {
  'database-backup': {
    summary: 'Daily PostgreSQL backup (02:00): pg_dump through zstd, verified end to end while it is written, then 30-day retention.',
    steps: ['describe target', 'dump and verify', 'retention'],
    changes: 'writes a backup and its manifest (0600); retention deletes backups of this database older than the retention, never the newest verified one',
  },
  'restore-database': {
    summary: 'Restore a verified backup into a scratch database, check it, and swap it in; the live database is kept renamed until the final check passes.',
    steps: ['describe target', 'find backup', 'verify backup', 'awaiting approval (production)', 'lock the target', 'restore into scratch', 'check scratch', 'scratch idle', 'stop application', 'swap', 'final verification', 'start application', 'drop previous (unless kept)'],
    changes: 'replaces the live database (the pre-restore one is kept until verified); stops and starts the application',
  },
  'database-archiving': {
    summary: 'Set up continuous WAL archiving with pgBackRest: its configuration, archive_mode, archive_command and archive_timeout (a restart when needed, approved on production), the stanza, and pgBackRest\'s check.',
    steps: ['describe target', 'read settings', 'awaiting approval (restart on production)', 'apply settings', 'stanza and check'],
    changes: 'server settings (ALTER SYSTEM) and, when archive_mode changes, a restart of PostgreSQL; creates the pgBackRest stanza',
  },
  'physical-backup': {
    summary: 'A pgBackRest backup (full weekly, differential daily, incremental hourly by default), verified file by file with the WAL it needs; pgBackRest\'s retention expires old ones.',
    steps: ['describe target', 'backup', 'verify'],
    changes: 'writes a backup into the pgBackRest repository; expires backups past the retention',
  },
  'restore-cluster': {
    summary: 'Point-in-time recovery of the whole cluster: the backup and WAL verified, restored into a new data directory, recovered to the latest point, a time or a restore point, checked on its own port, then (approved on production) switched in; the old data directory is kept.',
    steps: ['describe target', 'archive current WAL', 'plan', 'lock the target', 'restore copy', 'check copy', 'awaiting approval (production)', 'stop application', 'switch', 'verify', 'start application'],
    changes: 'replaces the live data directory (the old one is kept beside it, renamed); stops and starts PostgreSQL and the application',
  },
  'dht-export': {
    summary: 'Daily export of every credit from the conductor (02:30) to a JSON file with a manifest, verified, then retention.',
    steps: ['check conductor', 'export', 'retention'],
    changes: 'writes an export and its manifest (0600); retention deletes old exports',
  },
  'restore-dht': {
    summary: 'Verify an export, start the conductor and install the app if needed, import (idempotent by credit id), verify every credit.',
    steps: ['find export', 'verify export', 'lock the target', 'start conductor', 'install app', 'import', 'verify'],
    changes: 'adds credits to the conductor (never removes any); may start the conductor',
  },
  'restart-conductor': {
    summary: 'Graceful conductor restart; with clean: true the wipe (hc sandbox clean) after an approval, the application stopped, and a fresh export.',
    steps: ['check conductor', 'awaiting approval (clean)', 'lock the target', 'stop application (clean)', 'export before wipe (clean)', 'stop', 'wipe (clean)', 'start', 'app', 'import (clean)', 'verify', 'start application (clean)'],
    changes: 'restarts the conductor; with clean: wipes its data and imports the export made after the application stopped',
  },
  'alert-notification': {
    summary: 'An alert without an automatic runbook: notify level 1 at once, escalate while it fires (an INFO alert is never escalated).',
    steps: ['escalation level 1', 'escalation level 2 (warning, critical)', 'escalation level 3 (critical)', 'waiting for the alert to resolve'],
    changes: 'nothing (notifications only)',
  },
  'health-check': {
    summary: "The built-in health check: evaluates the runbook's KPI tables against the status report and raises or resolves alerts. With watch (what its schedule runs): one long-lived checker that checks every interval and records only the changes.",
    steps: ['evaluate', 'raise and resolve alerts', 'watch: checking, then one step per breach, change of level or recovery'],
    changes: 'starts incident runbooks through the alert router',
  },
  'incident-system-unresponsive': {
    summary: "The runbook's Incident 1: diagnose status report, conductor, database, application and host; apply the one fix the diagnosis points to, within the restart budget; verify.",
    steps: ['detect', 'assess', 'respond', 'resolve', 'post-mortem'],
    changes: 'restarts the conductor, PostgreSQL or the application (at most the restart budget per hour); frees temp files no running step owns',
  },
  'incident-byzantine-detection-failure': {
    summary: "The runbook's Incident 2: audit detections, PoGQ scoring, validators and the threshold; a threshold change only after an approval.",
    steps: ['detect', 'assess', 'respond', 'awaiting approval', 'resolve', 'post-mortem'],
    changes: 'the PoGQ threshold, after an approval',
  },
  'incident-data-corruption': {
    summary: "The runbook's Incident 3: compare the DHT and the database; gossip for DHT gaps; restore the latest verified backup for database corruption (approval unless configured otherwise), keeping the pre-restore database.",
    steps: ['detect', 'assess', 'respond', 'resolve', 'post-mortem'],
    changes: 'triggers gossip; restores the database through restore-database (pre-restore database kept)',
  },
  'incident-high-latency': {
    summary: 'The response to the average and P99 response-time alerts: time by stage (application, conductor round trip, database: slow statements and locks), load and recent changes; restart the slow component within its budget, end the sessions holding locks (approval on production), or escalate slow statements and load with the evidence; verified by the latency KPIs.',
    steps: ['detect', 'assess', 'respond', 'resolve', 'post-mortem'],
    changes: "restarts the application or the conductor (restart budget); ends blocking database sessions' work (approval on production)",
  },
  'incident-error-rate': {
    summary: "The response to the high error rate alert: the application log's recent errors grouped by stage, the database connections, the conductor; restart what the evidence names within its budget; verified by the error-rate KPI.",
    steps: ['detect', 'assess', 'respond', 'resolve', 'post-mortem'],
    changes: 'restarts the application, the conductor or PostgreSQL (restart budget)',
  },
  'incident-low-healthy-nodes': {
    summary: 'The response to the low healthy node alert: the unhealthy nodes with their last heartbeat and last event, restarted through the application (not when more than half are down: systemic); nodes that stay down are named; verified by the healthy share.',
    steps: ['detect', 'assess', 'respond', 'resolve', 'post-mortem'],
    changes: 'restarts unhealthy nodes through the application',
  },
  'incident-rate-limit-violations': {
    summary: "The response to the rate-limit violations alert: offenders by node and event type, spam or growth; a temporary ban or a higher limit, only after an approval, in the audit trail; verified by the violations' rate.",
    steps: ['detect', 'assess', 'respond', 'awaiting approval', 'resolve', 'post-mortem'],
    changes: 'bans nodes for a day or raises a rate limit, after an approval (audit trail)',
  },
  'incident-high-memory': {
    summary: 'The response to the high memory alert: memory over time, the metrics window, the largest processes; clear old metrics and reduce the window, or a graceful restart in a quiet moment for a leak (approval on production); verified by the memory KPI.',
    steps: ['detect', 'assess', 'respond', 'resolve', 'post-mortem'],
    changes: 'clears old metrics and reduces the metrics window; restarts the application for a leak (restart budget)',
  },
  'incident-high-detection-activity': {
    summary: 'The response to the high detection activity alert (info): a watch of the detections over its window, a false-positive check of the most flagged nodes, and a penalty for confirmed repeat offenders after an approval (audit trail).',
    steps: ['detect', 'assess', 'respond', 'awaiting approval', 'resolve', 'post-mortem'],
    changes: 'lowers the reputation of confirmed repeat offenders by one level, after an approval (audit trail)',
  },
  'troubleshoot-high-latency': {
    summary: "The troubleshooting guide's high latency checks, as a report.",
    steps: ['checks', 'report'],
    changes: 'nothing (a report)',
  },
  'troubleshoot-memory-growth': {
    summary: "The troubleshooting guide's memory leak checks: memory over time, the metrics window, lingering connections.",
    steps: ['checks', 'report'],
    changes: 'nothing (a report)',
  },
  'troubleshoot-conductor-connection': {
    summary: "The troubleshooting guide's connection failure checks: conductor running, port reachable, firewall, log.",
    steps: ['checks', 'report'],
    changes: 'nothing (a report)',
  },
  'troubleshoot-unexpected-detections': {
    summary: "The troubleshooting guide's unexpected detections checks; restores a confirmed false positive's reputation after an approval.",
    steps: ['checks', 'awaiting approval', 'restore reputation', 'report'],
    changes: "a node's reputation, after an approval",
  },
  'config-backup': {
    summary: 'Nightly archive of the configuration files (02:45) with a manifest, verified member by member, then retention.',
    steps: ['archive', 'retention'],
    changes: 'writes an archive and its manifest (0600); retention deletes old archives',
  },
  'disaster-recovery': {
    summary: "The runbook's Full System Failure: prerequisites (the recovery point), provision, restore the database and the DHT, check totals, start the application, verify.",
    steps: ['check prerequisites', 'lock the targets', 'provision', 'restore the database', 'restore the DHT', 'check totals', 'start the application', 'verify'],
    changes: 'provisions and restores the database and the conductor; starts the application',
  },
  'dr-drill': {
    summary: 'The monthly DR test: the recovery rehearsed in a scratch environment of its own under the data directory, verified, measured and torn down.',
    steps: ['no other drill running', 'check prerequisites', 'provision the drill environment', 'restore the database', 'restore the DHT', 'tear down'],
    changes: 'only its own environment (a directory it creates and marks, a cluster and a conductor on scratch ports)',
  },
  'log-rotation': {
    summary: 'Daily log rotation (03:00): rename, tell the writer to reopen (a verified pid or a command), compress, keep the newest.',
    steps: ['rotate'],
    changes: 'rotates and compresses the configured logs; deletes rotations beyond the kept count',
  },
  'metrics-cleanup': {
    summary: 'Daily cleanup (04:00) of reports and health-check samples beyond their retention.',
    steps: ['clean up'],
    changes: 'deletes reports of this tool and samples beyond retention',
  },
  'weekly-health-review': { summary: 'Monday: alerts, incidents and failed runs of the past week.', steps: ['gather and write'], changes: 'nothing (a report)' },
  'weekly-performance-review': { summary: 'Wednesday: response-time percentiles and detection patterns over 7 days.', steps: ['gather and write'], changes: 'nothing (a report)' },
  'weekly-capacity-report': { summary: 'Friday: storage growth, nodes, memory and projections.', steps: ['gather and write'], changes: 'nothing (a report)' },
  'monthly-threshold-review': { summary: 'Monthly: what fired against which thresholds.', steps: ['gather and write'], changes: 'nothing (a report)' },
  'monthly-rate-limit-review': { summary: 'Monthly: nodes near their rate limits.', steps: ['gather and write'], changes: 'nothing (a report)' },
  'monthly-security-checklist': { summary: 'Monthly: the security checklist.', steps: ['gather and write'], changes: 'nothing (a report)' },
  'vertical-scale': {
    summary: 'Vertical scaling in a maintenance window: fresh backup, performance before, stop, upgrade (hook or operator), start, performance after.',
    steps: ['waiting for the maintenance window', 'lock the target', 'fresh backup', 'performance before', 'stop the application', 'awaiting the upgrade', 'start the application', 'performance after'],
    changes: 'stops and starts the application; runs the configured upgrade hook',
  },
  'horizontal-scale': {
    summary: 'Horizontal scaling: provision a node through the configured hook, verify it joined, is healthy and issues credits.',
    steps: ['provision and join', 'verify'],
    changes: 'runs the configured provisioning hook for the node',
  },
};

/** The input types of the runbooks whose workflows take them by these names. */
export type DatabaseBackupInput = RunbookInput<'database-backup'>;
export type RestoreDatabaseInput = RunbookInput<'restore-database'>;
export type DhtExportInput = RunbookInput<'dht-export'>;
export type RestoreDhtInput = RunbookInput<'restore-dht'>;
export type RestartConductorInput = RunbookInput<'restart-conductor'>;

export interface RetentionResult {
  kept: string[];
  deleted: string[];
  /** Files in the directory without a manifest of ours: never touched. */
  ignored: string[];
  dryRun: boolean;
}

export interface DatabaseBackupResult {
  runbook: 'database-backup';
  outcome: 'succeeded' | 'dry-run';
  key: string;
  path: string;
  bytes: number;
  sha256: string;
  durationMs: number;
  /** True when a verified backup for this slot already existed and was reused. */
  reused: boolean;
  manifest?: BackupManifest;
  retention?: RetentionResult;
  plan?: string[];
}

export interface Approval {
  approved: boolean;
  /** Who decided (with the two-person rule: every approver, comma-separated). */
  by: string;
  reason?: string;
  at: string;
  /** SHA-256 of the plan that was approved or rejected. */
  planHash?: string;
  /** Each approval, when several were needed. */
  approvals?: Array<{ by: string; at: string; reason?: string }>;
}

export interface RestoreDatabaseResult {
  runbook: 'restore-database';
  outcome: 'succeeded' | 'dry-run' | 'rejected' | 'approval-timeout';
  database: string;
  backup: string;
  previousDatabase?: string;
  previousKept: boolean;
  approval?: Approval;
  tables?: Record<string, number>;
  /** From the start until the restored database was live under its name and verified. */
  liveAfterMs?: number;
  durationMs: number;
  plan?: string[];
}

export type PhysicalBackupInput = RunbookInput<'physical-backup'>;
export type RestoreClusterInput = RunbookInput<'restore-cluster'>;
export type DatabaseArchivingInput = RunbookInput<'database-archiving'>;

export interface DatabaseArchivingResult {
  runbook: 'database-archiving';
  outcome: 'succeeded' | 'dry-run' | 'rejected' | 'approval-timeout';
  stanza: string;
  changed: string[];
  restarted: boolean;
  durationMs: number;
  plan?: string[];
}

export interface PhysicalBackupResult {
  runbook: 'physical-backup';
  outcome: 'succeeded' | 'dry-run';
  type: 'full' | 'diff' | 'incr';
  label: string;
  /** Bytes of the database, and what this backup added to the repository. */
  size: number;
  repositoryDelta: number;
  walFrom: string;
  walTo: string;
  verified: boolean;
  tables: Record<string, number>;
  durationMs: number;
  plan?: string[];
}

export interface RestoreClusterResult {
  runbook: 'restore-cluster';
  outcome: 'succeeded' | 'dry-run' | 'rejected' | 'approval-timeout';
  target: string;
  backup: string;
  walFrom: string;
  walTo: string;
  dataLoss: string;
  /** The last transaction the restored cluster has (from the server's recovery log). */
  recoveredTo?: string;
  /** The old data directory, kept (or the discarded copy's place when nothing was switched). */
  keptDirectory?: string;
  tables?: Record<string, number>;
  fingerprint?: string;
  /** Rows per table the restore took back from the live server (live minus restored), when the
   * live server answered before the switch. */
  rowsBehind?: Record<string, number>;
  restoreMs?: number;
  recoverMs?: number;
  /** The old server's stop to the new server's first answer. */
  downtimeMs?: number;
  /** The new timeline (its history file and first WAL) reached the archive after the switch. */
  newTimelineArchived?: boolean;
  approval?: Approval;
  durationMs: number;
  plan?: string[];
}

export interface DhtExportResult {
  runbook: 'dht-export';
  outcome: 'succeeded' | 'dry-run';
  key: string;
  path: string;
  bytes: number;
  sha256: string;
  credits: number;
  contentHash: string;
  durationMs: number;
  reused: boolean;
  retention?: RetentionResult;
  plan?: string[];
}

/** Every exported credit against the DHT (checkDhtAgainstExport). */
export interface DhtCheck {
  matches: boolean;
  exported: number;
  present: number;
  missing: string[];
  different: string[];
  extra: number;
  contentHash: string;
}

export interface RestoreDhtResult {
  runbook: 'restore-dht';
  outcome: 'succeeded' | 'dry-run';
  export: string;
  credits: number;
  startedConductor?: boolean;
  installedApp?: boolean;
  imported?: number;
  skipped?: number;
  check?: DhtCheck;
  durationMs: number;
  plan?: string[];
}

export interface RestartConductorResult {
  runbook: 'restart-conductor';
  outcome: 'succeeded' | 'dry-run' | 'rejected' | 'approval-timeout';
  aliveBefore: boolean;
  cleaned: boolean;
  approval?: Approval;
  export?: string;
  appInstalled?: boolean;
  appEnabled?: boolean;
  imported?: number;
  creditsReadable?: number;
  durationMs: number;
  plan?: string[];
}
