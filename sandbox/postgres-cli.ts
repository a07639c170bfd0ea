// The sandbox's PostgreSQL cluster as a service with start and stop commands, so the runbooks
// restart it through the same service-control adapter that runs `systemctl restart postgresql`
// on a production host.
import { Command } from 'commander';
import { isRunning, startCluster, stopCluster } from './postgres-cluster';
import { listenAddress } from './processes';

function main(): void {
  const program = new Command('postgres-cluster').description("the sandbox's PostgreSQL cluster");
  program
    .command('start')
    .requiredOption('--dir <dir>', 'cluster data directory')
    .requiredOption('--port <port>')
    .requiredOption('--role <role>')
    .requiredOption('--database <name>')
    .option('--listen <address>', 'the address it listens on', '127.0.0.1')
    .option('--bin-dir <dir>')
    .action(async (o: { dir: string; port: string; role: string; database: string; binDir?: string; listen: string }) => {
      await startCluster({ dir: o.dir, port: Number(o.port), role: o.role, database: o.database, binDir: o.binDir, listen: listenAddress(o.listen) });
      console.log(`postgres: running on port ${o.port}`);
    });
  program
    .command('stop')
    .requiredOption('--dir <dir>')
    .option('--bin-dir <dir>')
    .option('--immediate', 'stop without waiting for clients (a crash, for tests)')
    .action(async (o: { dir: string; binDir?: string; immediate?: boolean }) => {
      await stopCluster({ dir: o.dir, binDir: o.binDir }, o.immediate ? 'immediate' : 'fast');
      console.log('postgres: stopped');
    });
  program
    .command('status')
    .description('exit 0 when running, 3 when not')
    .requiredOption('--dir <dir>')
    .option('--bin-dir <dir>')
    .action(async (o: { dir: string; binDir?: string }) => {
      const running = await isRunning({ dir: o.dir, binDir: o.binDir });
      console.log(running ? 'running' : 'not running');
      if (!running) process.exitCode = 3;
    });
  program.parseAsync(process.argv).catch((e: unknown) => {
    console.error(`postgres-cluster: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}

if (require.main === module) main();
