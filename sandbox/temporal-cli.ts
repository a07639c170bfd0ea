// Finds the `temporal` CLI (which runs the dev server), in this order: the configured path or
// TEMPORAL_CLI; `temporal` on PATH; a cached build outside the repo; a build from Go modules into
// that cache. The Temporal SDK's own download is the last resort, in temporal-server.ts, because
// it needs internet access that this project's machines do not have.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { which } from '../adapters/process';

/** The CLI release whose go.mod `go install pkg@version` accepts (v1.6.0+ carry a replace directive). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.ZEROTRUSTML_CACHE_DIR ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'zerotrustml-runbooks');
  return path.join(base, 'bin');
}

export type CliSource = 'configured' | 'path' | 'cache' | 'go-build';

/** Thrown by findTemporalCli when no route produced a binary; lists what each route printed. */
export class TemporalCliNotFound extends Error {
  override readonly name = 'TemporalCliNotFound';
}

export async function findTemporalCli(options: {
  configured?: string;
  env?: NodeJS.ProcessEnv;
  build?: boolean;
  log?: (line: string) => void;
}): Promise<{ path: string; source: CliSource }> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const attempts: string[] = [];

  const configured = options.configured ?? env.TEMPORAL_CLI;
  if (configured) {
    if (existsSync(configured)) return { path: configured, source: 'configured' };
    attempts.push(`configured path ${configured}: does not exist`);
  }
  const onPath = await which('temporal', env);
  if (onPath) return { path: onPath, source: 'path' };
  attempts.push('PATH: no `temporal` found');

  const cached = path.join(cacheDir(env), 'temporal');
  if (existsSync(cached)) return { path: cached, source: 'cache' };
  attempts.push(`cache: ${cached} does not exist`);

  if (options.build !== false) {
    const go = await which('go', env);
    if (go) {
      try {
        await goInstall(go, path.dirname(cached), env, log);
        if (existsSync(cached)) return { path: cached, source: 'go-build' };
        attempts.push(`go install: finished but ${cached} is missing`);
      } catch (e) {
        attempts.push(`go install ${TEMPORAL_CLI_MODULE}: ${(e as Error).message}`);
      }
    } else {
      attempts.push('go: not on PATH, cannot build the CLI');
    }
  }
  throw new TemporalCliNotFound(`the temporal CLI was not found:\n  ${attempts.join('\n  ')}`);
}

/** go install takes minutes on a cold module cache: stream its progress so nobody thinks it hung. */
function goInstall(go: string, gobin: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  mkdirSync(gobin, { recursive: true });
  log(`building the Temporal CLI: go install ${TEMPORAL_CLI_MODULE} (takes a few minutes the first time)`);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(go, ['install', TEMPORAL_CLI_MODULE], {
      env: { ...env, GOBIN: gobin },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let downloads = 0;
    let lastTail = '';
    const onLine = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        lastTail = (lastTail + '\n' + line).slice(-2000);
        if (line.startsWith('go: downloading')) {
          downloads++;
          if (downloads % 25 === 0) log(`  … ${downloads} modules downloaded (${Math.round((Date.now() - started) / 1000)} s)`);
        } else {
          log(`  ${line}`);
        }
      }
    };
    child.stdout.on('data', onLine);
    child.stderr.on('data', onLine);
    const ticker = setInterval(() => log(`  … still building (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
    child.on('error', (e) => {
      clearInterval(ticker);
      reject(e);
    });
    child.on('close', (code) => {
      clearInterval(ticker);
      if (code === 0) {
        log(`  built in ${Math.round((Date.now() - started) / 1000)} s`);
        resolve();
      } else reject(new Error(`exited with code ${code}: ${lastTail.trim()}`));
    });
  });
}
