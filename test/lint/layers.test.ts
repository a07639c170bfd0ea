// The layers (docs/architecture.md) are a lint rule, and the rule bites: an import from a higher
// layer, or from the sandbox into product code, is an error; the same kind of import where it is
// allowed is not. Probe files are written into the folders, linted by ESLint's own CLI (the typed
// rules need real files, and the flat config is ESM, which jest's CommonJS cannot load), and
// removed again.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../support/env';

const forbidden: Array<[string, string, RegExp]> = [
  ['activities', "import { stopManaged } from '../sandbox/processes';\nexport const x = stopManaged;\n", /activities\/ must not import sandbox\//],
  ['worker', "import { isServing } from '../sandbox/temporal-server';\nexport const x = isServing;\n", /worker\/ must not import sandbox\//],
  ['client', "import { isServing } from '../sandbox/temporal-server';\nexport const x = isServing;\n", /client\/ must not import sandbox\//],
  ['adapters', "import { createActivities } from '../activities';\nexport const x = createActivities;\n", /adapters\/ must not import activities\//],
  ['config', "import { runCommand } from '../adapters/process';\nexport const x = runCommand;\n", /config\/ must not import adapters\//],
  ['routing', "import { runWorker } from '../worker/main';\nexport const x = runWorker;\n", /routing\/ must not import worker\//],
  ['sandbox/conductor', "import { createActivities } from '../../activities';\nexport const x = createActivities;\n", /sandbox\/ must not import activities\//],
  ['common', "import { loadConfig } from '../config/load';\nexport const x = loadConfig;\n", /common\/ must not import config\//],
];
const allowed: Array<[string, string]> = [
  ['activities', "import { runCommand } from '../adapters/process';\nexport const x = runCommand;\n"],
  ['sandbox', "import { runCommand } from '../adapters/process';\nexport const x = runCommand;\n"],
  ['worker', "import { createActivities } from '../activities';\nexport const x = createActivities;\n"],
];

let results: Map<string, string[]>;
const probe = (dir: string, i: number): string => path.join(projectRoot, dir, `zz-layer-probe-${i}.ts`);

beforeAll(() => {
  const files = [...forbidden.map(([d, c], i) => [probe(d, i), c]), ...allowed.map(([d, c], i) => [probe(d, 100 + i), c])];
  try {
    for (const [f, c] of files) writeFileSync(f!, c!);
    const r = spawnSync(path.join(projectRoot, 'node_modules', '.bin', 'eslint'), ['--format', 'json', ...files.map(([f]) => f!)], { cwd: projectRoot, encoding: 'utf8', maxBuffer: 64 << 20 });
    const parsed = JSON.parse(r.stdout) as Array<{ filePath: string; messages: Array<{ ruleId: string | null; message: string }> }>;
    results = new Map(parsed.map((p) => [p.filePath, p.messages.filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === null).map((m) => m.message)]));
  } finally {
    for (const [f] of files) rmSync(f!, { force: true });
  }
}, 120_000);

test.each(forbidden.map(([d, , m], i) => [d, i, m] as const))('%s: an import from a higher layer (or the sandbox) is a lint error', (dir, i, message) => {
  expect(results.get(probe(dir, i))).toEqual([expect.stringMatching(message)]);
});

test.each(allowed.map(([d], i) => [d, 100 + i] as const))('%s: an import from a lower layer is fine', (dir, i) => {
  expect(results.get(probe(dir, i))).toEqual([]);
});
