// A stand-in's pid file is only a claim: its stop signals what runningPidIn returns, so a pid file
// naming another process, init, this process or garbage gives nothing to signal.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runningPidIn } from '../../sandbox/fault-switch';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pid-files-'));
const file = path.join(dir, 'x.pid');
const claim = (text: string): string => (writeFileSync(file, text), file);

test('only a live process running the named program counts', async () => {
  // A process whose command line names the program (as the stand-ins' own run processes do).
  const named = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', path.join('/x', 'sandbox', 'credits-service', 'cli.ts')], { stdio: 'ignore' });
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    expect(runningPidIn(claim(String(named.pid)), 'sandbox/credits-service/cli')).toBe(named.pid);
    // Another program under the same pid file (a stale pid reused), or the other stand-in's name.
    expect(runningPidIn(claim(String(other.pid)), 'sandbox/credits-service/cli')).toBeUndefined();
    expect(runningPidIn(claim(String(named.pid)), 'sandbox/conductor/cli')).toBeUndefined();
  } finally {
    named.kill('SIGKILL');
    other.kill('SIGKILL');
  }
  for (const hostile of ['1', '0', '-1', String(process.pid), `${process.pid}; rm -rf /`, '', 'abc', '1e3', '99999999999']) {
    expect(runningPidIn(claim(hostile), 'sandbox/credits-service/cli')).toBeUndefined();
  }
  expect(runningPidIn(path.join(dir, 'missing.pid'), 'sandbox/credits-service/cli')).toBeUndefined();
});
