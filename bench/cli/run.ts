// `npm run bench:cli`: how long `runbook --help` takes before it prints anything, three ways, in
// one run (medians of 15): the CLI as it was before the compiled build (commit c558131: every
// module loaded at start, TypeScript through tsx), the sources today (through tsx, modules loaded
// by the command that needs them), and the build (`npm run build`, what bin/runbook and a
// production install run). Goal: the build under 0.3 s. Ratios are against the CLI before.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const BEFORE = 'c558131';
const RUNS = 15;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeOf(command: string[], cwd: string): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(command[0]!, command.slice(1), { cwd, encoding: 'utf8' });
    times.push(Number(process.hrtime.bigint() - t) / 1e9);
    if (r.status !== 0 || !r.stdout.startsWith('Usage: runbook')) throw new Error(`${command.join(' ')}: exit ${r.status}: ${r.stderr}`);
  }
  return median(times);
}

function main(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  // The CLI before the build, from git: its sources beside this checkout's node_modules.
  const old = mkdtempSync(path.join(os.tmpdir(), 'runbook-cli-before-'));
  try {
    execFileSync('sh', ['-c', `git -C "${root}" archive ${BEFORE} | tar -x -C "${old}"`]);
    symlinkSync(path.join(root, 'node_modules'), path.join(old, 'node_modules'));
    const rows: Array<[string, number]> = [
      [`before the build (${BEFORE}, tsx, every module at start)`, timeOf([process.execPath, '--import', 'tsx', path.join(old, 'client', 'cli.ts'), '--help'], old)],
      ['sources today (tsx, modules loaded by command)', timeOf([process.execPath, '--import', 'tsx', path.join(root, 'client', 'cli.ts'), '--help'], root)],
      ['the build (bin/runbook)', timeOf([path.join(root, 'bin', 'runbook'), '--help'], root)],
      ['the build, node alone (dist/client/cli.js)', timeOf([process.execPath, path.join(root, 'dist', 'client', 'cli.js'), '--help'], root)],
      ['node itself (floor: node -e 0)', median(Array.from({ length: RUNS }, () => { const t = process.hrtime.bigint(); spawnSync(process.execPath, ['-e', '0']); return Number(process.hrtime.bigint() - t) / 1e9; }))],
    ];
    const before = rows[0]![1];
    console.log(`\nrunbook --help, median of ${RUNS} runs each:`);
    for (const [name, s] of rows) console.log(`  ${name.padEnd(58)} ${s.toFixed(3)} s  ${(before / s).toFixed(1)}x`);
    const build = rows[2]![1];
    console.log(`\ngoal: the build under 0.300 s: ${build.toFixed(3)} s, ${build < 0.3 ? 'met' : 'NOT met'}`);
  } finally {
    rmSync(old, { recursive: true, force: true });
  }
}

main();
