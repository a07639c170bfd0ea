// Runs commands as argument arrays (never shell strings). A failure keeps the command, its exit
// code or signal and the tail of stderr, so an operator reading the UI at 3 AM sees why.
import { spawn, type SpawnOptions } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { hasSecretRefs, redact, resolveSecretRefs } from './secrets';

/** Thrown by runCommand when a command exits non-zero, is killed, or cannot be started. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: readonly string[],
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderrTail: string,
    options?: { cause?: unknown },
  ) {
    const how = signal ? `was killed by ${signal}` : exitCode === null ? 'could not be started' : `exited with code ${exitCode}`;
    // The command as configured (secret references, not their values) and a masked stderr: this
    // message ends up in the run's history and the UI.
    const tail = stderrTail.trim() ? `: ${redact(stderrTail.trim())}` : '';
    super(`${redact(command.join(' '))} ${how}${tail}`, options);
  }
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Kill the command after this many milliseconds. */
  timeoutMs?: number;
  /** Run as this user (uid/gid), e.g. PostgreSQL's server tools refuse root. */
  uid?: number;
  gid?: number;
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const TAIL = 2000;

export function tail(text: string, max = TAIL): string {
  return text.length <= max ? text : '…' + text.slice(text.length - max);
}

/** Runs `command`; ${env:NAME} and ${file:PATH} references in its arguments are resolved to the
 * secrets they name just before it starts (see secrets.ts). */
export function runCommand(command: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  let resolved: string[];
  try {
    resolved = command.map((a) => (hasSecretRefs(a) ? resolveSecretRefs(a) : a));
  } catch (e) {
    return Promise.reject(new CommandError(command, null, null, (e as Error).message, { cause: e }));
  }
  const [file, ...args] = resolved;
  if (!file) return Promise.reject(new TypeError('runCommand: expected a non-empty argument array'));
  return new Promise((resolve, reject) => {
    const spawnOptions: SpawnOptions = {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: options.signal,
    };
    if (options.uid !== undefined) spawnOptions.uid = options.uid;
    if (options.gid !== undefined) spawnOptions.gid = options.gid;
    const child = spawn(file, args, spawnOptions);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (options.timeoutMs) {
      timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    }
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new CommandError(command, null, null, e.message, { cause: e }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) resolve({ stdout, stderr, exitCode: 0 });
      else reject(new CommandError(command, code, signal, tail(stderr || stdout)));
    });
    child.stdin?.on('error', () => undefined); // a command that exits early closes its stdin
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Looks a program up on PATH without a shell. */
export async function which(program: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, program);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
