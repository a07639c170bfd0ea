// Every activity of every runbook, built from injected adapters. Workflows import only the type.
import { createAlertResponseActivities } from './alert-response';
import { createApprovalActivities } from './approvals';
import { createByzantineActivities } from './byzantine';
import { createConductorActivities } from './conductor';
import { createConfigBackupActivities } from './config-backup';
import { createDataIntegrityActivities } from './data-integrity';
import { createDatabaseBackupActivities } from './database-backup';
import { createDhtActivities } from './dht';
import { createDisasterRecoveryActivities } from './disaster-recovery';
import { createGuardActivities } from './guards';
import { createHealthCheckActivities } from './health-check';
import { createIncidentActivities } from './incident';
import { createMaintenanceActivities } from './maintenance';
import { createNotifyActivities } from './notify';
import type { ActivityDeps } from './deps';
import { createPhysicalBackupActivities } from './physical-backup';
import { createPlacementActivities } from './placement';
import { createRestoreDatabaseActivities } from './restore-database';
import { createRunningRunsActivities } from './running-runs';
import { createReviewActivities } from './reviews';
import { createScalingActivities } from './scaling';
import { createTroubleshootingActivities } from './troubleshooting';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createDatabaseBackupActivities(deps),
    ...createRestoreDatabaseActivities(deps),
    ...createPhysicalBackupActivities(deps),
    ...createConductorActivities(deps),
    ...createDhtActivities(deps),
    ...createNotifyActivities(deps),
    ...createHealthCheckActivities(deps),
    ...createIncidentActivities(deps),
    ...createByzantineActivities(deps),
    ...createDataIntegrityActivities(deps),
    ...createTroubleshootingActivities(deps),
    ...createAlertResponseActivities(deps),
    ...createConfigBackupActivities(deps),
    ...createDisasterRecoveryActivities(deps),
    ...createMaintenanceActivities(deps),
    ...createReviewActivities(deps),
    ...createScalingActivities(deps),
    ...createRunningRunsActivities(),
    ...createGuardActivities(deps),
    ...createApprovalActivities(deps),
    ...createPlacementActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
