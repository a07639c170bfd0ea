// Where the test stack lives and how tests reach it. The stack (PostgreSQL cluster, Temporal dev
// server, one worker) is started once by global-setup.ts on ports of its own, so tests never
// touch a running `npm start` sandbox.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { pidFileStatus, SIMULATOR_COMMAND } from '../../config/load';

export const testRoot = process.env.RUNBOOK_TEST_ROOT ?? path.join(os.tmpdir(), 'zerotrustml-runbooks-test');
export const projectRoot = path.resolve(__dirname, '..', '..');
export const testPorts = { temporal: 27233, ui: 28233, postgres: 55433, conductor: 28888, creditsService: 29200 };
export const testConfigPath = path.join(testRoot, 'runbooks.yaml');
export const bundlePath = path.join(testRoot, 'workflow-bundle.js');
export const testTaskQueue = 'runbooks-test';

export const appDataDir = path.join(testRoot, 'credits-service-app');

function creditsServiceCommand(verb: 'start' | 'stop'): string[] {
  const cli = [process.execPath, '--import', 'tsx', path.join(projectRoot, 'sandbox', 'credits-service', 'cli.ts'), verb, '--data-dir', appDataDir];
  return verb === 'start' ? [...cli, '--port', String(testPorts.creditsService), '--rate', '20', '--config', testConfigPath] : cli;
}

/** Prometheus and Alertmanager as the end-to-end tests run them: a scrape and an evaluation every
 * second, rules firing at once, grouped after 1 s and repeated every 2 s. */
export const fastAlerting = { scrapeIntervalSeconds: 1, evaluationIntervalSeconds: 1, groupWaitSeconds: 1, repeatIntervalSeconds: 2, ruleFor: '0s' } as const;

/** Sets the test stack simulator's fault modes through its CLI (`clear` clears them); returns
 * what it printed. */
export function simulatorFault(...modes: string[]): string {
  return execFileSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'sandbox', 'credits-service', 'cli.ts'), 'fault', '--data-dir', appDataDir, '--config', testConfigPath, ...modes], { cwd: projectRoot, encoding: 'utf8' });
}

export function testConfigYaml(): string {
  return [
    `dataDir: ${testRoot}`,
    'timezone: UTC',
    'temporal:',
    `  address: 127.0.0.1:${testPorts.temporal}`,
    `  uiPort: ${testPorts.ui}`,
    `  taskQueue: ${testTaskQueue}`,
    'database:',
    `  url: postgres://zerotrustml@127.0.0.1:${testPorts.postgres}/credits`,
    '  managed: true',
    'backup:',
    `  directory: ${path.join(testRoot, 'backups')}`,
    'conductor:',
    `  adminUrl: ws://127.0.0.1:${testPorts.conductor}`,
    `  dataDir: ${path.join(testRoot, 'conductor')}`,
    '  timeoutSeconds: 5',
    '  readyTimeoutSeconds: 30',
    'dhtExport:',
    `  directory: ${path.join(testRoot, 'dht-exports')}`,
    '  pageSize: 500',
    'application:',
    `  statusUrl: http://127.0.0.1:${testPorts.creditsService}/status`,
    '  managed: false',
    '  # The simulator as a separate process that the incident runbooks restart (tests start it).',
    '  service:',
    '    type: command',
    `    start: ${JSON.stringify(creditsServiceCommand('start'))}`,
    `    stop: ${JSON.stringify(creditsServiceCommand('stop'))}`,
    `    status: ${JSON.stringify(pidFileStatus(path.join(appDataDir, 'credits-service.pid')))}`,
    'logRotation:',
    '  keep: 2',
    '  files:',
    ...['app.log', 'monitor.log'].flatMap((n) => [`    - path: ${path.join(appDataDir, n)}`, `      pidFile: ${path.join(appDataDir, 'credits-service.pid')}`, `      expectCommand: ${SIMULATOR_COMMAND}`]),
    'scaling:',
    '  performanceTolerance: 3',
    `  provisionNode: ${JSON.stringify([process.execPath, '--import', 'tsx', path.join(projectRoot, 'sandbox', 'credits-service', 'cli.ts'), 'join', '--data-dir', appDataDir, '--node-id', '{nodeId}', '--config', testConfigPath])}`,
    'healthCheck:',
    '  timeoutSeconds: 2',
    'incident:',
    '  verifyTimeoutSeconds: 30',
    'receiver:',
    '  routes: {}',
    '# Many tests restart services on purpose; the budget test sets its own.',
    'remediation:',
    '  restartBudget:',
    '    max: 1000',
    'worker:',
    '  metricsPort: 0',
    '',
  ].join('\n');
}
