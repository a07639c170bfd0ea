// Simulated hosts for the multi-host tests: a network namespace per host, each with its own
// network stack (loopback, one address) and a veth pair to a bridge in the test's own namespace,
// which holds the address the Temporal cluster listens on. Nothing leaves the machine: the bridge
// has no uplink. Taking a host's link down drops its side of the pair, as a pulled cable does.
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';

export interface SimulatedHost {
  name: string;
  /** The network namespace's name (ip netns). */
  netns: string;
  address: string;
  /** The veth end on the bridge side: taking it down cuts the host off. */
  link: string;
}

const ip = (args: string[], o: ExecFileSyncOptions = {}): string => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], ...o }).toString();
const quiet = (args: string[]): void => {
  try {
    ip(args);
  } catch {
    // already gone
  }
};

export interface SimulatedNetwork {
  bridge: string;
  /** The test's own address on the bridge: the Temporal cluster listens here. */
  gateway: string;
  hosts: Record<string, SimulatedHost>;
}

/** Makes the bridge and one namespace per host (10.231.0.1 is the bridge; hosts from .2). */
export function createNetwork(names: string[], o: { prefix?: string; subnet?: string } = {}): SimulatedNetwork {
  const prefix = o.prefix ?? 'ztrb';
  const subnet = o.subnet ?? '10.231.0';
  removeNetwork(names, { prefix });
  const bridge = `${prefix}-br`;
  ip(['link', 'add', bridge, 'type', 'bridge']);
  ip(['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
  ip(['link', 'set', bridge, 'up']);
  const hosts: Record<string, SimulatedHost> = {};
  names.forEach((name, i) => {
    const netns = `${prefix}-${name}`;
    const link = `${prefix}-${name}-b`.slice(0, 15);
    const inner = `${prefix}-${name}-h`.slice(0, 15);
    const address = `${subnet}.${i + 2}`;
    ip(['netns', 'add', netns]);
    ip(['link', 'add', link, 'type', 'veth', 'peer', 'name', inner]);
    ip(['link', 'set', inner, 'netns', netns]);
    ip(['link', 'set', link, 'master', bridge]);
    ip(['link', 'set', link, 'up']);
    ip(['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
    ip(['netns', 'exec', netns, 'ip', 'addr', 'add', `${address}/24`, 'dev', inner]);
    ip(['netns', 'exec', netns, 'ip', 'link', 'set', inner, 'up']);
    hosts[name] = { name, netns, address, link };
  });
  return { bridge, gateway: `${subnet}.1`, hosts };
}

/** Kills what still runs in the hosts' namespaces, then removes them and the bridge. */
export function removeNetwork(names: string[], o: { prefix?: string } = {}): void {
  const prefix = o.prefix ?? 'ztrb';
  for (const name of names) {
    const netns = `${prefix}-${name}`;
    let pids: string[];
    try {
      pids = ip(['netns', 'pids', netns]).split(/\s+/).filter(Boolean);
    } catch {
      continue;
    }
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
    quiet(['link', 'del', `${prefix}-${name}-b`.slice(0, 15)]);
    quiet(['netns', 'del', netns]);
  }
  quiet(['link', 'del', `${prefix}-br`]);
}

/** The command, run inside a host's network namespace. */
export function inHost(host: SimulatedHost, command: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', host.netns, ...command];
}

export function setLink(host: SimulatedHost, state: 'up' | 'down'): void {
  ip(['link', 'set', host.link, state]);
}
