// The credits-service simulator as a process, controlled like a service:
//   run    in the foreground          start  in the background, wait until /health answers
//   stop   SIGTERM, then SIGKILL       fault  hang|slow|blind|errors|ratelimit|unhealthy|memory|
//                                            corrupt-rows|corrupt-dht|crash|clear
// `crash` kills the process (SIGKILL); corrupt-rows and corrupt-dht change the data once (this CLI
// does it, through the database and the conductor); the others switch the running process's
// behaviour. `clear` ends them all, the data corruption included.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import type { Client as PgClient } from 'pg';
import type * as M_pg from 'pg';
import type * as M_conductor from '../../adapters/conductor';
import type * as M_load from '../../config/load';
import type * as M_service from './service';
import type * as M_corruption from './corruption';
import { runningPidIn, setFaultSwitch } from '../fault-switch';
import { isAlive, listenAddress, stopProcess } from '../processes';
import type { FaultMode } from './service';
import { nodeProgram } from '../../config/project';

// The service, the configuration, the database and conductor clients are loaded by the commands
// that use them: they take some 0.5 s to load, and `stop`, `start` and a fault switch need none
// of them. A service restart runs two of these commands, and a fault is on only once its command
// has loaded.
/* eslint-disable @typescript-eslint/no-require-imports */
const lazy = {
  pg: (): typeof M_pg => require('pg') as typeof M_pg,
  conductor: (): typeof M_conductor => require('../../adapters/conductor') as typeof M_conductor,
  load: (): typeof M_load => require('../../config/load') as typeof M_load,
  service: (): typeof M_service => require('./service') as typeof M_service,
  corruption: (): typeof M_corruption => require('./corruption') as typeof M_corruption,
};
/* eslint-enable @typescript-eslint/no-require-imports */
const loadConfig = (o: { file?: string }): ReturnType<typeof M_load.loadConfig> => lazy.load().loadConfig(o);

const pidPath = (dir: string): string => path.join(dir, 'credits-service.pid');
const logPath = (dir: string): string => path.join(dir, 'credits-service.log');

function runningPid(dir: string): number | undefined {
  return runningPidIn(pidPath(dir), 'sandbox/credits-service/cli');
}

interface Opts {
  dataDir: string;
  port: string;
  host: string;
  rate: string;
  config?: string;
}

async function run(o: Opts): Promise<void> {
  const config = loadConfig({ file: o.config });
  mkdirSync(o.dataDir, { recursive: true });
  const { CreditsService } = lazy.service();
  const { conductorClient } = lazy.conductor();
  const service = new CreditsService({ dataDir: o.dataDir, port: Number(o.port), host: listenAddress(o.host), pgUrl: config.database.url, conductor: conductorClient(config), eventsPerSecond: Number(o.rate), logDir: o.dataDir });
  try {
    await service.start();
  } catch (e) {
    // e.g. the port is taken: say so and exit now, not when idle connections time out.
    console.error(`credits service: could not start: ${(e as Error).message}`);
    await service.stop().catch(() => undefined);
    process.exit(1);
  }
  writeFileSync(pidPath(o.dataDir), String(process.pid));
  console.log(`credits service ready on ${o.host}:${o.port} (${o.rate} events/s)`);
  const stop = (): void => {
    void service.stop().then(() => {
      rmSync(pidPath(o.dataDir), { force: true });
      process.exit(0);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.on('SIGHUP', () => service.reopenLogs());
}

/** A new node joins: it is added to the nodes table and the running service picks it up. */
async function join(o: { dataDir: string; nodeId: string; config?: string }): Promise<void> {
  if (!/^node-[0-9]+$/.test(o.nodeId)) throw new Error(`join: expected a node id like node-0101, found "${o.nodeId}"`);
  const config = loadConfig({ file: o.config });
  const { Client } = lazy.pg();
  const pg = new Client({ connectionString: config.database.url });
  await pg.connect();
  try {
    await pg.query(`INSERT INTO nodes (node_id, reputation, is_validator, healthy, joined_at, last_seen_at) VALUES ($1, 'normal', false, true, now(), now()) ON CONFLICT (node_id) DO NOTHING`, [o.nodeId]);
  } finally {
    await pg.end();
  }
  const pid = runningPid(o.dataDir);
  if (pid !== undefined) process.kill(pid, 'SIGHUP');
  console.log(`joined ${o.nodeId}${pid === undefined ? ' (the service is not running: it picks the node up when it starts)' : ''}`);
}

async function start(o: Opts): Promise<void> {
  if (runningPid(o.dataDir) !== undefined) return void console.log(`already running (pid ${runningPid(o.dataDir)})`);
  mkdirSync(o.dataDir, { recursive: true });
  const fd = openSync(logPath(o.dataDir), 'a');
  const [, ...program] = nodeProgram('sandbox/credits-service/cli');
  const args = [...program, 'run', '--data-dir', o.dataDir, '--port', o.port, '--host', listenAddress(o.host), '--rate', o.rate, ...(o.config ? ['--config', o.config] : [])];
  // --expose-gc: clearing old metrics (the memory response) hands the memory back at once.
  const child = spawn(process.execPath, ['--expose-gc', ...args], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`http://${o.host}:${o.port}/health`, { signal: AbortSignal.timeout(500) })).ok) return void console.log(`credits service ready (pid ${child.pid})`);
    } catch {
      // not yet
    }
    if (child.pid !== undefined && !isAlive(child.pid)) throw new Error(`the credits service exited during start-up (log: ${logPath(o.dataDir)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the credits service did not answer within 30 s (log: ${logPath(o.dataDir)})`);
}

async function stop(o: { dataDir: string }): Promise<void> {
  const pid = runningPid(o.dataDir);
  if (pid === undefined) return void console.log('not running');
  await stopProcess(pid);
  rmSync(pidPath(o.dataDir), { force: true });
  console.log(`stopped (pid ${pid})`);
}

type DataFault = 'corrupt-rows' | 'corrupt-dht';
const MODES: Array<FaultMode | DataFault | 'crash' | 'clear'> = ['hang', 'slow', 'blind', 'errors', 'ratelimit', 'unhealthy', 'memory', 'corrupt-rows', 'corrupt-dht', 'crash', 'clear'];

async function withData<T>(configFile: string | undefined, fn: (pg: PgClient, conductor: ReturnType<typeof M_conductor.conductorClient>, conductorDataDir: string) => Promise<T>): Promise<T> {
  const config = loadConfig({ file: configFile });
  const { Client } = lazy.pg();
  const pg = new Client({ connectionString: config.database.url });
  const conductor = lazy.conductor().conductorClient(config);
  await pg.connect();
  try {
    return await fn(pg, conductor, config.conductorDataDir);
  } finally {
    await pg.end();
    await conductor.close();
  }
}

async function fault(all: string[], o: { dataDir: string; delayMs: string; ballastMb: string; config?: string }): Promise<void> {
  for (const m of all) if (!MODES.includes(m as FaultMode)) throw new Error(`fault: expected some of ${MODES.join(', ')}, found "${m}"`);
  mkdirSync(o.dataDir, { recursive: true });
  if (all.includes('corrupt-rows')) {
    const { corruptRows } = lazy.corruption();
    const r = await withData(o.config, (pg, c) => corruptRows(pg, c, o.dataDir));
    console.log(`corrupt-rows: amounts changed of ${r!.changed.map((x) => x.credit_id).join(', ')}; deleted ${r!.deleted.map((x) => x.credit_id).join(', ')}`);
  }
  if (all.includes('corrupt-dht')) {
    const { corruptDht } = lazy.corruption();
    const r = await withData(o.config, (_pg, c, dir) => corruptDht(c, dir, o.dataDir));
    console.log(`corrupt-dht: lost from the DHT view (until a gossip round): ${r!.lost.join(', ')}`);
  }
  if (all.includes('clear')) {
    const { clearCorruption } = lazy.corruption();
    for (const line of await withData(o.config, (pg) => clearCorruption(pg, o.dataDir))) console.log(`cleared ${line}`);
  }
  const modes = all.filter((m) => m !== 'corrupt-rows' && m !== 'corrupt-dht');
  if (modes.length === 0) return;
  const pid = runningPid(o.dataDir);
  if (modes.includes('crash')) {
    if (pid === undefined) throw new Error('the credits service is not running: nothing to crash');
    process.kill(pid, 'SIGKILL');
    return void console.log(`crashed (pid ${pid})`);
  }
  if (!modes.includes('clear') && pid === undefined) throw new Error('the credits service is not running: nothing to inject a fault into');
  await setFaultSwitch(lazy.service().faultFile(o.dataDir), modes.includes('clear') ? { modes: [] } : { modes, delayMs: Number(o.delayMs), ballastMb: Number(o.ballastMb), pid }, pid, 'the credits service');
  console.log(`faults: ${modes.join(', ')}`);
}

function main(): void {
  const program = new Command('credits-service').description('the Zero-TrustML Credits application simulator of the sandbox');
  const common = (c: Command): Command =>
    c.requiredOption('--data-dir <dir>', 'where its pid, log and fault switch live').option('--port <port>', 'HTTP port (/metrics, /status)', '18000').option('--host <address>', 'the address it listens on', '127.0.0.1').option('--rate <n>', 'credit events per second', '5').option('-c, --config <file>', 'runbooks configuration (database, conductor)');
  common(program.command('run')).action((o: Opts) => run(o));
  common(program.command('start')).action((o: Opts) => start(o));
  program.command('stop').requiredOption('--data-dir <dir>').action((o: { dataDir: string }) => stop(o));
  program
    .command('join')
    .description('add a node to the network (a horizontal scale-out in the sandbox)')
    .requiredOption('--data-dir <dir>')
    .requiredOption('--node-id <id>')
    .option('-c, --config <file>')
    .action((o: { dataDir: string; nodeId: string; config?: string }) => join(o));
  program
    .command('status')
    .description('exit 0 when running, 3 when not')
    .requiredOption('--data-dir <dir>')
    .action((o: { dataDir: string }) => {
      const pid = runningPid(o.dataDir);
      console.log(pid === undefined ? 'not running' : `running (pid ${pid})`);
      if (pid === undefined) process.exitCode = 3;
    });
  program
    .command('fault')
    .requiredOption('--data-dir <dir>')
    .option('--delay-ms <ms>', 'added response time for slow', '4000')
    .option('--ballast-mb <mb>', 'metrics bloat for memory, in MiB (8 MiB steps)', '512')
    .option('-c, --config <file>', 'runbooks configuration (database, conductor) for the data faults')
    .argument('<modes...>', MODES.join(' | '))
    .action((modes: string[], o: { dataDir: string; delayMs: string; ballastMb: string; config?: string }) => fault(modes, o));
  program.parseAsync(process.argv).catch((e: unknown) => {
    console.error(`credits-service: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}

if (require.main === module) main();
