// Where the PostgreSQL client tools are (pg_dump, pg_restore, psql). A worker that backs up or
// restores a database needs these and nothing else: the server binaries (initdb, pg_ctl) belong to
// the sandbox's own cluster, never to a worker of a remote database.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { runCommand, which } from './process';

export const CLIENT_TOOLS = ['pg_dump', 'pg_restore', 'psql'] as const;

/** Thrown when the client tools cannot be found: says what was looked for and where. */
export class PostgresToolsMissing extends Error {
  override readonly name = 'PostgresToolsMissing';
}

/** The newest directory holding every one of `tools`, where PostgreSQL puts them: the newest
 * Debian installation (pg_dump refuses a server newer than itself, so the newest is the one to
 * use), else pg_config's, else (when `onPath` names one of them) the one on PATH. */
async function findBinDir(tools: readonly string[], onPath?: string): Promise<string | undefined> {
  const has = (dir: string): boolean => tools.every((t) => existsSync(path.join(dir, t)));
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v) && has(path.join(root, v, 'bin')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(root, versions[0], 'bin');
  }
  const pgConfig = await which('pg_config');
  if (pgConfig) {
    const dir = (await runCommand([pgConfig, '--bindir'])).stdout.trim();
    if (has(dir)) return dir;
  }
  const found = onPath ? await which(onPath) : undefined;
  return found && has(path.dirname(found)) ? path.dirname(found) : undefined;
}

/** A configured binary directory, checked to hold `tools`. */
function configuredDir(configured: string, tools: readonly string[]): string {
  if (!tools.every((t) => existsSync(path.join(configured, t)))) {
    throw new PostgresToolsMissing(`database.binDir: expected a directory with ${tools.join(', ')}, found ${configured} without ${tools.length > 1 ? 'them' : 'it'}`);
  }
  return configured;
}

/** The directory of pg_dump, pg_restore and psql: the configured one, else found (findBinDir). */
export async function postgresToolsDir(configured?: string): Promise<string> {
  if (configured) return configuredDir(configured, CLIENT_TOOLS);
  const dir = await findBinDir(CLIENT_TOOLS, 'pg_dump');
  if (dir) return dir;
  throw new PostgresToolsMissing(`PostgreSQL client tools (${CLIENT_TOOLS.join(', ')}) were not found in /usr/lib/postgresql/*/bin, pg_config --bindir or PATH: install postgresql-client (Debian) or set database.binDir`);
}

/** The directory of the server's own tools (pg_ctl), for the physical tier's restored copies on
 * the database host: the configured one, else found (findBinDir, not PATH). */
export async function postgresServerDir(configured?: string): Promise<string> {
  if (configured) return configuredDir(configured, ['pg_ctl']);
  const dir = await findBinDir(['pg_ctl']);
  if (dir) return dir;
  throw new PostgresToolsMissing('pg_ctl was not found in /usr/lib/postgresql/*/bin or pg_config --bindir: restoring a physical backup needs the PostgreSQL server package on the database host (or database.binDir)');
}

/** pg_ctl starts the server through /bin/sh: the binary's path, the data directory and the log
 * file go into that command line inside double quotes, and `-o` unquoted. A `$`, backquote,
 * double quote, backslash or line break in any of them would be run by the shell (seen: a data
 * directory ending in `$(touch f)` made pg_ctl create f). Such a value is refused here, before
 * pg_ctl sees it; `-o` values are built by the caller from values that passed this. */
export class UnsafeForShell extends Error {
  override readonly name = 'UnsafeForShell';
}

export function pgCtlArgs(bin: string, args: string[]): string[] {
  const command = [path.join(bin, 'pg_ctl'), ...args];
  for (const [i, v] of command.entries()) {
    if (command[i - 1] === '-o') continue;
    if (/[$`"\\\r\n]/.test(v)) throw new UnsafeForShell(`refusing to run pg_ctl with ${JSON.stringify(v)}: pg_ctl hands its paths to a shell, where $, \`, ", \\ or a line break would be run; rename the directory`);
  }
  return command;
}
