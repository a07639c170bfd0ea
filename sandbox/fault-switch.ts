// The fault switch of the sandbox's stand-ins (conductor, credits service): a JSON file in the
// process's data directory that the running process polls. A switch names the pid it was meant
// for, so a restarted process starts healthy, and the process acknowledges each switch it picked
// up, so the command that set it can return only once it is in effect.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isAlive } from './processes';

export class FaultSwitch<T extends { pid?: number }> {
  private mtime = 0;

  constructor(
    private readonly file: string,
    private readonly none: T,
  ) {}

  /** The switch's new value if it changed since the last poll, else undefined. */
  poll(): T | undefined {
    if (!existsSync(this.file)) {
      if (this.mtime === 0) return undefined;
      this.mtime = 0;
      return this.none;
    }
    const mtime = statSync(this.file).mtimeMs;
    if (mtime === this.mtime) return undefined;
    let next: T;
    try {
      next = JSON.parse(readFileSync(this.file, 'utf8')) as T;
    } catch {
      return undefined; // caught mid-write: read it on the next poll
    }
    this.mtime = mtime;
    if (next.pid !== undefined && next.pid !== process.pid) next = this.none;
    writeFileSync(`${this.file}.applied`, JSON.stringify({ ...next, mtime }));
    return next;
  }
}

/** Sets the switch; with the pid of a running process, returns once that process acknowledged it. */
export async function setFaultSwitch(file: string, value: object, pid: number | undefined, what: string): Promise<void> {
  writeFileSync(file, JSON.stringify(value));
  if (pid === undefined) return;
  const mtime = statSync(file).mtimeMs;
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      if ((JSON.parse(readFileSync(`${file}.applied`, 'utf8')) as { mtime: number }).mtime === mtime) return;
    } catch {
      // not acknowledged yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not pick the fault up within 5 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The pid in a pid file, if that process runs `program` (a project path such as
 * sandbox/conductor/cli, started from the sources or the build). A pid file is only a claim: a
 * stale one names whatever process got the pid since, and stop signals what this returns. Never
 * init or this process; without /proc to read, the pid file is trusted. */
export function runningPidIn(pidFile: string, program: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const text = readFileSync(pidFile, 'utf8').trim();
  const pid = Number(text);
  if (!/^\d{1,10}$/.test(text) || pid <= 1 || pid === process.pid || !isAlive(pid)) return undefined;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return existsSync('/proc/self') ? undefined : pid;
  }
  return cmdline.includes(`${path.join(program)}.`) ? pid : undefined;
}
