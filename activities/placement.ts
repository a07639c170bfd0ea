// Where each role's steps run: the task queue of the host configured for it, or the shared queue.
// Read by a local activity at the start of a run, so a run uses one placement throughout.
import { hostQueue, hostRoles, type HostRole } from '../common/config-schema';
import type { ActivityDeps } from './deps';

export type Placement = Record<HostRole, string>;

export function placementOf(config: ActivityDeps['config']): Placement {
  const out = Object.fromEntries(hostRoles.map((r) => [r, config.temporal.taskQueue])) as Placement;
  for (const [host, h] of Object.entries(config.hosts)) for (const role of h.roles) out[role] = hostQueue(config.temporal.taskQueue, host);
  return out;
}

export function createPlacementActivities(deps: ActivityDeps) {
  async function placement(): Promise<Placement> {
    return placementOf(deps.config);
  }
  return { placement };
}
