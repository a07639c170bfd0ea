// Background processes of the sandbox: started detached with their output in a log file and a pid
// file, so `runbook stack down` (or a second `npm start`) finds and stops them.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface ManagedProcess {
  name: string;
  pid: number;
  logFile: string;
}

export function runDir(dataDir: string): string {
  return path.join(dataDir, 'run');
}

export function pidFile(dataDir: string, name: string): string {
  return path.join(runDir(dataDir), `${name}.pid`);
}

/** Whether a process runs. A zombie (dead, not yet reaped by its new parent) does not count:
 * a killed detached process can linger as one for a while. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

export function readPid(dataDir: string, name: string): number | undefined {
  const file = pidFile(dataDir, name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  // A pid file is only a claim: it may be stale (the pid reused by another program) or written by
  // someone else (a --dir pointing anywhere). Only a live process running the program we started
  // under that name counts, and never init or this process: stopManaged signals what this returns.
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid || !isAlive(pid)) return undefined;
  const program = programFile(dataDir, name);
  if (existsSync(program)) {
    try {
      const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
      if (argv0 !== readFileSync(program, 'utf8')) return undefined;
    } catch {
      // no /proc: trust the pid file
    }
  } else {
    return undefined;
  }
  return pid;
}

/** The program a managed process was started with, beside its pid file (readPid checks it). */
function programFile(dataDir: string, name: string): string {
  return path.join(runDir(dataDir), `${name}.program`);
}

export function startBackground(
  dataDir: string,
  name: string,
  command: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; detached?: boolean } = {},
): ManagedProcess {
  const [file, ...args] = command;
  if (!file) throw new TypeError('startBackground: empty command');
  mkdirSync(runDir(dataDir), { recursive: true });
  const logFile = path.join(runDir(dataDir), `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', fd, fd],
    // Detached children get their own process group: Ctrl-C in the terminal does not reach them
    // directly, and stack down stops them in order instead.
    detached: options.detached ?? true,
  });
  closeSync(fd);
  if (!child.pid) throw new Error(`could not start ${name}: ${command.join(' ')}`);
  if (options.detached ?? true) child.unref();
  writeFileSync(programFile(dataDir, name), file);
  writeFileSync(pidFile(dataDir, name), String(child.pid));
  return { name, pid: child.pid, logFile };
}

/** SIGTERM (or the given signal), wait, then SIGKILL. Resolves once the process is gone, saying
 * whether it stopped by itself or had to be killed. */
export async function stopProcess(pid: number, options: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<'stopped' | 'killed'> {
  if (!isAlive(pid)) return 'stopped';
  try {
    process.kill(pid, options.signal ?? 'SIGTERM');
  } catch {
    return 'stopped';
  }
  const deadline = Date.now() + (options.graceMs ?? 10_000);
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'stopped';
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
  return 'killed';
}

export async function stopManaged(dataDir: string, name: string, options: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<boolean> {
  const pid = readPid(dataDir, name);
  rmSync(pidFile(dataDir, name), { force: true });
  if (pid === undefined) return false;
  await stopProcess(pid, options);
  return true;
}

/** An address a sandbox server may listen on: an IPv4 address or a host name, nothing a config
 * file or a shell would read as more (it lands in postgresql.conf and in command lines). */
export function listenAddress(value: string): string {
  if (!/^(?:\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*)$/.test(value)) {
    throw new Error(`--host/--listen: expected an IPv4 address or a host name, found ${JSON.stringify(value.slice(0, 80))}`);
  }
  return value;
}

/** The sandbox servers listen on loopback unless the configuration places them elsewhere (the
 * host named in their URL: the multi-host tests give each simulated host an address). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
}
