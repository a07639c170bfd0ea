// Starts, stops and wipes a service the same way on a systemd host and in the sandbox: a systemd
// unit through `systemctl` (argument arrays), or configured commands.
import { CommandError, runCommand } from './process';
import { redact } from './secrets';

export type ServiceSpec =
  | { type: 'systemd'; unit: string; clean?: string[] }
  | { type: 'command'; start: string[]; stop: string[]; clean?: string[]; status?: string[] };

export interface ServiceControl {
  describe(): string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Wipes the service's data; only for services whose spec says how. */
  clean(): Promise<void>;
  canClean(): boolean;
  /** Whether it runs: `systemctl is-active`, or the status command's exit code (0: running).
   * Undefined when the spec has no way to tell. */
  isActive(): Promise<boolean | undefined>;
}

async function exitsZero(command: string[], timeoutMs: number): Promise<boolean> {
  try {
    await runCommand(command, { timeoutMs });
    return true;
  } catch (e) {
    if (e instanceof CommandError && e.exitCode !== null) return false;
    throw e;
  }
}

export function serviceControl(spec: ServiceSpec, o: { timeoutMs?: number } = {}): ServiceControl {
  const timeoutMs = o.timeoutMs ?? 120_000;
  if (spec.type === 'systemd') {
    const systemctl = (verb: string): Promise<unknown> => runCommand(['systemctl', verb, spec.unit], { timeoutMs });
    return {
      describe: () => `systemd unit ${spec.unit}`,
      start: async () => void (await systemctl('start')),
      stop: async () => void (await systemctl('stop')),
      clean: async () => {
        if (!spec.clean) throw new Error(`no clean command configured for systemd unit ${spec.unit}`);
        await runCommand(spec.clean, { timeoutMs });
      },
      canClean: () => spec.clean !== undefined,
      isActive: () => exitsZero(['systemctl', 'is-active', '--quiet', spec.unit], timeoutMs),
    };
  }
  return {
    // As configured: secret references stay references, literal credentials are masked.
    describe: () => `command ${redact(spec.start.join(' '))}`,
    start: async () => void (await runCommand(spec.start, { timeoutMs })),
    stop: async () => void (await runCommand(spec.stop, { timeoutMs })),
    clean: async () => {
      if (!spec.clean) throw new Error('no clean command configured');
      await runCommand(spec.clean, { timeoutMs });
    },
    canClean: () => spec.clean !== undefined,
    isActive: async () => (spec.status ? exitsZero(spec.status, timeoutMs) : undefined),
  };
}
