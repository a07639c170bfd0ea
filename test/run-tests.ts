// `npm test`: lint, type-check and build, then the jest suites against the real stack, then one plain
// closing line ("N passed, N failed") that any CI can read.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const bin = (name: string): string => path.join(root, 'node_modules', '.bin', name);

function step(name: string, command: string, args: string[]): number {
  process.stderr.write(`\n== ${name}\n`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  return r.status ?? 1;
}

function main(): void {
  const extra = process.argv.slice(2);
  // A fresh machine: the Debian packages installed (as root with apt) or the exact command to run,
  // before anything starts; then the Temporal CLI and server found in the cache or built.
  if (!process.env.SKIP_SYSTEM_CHECK) {
    if (step('system packages', 'bash', [path.join(root, 'scripts', 'system-packages.sh')]) !== 0) return void (process.exitCode = 1);
    if (step('Temporal CLI and server (runbook doctor --cluster)', path.join(root, 'bin', 'runbook'), ['doctor', '--cluster']) !== 0) return void (process.exitCode = 1);
  }
  if (!process.env.SKIP_LINT) {
    if (step('lint (eslint)', bin('eslint'), ['.']) !== 0) return void (process.exitCode = 1);
    if (step('type-check (tsc)', bin('tsc'), ['--noEmit']) !== 0) return void (process.exitCode = 1);
    // The build the CLI runs from (bin/runbook prefers it when it is not older than the sources),
    // so the tests that run `runbook` run what a production install runs.
    if (step('build (npm run build)', 'npm', ['run', '--silent', 'build']) !== 0) return void (process.exitCode = 1);
  }
  mkdirSync(path.join(root, 'test-results'), { recursive: true });
  const out = path.join(root, 'test-results', 'jest.json');
  const code = step('tests (jest)', bin('jest'), ['--json', `--outputFile=${out}`, ...extra]);
  if (existsSync(out)) {
    const r = JSON.parse(readFileSync(out, 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTotalTests: number };
    console.log(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed${r.numPendingTests ? `, ${r.numPendingTests} skipped` : ''}`);
    if (r.numTotalTests === 0) process.exitCode = 1;
  }
  if (code !== 0) process.exitCode = code;
}

main();
