// Runs after every test file. The test stack is shared by all files, and the simulator started
// through its service commands issues credits until stopped: a file that leaves it running
// changes the row counts the next file compares exactly. Stop it here so each file starts with
// the application down, whatever the previous file did or failed to do.
import path from 'node:path';
import { runningPidIn } from '../../sandbox/fault-switch';
import { stopProcess } from '../../sandbox/processes';
import { appDataDir } from './env';

afterAll(async () => {
  // The check the simulator's own stop makes: a stale pid file naming another process is left alone.
  const pid = runningPidIn(path.join(appDataDir, 'credits-service.pid'), 'sandbox/credits-service/cli');
  if (pid !== undefined) await stopProcess(pid, { graceMs: 5000 });
});
