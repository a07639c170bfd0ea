// The second half of `npm run build` (after tsc): the workflows bundled once, into
// dist/workflow-bundle.js, so a worker running from the build starts without webpack's step
// (several seconds at every start), and what runs is exactly what was built. Then the stamp that
// bin/runbook compares with the sources' times to know the build is not older than them.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { bundlePath, projectRoot } from '../config/project';

async function main(): Promise<void> {
  const started = Date.now();
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: { trace: () => {}, debug: () => {}, info: () => {}, log: () => {}, warn: (m) => console.error(m), error: (m) => console.error(m) },
  });
  writeFileSync(bundlePath, code);
  writeFileSync(path.join(projectRoot, 'dist', '.build-stamp'), `${new Date().toISOString()}\n`);
  console.log(`workflow bundle: ${path.relative(projectRoot, bundlePath)} (${(code.length / 1e6).toFixed(1)} MB, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
