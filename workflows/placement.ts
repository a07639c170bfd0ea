// Steps that touch a host run on that host's task queue (common/config-schema.ts `hosts`): a run
// reads the placement once, as a local activity at its start, and makes its activity proxies per
// role from it. With no hosts configured every role is the shared queue.
import { proxyActivities, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import type { HostRole } from '../common/config-schema';
import type { Activities } from '../activities';
import type { Placement } from '../activities/placement';
import { configRead } from './presets';

const local = proxyLocalActivities<Activities>(configRead);

export async function placement(): Promise<Placement> {
  return local.placement.executeWithOptions({ summary: 'where each role runs (host task queues)' }, []);
}

/** Activities of a role, with a preset, on that role's queue. */
export function on(where: Placement, role: HostRole, preset: ActivityOptions): ReturnType<typeof proxyActivities<Activities>> {
  return proxyActivities<Activities>({ ...preset, taskQueue: where[role] });
}
