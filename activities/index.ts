// Every activity of every runbook, built from injected adapters. Workflows import only the type.
import { createConductorActivities } from './conductor';
import { createDatabaseBackupActivities } from './database-backup';
import { createDhtActivities } from './dht';
import { createHealthCheckActivities } from './health-check';
import { createNotifyActivities } from './notify';
import type { ActivityDeps } from './deps';
import { createRestoreDatabaseActivities } from './restore-database';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createDatabaseBackupActivities(deps),
    ...createRestoreDatabaseActivities(deps),
    ...createConductorActivities(deps),
    ...createDhtActivities(deps),
    ...createNotifyActivities(deps),
    ...createHealthCheckActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
