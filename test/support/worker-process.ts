// Starts the real worker entry point (worker/main.ts) as its own process, as production does,
// and waits until it polls its task queue.
import { spawn, type ChildProcess } from 'node:child_process';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import path from 'node:path';
import { bundlePath, projectRoot, testConfigPath, testPorts } from './env';

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

/** Starts worker/main.ts; with `host`, that host's worker (activities only, on <taskQueue>@<host>). */
export async function startWorkerProcess(o: {
  taskQueue: string;
  env?: NodeJS.ProcessEnv;
  configPath?: string;
  host?: string;
  server?: ConnectionOptions;
  /** Runs the worker through this prefix (a simulated host's `ip netns exec NS`). */
  wrap?: string[];
}): Promise<WorkerProcess> {
  let output = '';
  const command = [...(o.wrap ?? []), process.execPath, '--import', 'tsx', path.join(projectRoot, 'worker', 'main.ts')];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: projectRoot,
    env: {
      ...process.env,
      RUNBOOK_CONFIG: o.configPath ?? testConfigPath,
      RUNBOOK_WORKFLOW_BUNDLE: bundlePath,
      RUNBOOK_TASK_QUEUE: o.taskQueue,
      ...(o.host ? { RUNBOOK_HOST: o.host } : {}),
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPoller(o.host ? `${o.taskQueue}@${o.host}` : o.taskQueue, () => child.exitCode !== null, () => output, o.host !== undefined, o.server);
  return {
    child,
    output: () => output,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      // A worker that does not stop within its grace time is killed: a test run never hangs.
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitForPoller(taskQueue: string, dead: () => boolean, output: () => string, activitiesOnly = false, server?: ConnectionOptions): Promise<void> {
  const connection = await Connection.connect(server ?? { address: `127.0.0.1:${testPorts.temporal}` });
  try {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (dead()) throw new Error(`worker exited before polling ${taskQueue}:\n${output()}`);
      const r = await connection.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, taskQueueType: 2 });
      const w = await connection.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, taskQueueType: 1 });
      if ((r.pollers?.length ?? 0) > 0 && (activitiesOnly || (w.pollers?.length ?? 0) > 0)) return;
      await new Promise((r2) => setTimeout(r2, 250));
    }
    throw new Error(`worker did not poll ${taskQueue} within 60 s:\n${output()}`);
  } finally {
    await connection.close();
  }
}
