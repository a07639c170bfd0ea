// Builds the worker from the configuration: real adapters, every activity, every workflow.
import { existsSync } from 'node:fs';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { LoadedConfig } from '../config/load';
import { connectionFailure, temporalConnectionOptions } from '../adapters/temporal-connection';
import { hostQueue } from '../common/config-schema';
import { placementOf } from '../activities/placement';
import { serveArchivingMetrics } from './archiving-metrics';
import { buildDeps } from './deps';
import { heartbeatInterceptors } from './heartbeat-interceptor';
import { bundlePath as buildBundle, compiled } from '../config/project';
import { deploymentOptions, promote, workerVersion, type WorkerVersion } from './versioning';

export async function createWorker(
  config: LoadedConfig,
  options: { identity?: string; host?: string } = {},
): Promise<{ worker: Worker; version?: WorkerVersion; connection: NativeConnection; close: () => Promise<void> }> {
  // Everything this worker and its tools write (backups, exports, archives, reports, expanded
  // copies) is for its owner only; the systemd units set the same umask.
  process.umask(0o077);
  const deps = await buildDeps(config);
  const server = temporalConnectionOptions(config);
  const connection = await NativeConnection.connect(server).catch((e: unknown) => {
    throw connectionFailure(server, e);
  });
  // A pre-built bundle saves the webpack step at every start: the test stack's
  // (RUNBOOK_WORKFLOW_BUNDLE), or the build's when this worker runs compiled (never when it runs
  // from sources: a build older than them would run old workflow code).
  const prebuilt = process.env.RUNBOOK_WORKFLOW_BUNDLE || (compiled ? buildBundle : undefined);
  const workflows: Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'> =
    prebuilt && existsSync(prebuilt) ? { workflowBundle: { codePath: prebuilt } } : { workflowsPath: require.resolve('../workflows') };
  // A host's worker serves only that host's queue, and only activities: the runbooks themselves
  // (workflows) run on the shared queue.
  const hostOnly = options.host !== undefined;
  const taskQueue = hostOnly ? hostQueue(config.temporal.taskQueue, options.host!) : config.temporal.taskQueue;
  // The worker that runs the database host's steps serves the physical tier's figures.
  const tier = config.physical;
  const metrics =
    tier.enabled && tier.metricsPort > 0 && placementOf(config).database === taskQueue
      ? await serveArchivingMetrics(deps, { port: tier.metricsPort, address: tier.metricsAddress, log: (l) => Runtime.instance().logger.warn(l) })
      : undefined;
  // The shared queue's workers are versions of one deployment when versioning is on; a host's
  // worker runs activities only and stays unversioned (its queue is its own).
  const version = hostOnly ? undefined : workerVersion(config);
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue,
    ...deploymentOptions(version),
    ...(options.identity ? { identity: options.identity } : {}),
    activities: createActivities(deps),
    // Heartbeats are how a killed worker is noticed; send them promptly, and on a clock for every
    // activity that has a heartbeat timeout (worker/heartbeat-interceptor.ts).
    maxHeartbeatThrottleInterval: '1s',
    defaultHeartbeatThrottleInterval: '1s',
    interceptors: { activity: [heartbeatInterceptors] },
    shutdownGraceTime: '10s',
    ...(hostOnly ? {} : workflows),
  });
  if (version && config.temporal.versioning.promoteOnStart) {
    // The server learns of the version from this worker's polls, which start with worker.run().
    const identity = options.identity ?? `runbook-worker@${process.pid}`;
    void promote(connection, config.temporal.namespace, version, identity).then(
      () => Runtime.instance().logger.info('worker version is current', { deploymentName: version.deploymentName, buildId: version.buildId }),
      (e: unknown) => Runtime.instance().logger.error((e as Error).message),
    );
  }
  return {
    worker,
    version,
    connection,
    // Open conductor sockets would keep the process alive after the worker stopped.
    close: async () => {
      await metrics?.close();
      await deps.conductor.close();
      await connection.close();
    },
  };
}
