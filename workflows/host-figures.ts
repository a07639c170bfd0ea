// Load, memory and disk of the hosts that run the services, each read by its own host's worker
// (once per host, whatever roles it has). A host whose worker does not pick the read up within 15 s
// is named and left out: a dead host must not stall the diagnosis that is looking for it.
import type { HostResources } from '../activities/incident';
import type { HostRole } from '../common/config-schema';
import { failureMessage } from './run-record';
import { on, placement } from './placement';
import { shortStep } from './presets';

export async function readHostFigures(roles: ReadonlyArray<Exclude<HostRole, 'backups'>>): Promise<{ hosts: HostResources[]; unread: string[] }> {
  const where = await placement();
  const byQueue = new Map<string, Array<(typeof roles)[number]>>();
  for (const role of roles) byQueue.set(where[role], [...(byQueue.get(where[role]) ?? []), role]);
  const unread: string[] = [];
  const reads = await Promise.all(
    [...byQueue].map(([queue, rs]) =>
      on(where, rs[0]!, { ...shortStep, scheduleToStartTimeout: '15s', retry: { maximumAttempts: 1 } })
        .hostResources.executeWithOptions({ summary: `load, memory and disk of the ${rs.join(', ')} host` }, [{ roles: rs }])
        .catch((e: unknown) => {
          unread.push(`the ${rs.join(', ')} host's figures were not read (queue ${queue}): ${failureMessage(e)}`);
          return undefined;
        }),
    ),
  );
  return { hosts: reads.filter((h): h is HostResources => h !== undefined), unread };
}
