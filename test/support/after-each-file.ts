// Runs after every test file. The test stack is shared by all files, and the simulator started
// through its service commands issues credits until stopped: a file that leaves it running
// changes the row counts the next file compares exactly. Stop it here so each file starts with
// the application down, whatever the previous file did or failed to do.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isAlive, stopProcess } from '../../sandbox/processes';
import { appDataDir } from './env';

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

afterAll(async () => {
  const pidFile = path.join(appDataDir, 'credits-service.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  // A stale pid file may name a process that is not the simulator any more: leave that alone.
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !commandLine(pid).includes('credits-service')) return;
  await stopProcess(pid, { graceMs: 5000 });
});
