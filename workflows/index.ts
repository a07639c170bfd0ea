// The worker's workflowsPath: every runbook workflow, by name.
export { databaseBackup } from './database-backup';
export { restoreDatabase } from './restore-database';
export { databaseArchiving } from './database-archiving';
export { physicalBackup } from './physical-backup';
export { restoreCluster } from './restore-cluster';
export { dhtExport } from './dht-export';
export { restoreDht } from './restore-dht';
export { restartConductor } from './restart-conductor';
export { alertNotification } from './alert-notification';
export { healthCheck } from './health-check';
export { incidentSystemUnresponsive } from './incident-system-unresponsive';
export { incidentByzantineDetectionFailure } from './incident-byzantine-detection-failure';
export { incidentDataCorruption } from './incident-data-corruption';
export { troubleshootHighLatency, troubleshootMemoryGrowth, troubleshootConductorConnection, troubleshootUnexpectedDetections } from './troubleshooting';
export { configBackup } from './config-backup';
export { disasterRecovery } from './disaster-recovery';
export { drDrill } from './dr-drill';
export { logRotation, metricsCleanup } from './maintenance';
export { weeklyHealthReview, weeklyPerformanceReview, weeklyCapacityReport, monthlyThresholdReview, monthlyRateLimitReview, monthlySecurityChecklist } from './reviews';
export { verticalScale, horizontalScale } from './scaling';
export { targetLock, restartBudget } from './guards';
// For its effect: each runbook's versioning behaviour (pinned or auto-upgrade) is set on load.
import './versioning';
