// scripts/system-packages.sh, which `npm start`, `npm test` and `.ci/run` begin with: on this
// machine nothing is missing; with the tools out of reach it names every missing package and, not
// being root, stops (exit 1) with the exact command to run instead of installing anything.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../support/env';

const script = path.join(projectRoot, 'scripts', 'system-packages.sh');

test('nothing is missing here (.ci/run installed it)', () => {
  const r = spawnSync('bash', [script, '--check'], { encoding: 'utf8' });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
});

test('a user who is not root, without the tools: every missing package named, the command to run, exit 1', () => {
  // PATH without the tools; as nobody, so nothing could be installed even if apt were found.
  const r = spawnSync('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/bin/bash', script], { encoding: 'utf8', env: { PATH: '/nonexistent' } });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^missing Debian packages: .*zstd prometheus prometheus-alertmanager util-linux pgbackrest openssl iproute2/m);
  expect(r.stderr).toMatch(/nothing was started; install them first \(as root\):\n {2}apt-get update && apt-get install -y --no-install-recommends .*zstd/);
  expect(r.stdout).toBe('');
});
