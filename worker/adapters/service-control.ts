// Starts, stops and wipes a service the same way on a systemd host and in the sandbox: a systemd
// unit through `systemctl` (argument arrays), or configured commands.
import { runCommand } from './process';

export type ServiceSpec =
  | { type: 'systemd'; unit: string; clean?: string[] }
  | { type: 'command'; start: string[]; stop: string[]; clean?: string[] };

export interface ServiceControl {
  describe(): string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Wipes the service's data; only for services whose spec says how. */
  clean(): Promise<void>;
  canClean(): boolean;
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
    };
  }
  return {
    describe: () => `command ${spec.start.join(' ')}`,
    start: async () => void (await runCommand(spec.start, { timeoutMs })),
    stop: async () => void (await runCommand(spec.stop, { timeoutMs })),
    clean: async () => {
      if (!spec.clean) throw new Error('no clean command configured');
      await runCommand(spec.clean, { timeoutMs });
    },
    canClean: () => spec.clean !== undefined,
  };
}
