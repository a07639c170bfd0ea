// Every activity of every runbook, built from injected adapters. Workflows import only the type.
import { createDatabaseBackupActivities } from './database-backup';
import type { ActivityDeps } from './deps';
import { createRestoreDatabaseActivities } from './restore-database';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createDatabaseBackupActivities(deps),
    ...createRestoreDatabaseActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
