// Names, inputs and results of the runbooks. Pure: imported by workflows and the client alike.
import type { BackupManifest } from './backup-manifest';
import type { TriggerKind } from './search-attributes';

/** Runbook name (as users type it and as the RunbookName search attribute shows it) -> workflow type. */
export const runbookWorkflows = {
  'database-backup': 'databaseBackup',
  'restore-database': 'restoreDatabase',
  'dht-export': 'dhtExport',
  'restore-dht': 'restoreDht',
  'restart-conductor': 'restartConductor',
  'alert-notification': 'alertNotification',
  'health-check': 'healthCheck',
  'incident-system-unresponsive': 'incidentSystemUnresponsive',
  'incident-byzantine-detection-failure': 'incidentByzantineDetectionFailure',
  'incident-data-corruption': 'incidentDataCorruption',
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
} as const;

/** Runbooks of which at most one run may exist at a time: they run under their own name as the
 * workflow id, so a second start is refused by the server. */
export const singletonRunbooks: readonly RunbookName[] = ['disaster-recovery', 'dr-drill'];

export type RunbookName = keyof typeof runbookWorkflows;

export function isRunbookName(name: string): name is RunbookName {
  return Object.prototype.hasOwnProperty.call(runbookWorkflows, name);
}

/** Fields every runbook input accepts. */
export interface CommonInput {
  /** Walk the same path, change nothing, return the plan. */
  dryRun?: boolean;
  /** Who or what started the run; set by the client, the schedule or the alert receiver. */
  trigger?: TriggerKind;
  /** The run's severity (the Severity search attribute): incidents carry the alert's; routine
   * maintenance is "info". */
  severity?: 'info' | 'warning' | 'critical';
}

export interface DatabaseBackupInput extends CommonInput {
  /** Slot key (20251001_020000). Scheduled runs derive it from their scheduled time. */
  key?: string;
  /** Override the configured retention for this run (days). */
  retentionDays?: number;
  /** Heartbeat timeout of the dump step, in seconds: how fast a dead worker is noticed. */
  heartbeatTimeoutSeconds?: number;
}

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

export interface RestoreDatabaseInput extends CommonInput {
  /** Backup file path, or "latest" (the newest verified backup). */
  backup?: string;
  /** Keep the pre-restore database (renamed) after the final verification passes. */
  keepPrevious?: boolean;
  /** How long to wait for an approval on a production target, in seconds. */
  approvalTimeoutSeconds?: number;
}

export interface Approval {
  approved: boolean;
  by: string;
  reason?: string;
  at: string;
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

export interface DhtExportInput extends CommonInput {
  key?: string;
  retentionDays?: number;
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

export interface RestoreDhtInput extends CommonInput {
  /** Export file path or name, or "latest" (the newest verified export). */
  export?: string;
  heartbeatTimeoutSeconds?: number;
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

export interface RestartConductorInput extends CommonInput {
  /** Wipe the conductor's data (the runbook's `hc sandbox clean`): export, approval, wipe, import. */
  clean?: boolean;
  approvalTimeoutSeconds?: number;
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
