// A production install is the project's files, the build (`npm run build`: dist/ with the
// workflows bundled) and `npm ci --omit=dev`: no TypeScript, no tsx. The CLI and a worker must run
// from it, and a runbook must run on that worker.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { projectRoot, testConfigPath, testPorts } from '../support/env';

const notShipped = new Set(['node_modules', '.git', '.data', 'test', 'bench', 'test-results']);
let dir: string;

beforeAll(() => {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: projectRoot, stdio: 'pipe' });
  dir = mkdtempSync(path.join(os.tmpdir(), 'runbooks-install-'));
  for (const entry of readdirSync(projectRoot)) if (!notShipped.has(entry)) cpSync(path.join(projectRoot, entry), path.join(dir, entry), { recursive: true });
  // The npm cache holds every package after the project's own `npm ci`.
  execFileSync('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'pipe' });
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('the install has no development tooling, and the CLI runs from the build', () => {
  expect(['tsx', 'typescript', 'jest', 'eslint'].filter((m) => existsSync(path.join(dir, 'node_modules', m)))).toEqual([]);
  expect(existsSync(path.join(dir, 'node_modules', '@temporalio', 'worker'))).toBe(true);
  expect(execFileSync(path.join(dir, 'bin', 'runbook'), ['--help'], { encoding: 'utf8' })).toMatch(/^Usage: runbook/);
  // describe reads docs/runbooks.md through the project's root, not through dist/.
  expect(execFileSync(path.join(dir, 'bin', 'runbook'), ['describe', 'database-backup'], { encoding: 'utf8' })).toMatch(/^database-backup: /);
  // A usage error is refused by the build's CLI as by the sources'.
  const r = spawnSync(path.join(dir, 'bin', 'runbook'), ['run', 'no-such-runbook'], { encoding: 'utf8' });
  expect(r).toEqual(expect.objectContaining({ status: 2 }));
  expect(r.stderr).toMatch(/unknown runbook|expected one of/);
});

test('a worker started from the build runs a runbook the build\'s CLI starts', async () => {
  const queue = `install-${process.pid}`;
  const env = { ...process.env, RUNBOOK_CONFIG: testConfigPath, RUNBOOK_TASK_QUEUE: queue, RUNBOOK_WORKFLOW_BUNDLE: '' };
  let output = '';
  const worker = spawn(process.execPath, [path.join(dir, 'dist', 'worker', 'main.js')], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  worker.stdout.on('data', (b: Buffer) => (output += b.toString()));
  worker.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  try {
    await waitForWorkflowPoller(queue, () => worker.exitCode !== null, () => output);
    // Not a synchronous call: the worker's output is read while the run goes on.
    const { stdout } = await promisify(execFile)(path.join(dir, 'bin', 'runbook'), ['run', 'database-backup', '--dry-run', '--wait', '--json'], { cwd: dir, env, encoding: 'utf8' });
    expect(JSON.parse(stdout)).toEqual(expect.objectContaining({ outcome: 'dry-run' }));
    // The worker used the build's workflow bundle: webpack never ran in it.
    expect(output).toMatch(/"worker started"/);
    expect(output).not.toMatch(/Workflow bundle created|webpack/i);
  } finally {
    worker.kill('SIGTERM');
    await exited;
  }
}, 120_000);

async function waitForWorkflowPoller(taskQueue: string, dead: () => boolean, output: () => string): Promise<void> {
  const connection = await Connection.connect({ address: `127.0.0.1:${testPorts.temporal}` });
  try {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
      if (dead()) throw new Error(`worker exited:\n${output()}`);
      const q = await connection.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, taskQueueType: 1 });
      if ((q.pollers?.length ?? 0) > 0) return;
    }
    throw new Error(`worker did not poll ${taskQueue} within 60 s:\n${output()}`);
  } finally {
    await connection.close();
  }
}
