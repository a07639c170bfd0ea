// The simulator's two log files, as the runbook lists them for the application: app.log (one line
// per credit event, numbered) and monitor.log (the monitor's figures every second). SIGHUP makes
// the process reopen both, which is how log rotation tells a writer to move to the new file
// without losing a line.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';

export class LogFiles {
  private fds = new Map<string, number>();

  constructor(
    private readonly dir: string,
    private readonly names: readonly string[] = ['app.log', 'monitor.log'],
  ) {
    mkdirSync(dir, { recursive: true });
    this.reopen();
  }

  pathOf(name: string): string {
    return path.join(this.dir, name);
  }

  /** Closes the old descriptors and opens (creates) the files again under their names. */
  reopen(): void {
    for (const name of this.names) {
      const old = this.fds.get(name);
      this.fds.set(name, openSync(this.pathOf(name), 'a'));
      if (old !== undefined) closeSync(old);
    }
  }

  write(name: string, line: string): void {
    const fd = this.fds.get(name);
    if (fd !== undefined) writeSync(fd, line + '\n');
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
