// Worker Deployment versioning (temporal.versioning): which version this worker is, and making it
// the deployment's current version when it starts. A version is the deployment name and a build id
// (the package version and the commit it was built from). Each runbook's behaviour is chosen in
// workflows/versioning.ts: runs that wait on people (incidents, approvals) are pinned to the
// version they started on, so a deploy never changes the code under an open incident; short
// runbooks move to the current version at their next task.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import type { LoadedConfig } from '../config/load';
import { projectRoot } from '../config/project';

/** <package version>+<commit> (or +<commit>.dirty with uncommitted changes; +unknown outside a
 * git checkout, e.g. a production install from a tarball: set RUNBOOK_BUILD_ID there). */
export function defaultBuildId(): string {
  const version = (JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;
  try {
    const git = (args: string[]): string => execFileSync('git', args, { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = git(['rev-parse', '--short=12', 'HEAD']);
    const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
    return `${version}+${commit}${dirty ? '.dirty' : ''}`;
  } catch {
    return `${version}+unknown`;
  }
}

export interface WorkerVersion {
  deploymentName: string;
  buildId: string;
}

/** The worker's version, when versioning is on. */
export function workerVersion(config: LoadedConfig): WorkerVersion | undefined {
  const v = config.temporal.versioning;
  return v.enabled ? { deploymentName: v.deploymentName, buildId: v.buildId ?? defaultBuildId() } : undefined;
}

/** Worker options for the version: runbooks without a behaviour of their own auto-upgrade. */
export function deploymentOptions(version: WorkerVersion | undefined): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  return version ? { workerDeploymentOptions: { useWorkerVersioning: true, version, defaultVersioningBehavior: 'AUTO_UPGRADE' } } : {};
}

/** Makes the version current once the server knows it (it learns of a version from its pollers:
 * a worker that just started may not be registered yet). */
export async function promote(connection: NativeConnection, namespace: string, version: WorkerVersion, identity: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await connection.workflowService.setWorkerDeploymentCurrentVersion({ namespace, deploymentName: version.deploymentName, buildId: version.buildId, identity, ignoreMissingTaskQueues: true });
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`could not make ${version.deploymentName} ${version.buildId} the current version: ${(e as Error).message}`, { cause: e });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
