// A PostgreSQL cluster owned by the project: its own data directory and port, started as the
// `postgres` user when we run as root (the server refuses to run as root).
import { appendFileSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCommand, which } from '../adapters/process';
import { pgCtlArgs } from '../adapters/postgres-tools';
import { isLoopback, listenAddress } from './processes';

export interface ClusterOptions {
  /** The cluster's data directory. */
  dir: string;
  port: number;
  binDir?: string;
  /** Role and database created on first start. */
  role: string;
  database: string;
  /** The address it listens on (default loopback; written at initdb time). */
  listen?: string;
}

export async function postgresBinDir(configured?: string): Promise<string> {
  if (configured) {
    if (!existsSync(path.join(configured, 'pg_ctl'))) throw new Error(`database.binDir: expected a directory with pg_ctl, found ${configured}`);
    return configured;
  }
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v) && existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(root, versions[0], 'bin');
  }
  const pgConfig = await which('pg_config');
  if (pgConfig) {
    const { stdout } = await runCommand([pgConfig, '--bindir']);
    const dir = stdout.trim();
    if (existsSync(path.join(dir, 'initdb'))) return dir;
  }
  throw new Error('PostgreSQL server binaries (initdb, pg_ctl) were not found: install the postgresql package or set database.binDir');
}

/** The user the server runs as: ourselves, or `postgres` when we are root. */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, but there is no `postgres` user to run the PostgreSQL server as (install the postgresql package)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function asServerUser(): { uid?: number; gid?: number; env: NodeJS.ProcessEnv } {
  const user = serverUser();
  // HOME of root is not readable by postgres; give the tools a neutral cwd/env.
  const env = { ...process.env, HOME: '/tmp', PGPORT: undefined } as NodeJS.ProcessEnv;
  return user ? { ...user, env } : { env };
}

export function isInitialised(dir: string): boolean {
  return existsSync(path.join(dir, 'PG_VERSION'));
}

export async function initCluster(o: ClusterOptions): Promise<void> {
  const bin = await postgresBinDir(o.binDir);
  // Only the cluster directory is private; its parents must stay traversable for the server user.
  mkdirSync(path.dirname(o.dir), { recursive: true });
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const user = serverUser();
  if (user) chownSync(o.dir, user.uid, user.gid);
  const as = asServerUser();
  await runCommand(
    [path.join(bin, 'initdb'), '-D', o.dir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8', '--no-instructions'],
    { ...as, cwd: '/tmp' },
  );
  // Our own port, loopback only (or the one address the configuration places it on), no Unix
  // socket (nothing to collide with other clusters), and room for bulk loads and parallel restores.
  const listen = listenAddress(o.listen ?? '127.0.0.1');
  if (!isLoopback(listen)) {
    // Clients on the other simulated hosts (the multi-host tests' private network) may connect.
    appendFileSync(path.join(o.dir, 'pg_hba.conf'), '\nhost all all samenet trust\n');
  }
  const conf = [
    `port = ${o.port}`,
    `listen_addresses = '${listen}'`,
    `unix_socket_directories = ''`,
    `max_connections = 50`,
    `shared_buffers = 256MB`,
    `maintenance_work_mem = 256MB`,
    `max_wal_size = 2GB`,
    `logging_collector = off`,
    `log_min_messages = warning`,
  ].join('\n');
  writeFileSync(path.join(o.dir, 'postgresql.auto.conf'), conf + '\n');
  if (user) chownSync(path.join(o.dir, 'postgresql.auto.conf'), user.uid, user.gid);
}

export async function isRunning(o: Pick<ClusterOptions, 'dir' | 'binDir'>): Promise<boolean> {
  if (!isInitialised(o.dir)) return false;
  const bin = await postgresBinDir(o.binDir);
  try {
    await runCommand(pgCtlArgs(bin, ['-D', o.dir, 'status']), { ...asServerUser(), cwd: '/tmp' });
    return true;
  } catch {
    return false;
  }
}

export async function startCluster(o: ClusterOptions): Promise<{ created: boolean }> {
  const created = !isInitialised(o.dir);
  if (created) await initCluster(o);
  const bin = await postgresBinDir(o.binDir);
  const start = !(await isRunning(o));
  if (start) {
    const logFile = path.join(o.dir, 'server.log');
    await runCommand(pgCtlArgs(bin, ['-D', o.dir, '-l', logFile, '-w', '-t', '60', 'start']), {
      ...asServerUser(),
      cwd: '/tmp',
    });
  }
  await ensureRoleAndDatabase(o, bin, start);
  return { created };
}

export async function stopCluster(o: Pick<ClusterOptions, 'dir' | 'binDir'>, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
  if (!(await isRunning(o))) return;
  const bin = await postgresBinDir(o.binDir);
  await runCommand(pgCtlArgs(bin, ['-D', o.dir, '-m', mode, '-w', 'stop']), { ...asServerUser(), cwd: '/tmp' });
}

async function ensureRoleAndDatabase(o: ClusterOptions, bin: string, started = false): Promise<void> {
  const psql = (sql: string, db = 'postgres') =>
    runCommand([path.join(bin, 'psql'), '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-h', o.listen ?? '127.0.0.1', '-p', String(o.port), '-U', 'postgres', '-d', db, '-c', sql]);
  // A checkpoint right after a start wakes the checkpointer, which otherwise applies
  // archive_timeout only after its first sleep of checkpoint_timeout (5 minutes): writes of those
  // minutes would stay unarchived (activities/physical-backup.ts, wakeCheckpointer).
  if (started) await psql('CHECKPOINT');
  const role = (await psql(`SELECT 1 FROM pg_roles WHERE rolname = '${o.role}'`)).stdout.trim();
  if (role !== '1') await psql(`CREATE ROLE "${o.role}" LOGIN CREATEDB`);
  const db = (await psql(`SELECT 1 FROM pg_database WHERE datname = '${o.database}'`)).stdout.trim();
  if (db !== '1') await psql(`CREATE DATABASE "${o.database}" OWNER "${o.role}"`);
}
