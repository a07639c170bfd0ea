// Each runbook's versioning behaviour, for workers with Worker Deployment versioning on
// (temporal.versioning; worker/versioning.ts). Runs that wait on people for hours (an incident,
// an approval, an operator's upgrade) are PINNED: they finish on the version they started on, and
// a deploy in the middle never changes their code. Every other runbook takes the worker's default,
// AUTO_UPGRADE: its next task runs on the current version (replay-compatible changes only, which
// the replay tests check). A worker without versioning ignores both.
import type { WorkflowDefinitionOptions } from '@temporalio/common';
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import type { RunbookName } from '../common/runbooks';
import { databaseArchiving } from './database-archiving';
import { disasterRecovery } from './disaster-recovery';
import { incidentByzantineDetectionFailure } from './incident-byzantine-detection-failure';
import { incidentDataCorruption } from './incident-data-corruption';
import { incidentSystemUnresponsive } from './incident-system-unresponsive';
import { incidentHighLatency } from './incident-high-latency';
import { incidentErrorRate } from './incident-error-rate';
import { incidentLowHealthyNodes } from './incident-low-healthy-nodes';
import { incidentRateLimitViolations } from './incident-rate-limit-violations';
import { incidentHighMemory } from './incident-high-memory';
import { incidentHighDetectionActivity } from './incident-high-detection-activity';
import { restartConductor } from './restart-conductor';
import { restoreCluster } from './restore-cluster';
import { restoreDatabase } from './restore-database';
import { horizontalScale, verticalScale } from './scaling';
import { troubleshootUnexpectedDetections } from './troubleshooting';

/** The pinned runbooks (the rest auto-upgrade). */
export const pinnedRunbooks: Partial<Record<RunbookName, (...args: never[]) => Promise<unknown>>> = {
  'incident-system-unresponsive': incidentSystemUnresponsive,
  'incident-byzantine-detection-failure': incidentByzantineDetectionFailure,
  'incident-data-corruption': incidentDataCorruption,
  'incident-high-latency': incidentHighLatency,
  'incident-error-rate': incidentErrorRate,
  'incident-low-healthy-nodes': incidentLowHealthyNodes,
  'incident-rate-limit-violations': incidentRateLimitViolations,
  'incident-high-memory': incidentHighMemory,
  'incident-high-detection-activity': incidentHighDetectionActivity,
  'restart-conductor': restartConductor,
  'restore-database': restoreDatabase,
  'restore-cluster': restoreCluster,
  'disaster-recovery': disasterRecovery,
  'database-archiving': databaseArchiving,
  'troubleshoot-unexpected-detections': troubleshootUnexpectedDetections,
  'vertical-scale': verticalScale,
  'horizontal-scale': horizontalScale,
};

// Decided when a run starts, from the version its first task runs on: an unversioned worker must
// not send a behaviour (the server refuses the task's completion, and the run's task times out
// again and again), and one worker bundle serves both kinds of worker. An unversioned worker
// still reports a build id (its bundle's), but no deployment name.
function pinnedWhenVersioned(): WorkflowDefinitionOptions {
  return workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: 'PINNED' } : {};
}

for (const fn of Object.values(pinnedRunbooks)) setWorkflowOptions(pinnedWhenVersioned, fn);
