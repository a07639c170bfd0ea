// The worker's workflowsPath: every runbook workflow, by name.
export { databaseBackup } from './database-backup';
export { restoreDatabase } from './restore-database';
