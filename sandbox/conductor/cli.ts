// The stand-in conductor's control CLI, shaped like the runbook's `hc sandbox` commands:
//   run    run in the foreground (prints "Conductor ready." when up; SIGINT stops it gracefully)
//   start  run in the background and wait until ready      stop   SIGINT, then SIGKILL after a grace
//   list   what is installed and running                   clean  wipe the data (as the real one does)
//   fault  hang | refuse | slow [--delay-ms N] | clear     (for the runbooks' tests)
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { runningPidIn, setFaultSwitch } from '../fault-switch';
import { isAlive, listenAddress, stopProcess } from '../processes';
import { Conductor, faultPath, type Fault } from './conductor';
import { nodeProgram } from '../../config/project';

export function pidPath(dataDir: string): string {
  return path.join(dataDir, 'conductor.pid');
}

export function logPath(dataDir: string): string {
  return path.join(dataDir, 'conductor.log');
}

export function runningPid(dataDir: string): number | undefined {
  return runningPidIn(pidPath(dataDir), 'sandbox/conductor/cli');
}

async function run(o: { dataDir: string; adminPort: number; peers: number; host?: string }): Promise<void> {
  const conductor = new Conductor({ dataDir: o.dataDir, adminPort: o.adminPort, peers: o.peers, host: o.host });
  await conductor.start();
  writeFileSync(pidPath(o.dataDir), String(process.pid));
  console.log('Conductor ready.');
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: shutting down`);
    void conductor.stop().then(() => {
      rmSync(pidPath(o.dataDir), { force: true });
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function start(o: { dataDir: string; adminPort: number; peers: number; timeoutMs: number; host?: string }): Promise<void> {
  if (runningPid(o.dataDir) !== undefined) {
    console.log(`already running (pid ${runningPid(o.dataDir)})`);
    return;
  }
  mkdirSync(o.dataDir, { recursive: true });
  const log = logPath(o.dataDir);
  const before = existsSync(log) ? readFileSync(log, 'utf8').length : 0;
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [...nodeProgram('sandbox/conductor/cli').slice(1), 'run', '--data-dir', o.dataDir, '--admin-port', String(o.adminPort), '--peers', String(o.peers), ...(o.host ? ['--host', o.host] : [])], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  const deadline = Date.now() + o.timeoutMs;
  while (Date.now() < deadline) {
    const text = readFileSync(log, 'utf8').slice(before);
    if (text.includes('Conductor ready.')) {
      console.log(`Conductor ready. (pid ${child.pid}, admin port ${o.adminPort})`);
      return;
    }
    if (child.exitCode !== null || (child.pid !== undefined && !isAlive(child.pid))) {
      throw new Error(`the conductor exited during start-up:\n${text.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the conductor did not report ready within ${o.timeoutMs / 1000} s (log: ${log})`);
}


async function stop(o: { dataDir: string; graceMs: number }): Promise<void> {
  const pid = runningPid(o.dataDir);
  if (pid === undefined) {
    console.log('not running');
    return;
  }
  // SIGINT is the conductor's graceful stop.
  if ((await stopProcess(pid, { signal: 'SIGINT', graceMs: o.graceMs })) === 'killed') {
    console.log(`did not stop within ${o.graceMs / 1000} s of SIGINT: killed (pid ${pid})`);
  } else {
    console.log(`stopped (pid ${pid})`);
  }
  rmSync(pidPath(o.dataDir), { force: true });
}

function list(o: { dataDir: string }): void {
  const pid = runningPid(o.dataDir);
  const statePath = path.join(o.dataDir, 'conductor.json');
  const state = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as { apps: Array<{ installed_app_id: string; status: { type: string } }>; interfaces: Array<{ port: number }> }) : { apps: [], interfaces: [] };
  console.log(`conductor ${pid ? `running (pid ${pid})` : 'stopped'}  data ${o.dataDir}`);
  for (const a of state.apps) console.log(`  app ${a.installed_app_id}: ${a.status.type}`);
  for (const i of state.interfaces) console.log(`  app interface on port ${i.port}`);
}

function clean(o: { dataDir: string }): void {
  if (runningPid(o.dataDir) !== undefined) throw new Error('refusing to clean while the conductor runs: stop it first');
  rmSync(o.dataDir, { recursive: true, force: true });
  console.log(`wiped ${o.dataDir}`);
}

async function fault(mode: string, o: { dataDir: string; delayMs: number }): Promise<void> {
  const modes = ['hang', 'refuse', 'slow', 'clear'];
  if (!modes.includes(mode)) throw new Error(`fault: expected one of ${modes.join(', ')}, found "${mode}"`);
  mkdirSync(o.dataDir, { recursive: true });
  const pid = runningPid(o.dataDir);
  if (mode !== 'clear' && pid === undefined) throw new Error('the conductor is not running: nothing to inject a fault into');
  const f: Fault = mode === 'clear' ? { mode: 'none' } : { mode: mode as Fault['mode'], delayMs: o.delayMs, pid };
  await setFaultSwitch(faultPath(o.dataDir), f, pid, 'the conductor');
  console.log(`fault: ${f.mode}`);
}

function main(): void {
  const program = new Command('conductor').description('the Holochain conductor stand-in of the zerotrustml-runbooks sandbox');
  const dataDir = (c: Command): Command => c.requiredOption('--data-dir <dir>', 'the conductor data directory');
  dataDir(program.command('run'))
    .option('--admin-port <port>', 'admin interface port', '8888')
    .option('--host <address>', 'the address its interfaces listen on', '127.0.0.1')
    .option('--peers <n>', 'peers reported by network stats', '3')
    .action((o: { dataDir: string; adminPort: string; peers: string; host: string }) => run({ dataDir: o.dataDir, adminPort: Number(o.adminPort), peers: Number(o.peers), host: listenAddress(o.host) }));
  dataDir(program.command('start'))
    .option('--admin-port <port>', 'admin interface port', '8888')
    .option('--host <address>', 'the address its interfaces listen on', '127.0.0.1')
    .option('--peers <n>', 'peers reported by network stats', '3')
    .option('--timeout-ms <ms>', 'how long to wait for ready', '30000')
    .action((o: { dataDir: string; adminPort: string; peers: string; timeoutMs: string; host: string }) =>
      start({ dataDir: o.dataDir, adminPort: Number(o.adminPort), peers: Number(o.peers), timeoutMs: Number(o.timeoutMs), host: listenAddress(o.host) }),
    );
  dataDir(program.command('stop'))
    .option('--grace-ms <ms>', 'SIGKILL after this long', '10000')
    .action((o: { dataDir: string; graceMs: string }) => stop({ dataDir: o.dataDir, graceMs: Number(o.graceMs) }));
  dataDir(program.command('list')).action((o: { dataDir: string }) => list(o));
  dataDir(program.command('clean')).action((o: { dataDir: string }) => clean(o));
  dataDir(program.command('fault'))
    .argument('<mode>', 'hang | refuse | slow | clear')
    .option('--delay-ms <ms>', 'delay of each answer in slow mode', '5000')
    .action((mode: string, o: { dataDir: string; delayMs: string }) => fault(mode, { dataDir: o.dataDir, delayMs: Number(o.delayMs) }));
  program.parseAsync(process.argv).catch((e: unknown) => {
    console.error(`conductor: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}

if (require.main === module) main();
