// The `runbook` command line: run runbooks, list executed ones, approve or reject, manage the
// schedules and the sandbox stack.
import { spawnSync } from 'node:child_process';
import { Command, CommanderError, Option } from 'commander';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { acknowledgeUpdate, closeUpdate } from '../common/incident';
import { approvalUpdate } from '../workflows/approval';
import { upgradedUpdate } from '../workflows/scaling';
import { loadConfig, type LoadedConfig } from '../worker/config';
import { runWorker } from '../worker/main';
import { audit, auditCsv, auditQuery, auditTable } from './audit';
import { doctor } from './doctor';
import { createReceiver } from './receiver';
import { formatSystemStatus, systemStatus } from './status';
import { isKnownError, UsageError } from './errors';
import { startRunbook } from './run';
import { formatRuns, listRuns } from './runs';
import { applySchedules, listSchedules } from './schedules';
import { creditsServiceCli, creditsServiceDir, formatStatus, hasInProcessServers, stackDown, stackStatus, stackUp } from './stack';
import { connectClient } from './temporal';

function config(program: Command): LoadedConfig {
  return loadConfig({ file: program.opts<{ config?: string }>().config });
}

/** Runs `fn` with a client to the configured Temporal server, closing the connection after. */
async function withTemporal<T>(program: Command, fn: (client: Client, cfg: LoadedConfig) => Promise<T>): Promise<T> {
  const cfg = config(program);
  const { client, close } = await connectClient(cfg);
  try {
    return await fn(client, cfg);
  } finally {
    await close();
  }
}

/** The operator's name that an Update records (approve, acknowledge, close, upgraded). */
function requireBy(by: string, who: string): void {
  if (!by.trim()) throw new UsageError(`--by: expected the name of who ${who}, found an empty string`);
}

function print(json: boolean | undefined, value: unknown, text: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : text());
}

export function buildProgram(): Command {
  const program = new Command('runbook')
    .description('The Zero-TrustML Credits operations runbook as durable Temporal workflows')
    .option('-c, --config <file>', 'configuration file (default: ./runbooks.yaml, or RUNBOOK_CONFIG)')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('run')
    .description('start a runbook')
    .argument('<runbook>', 'database-backup | restore-database | dht-export | restore-dht | restart-conductor')
    .option('-i, --input <json>', 'the runbook input as a JSON object')
    .option('-w, --wait', 'wait for the result')
    .option('--json', 'print JSON')
    .option('--dry-run', 'walk the same path, change nothing, print the plan')
    .action(async (runbook: string, o: { input?: string; wait?: boolean; json?: boolean; dryRun?: boolean }) => {
      const cfg = config(program);
      const { client, close } = await connectClient(cfg);
      try {
        const handle = await startRunbook(client, cfg, runbook, o);
        const [host] = cfg.temporal.address.split(':');
        const ui = `http://${host}:${cfg.temporal.uiPort}/namespaces/${cfg.temporal.namespace}/workflows/${handle.workflowId}`;
        if (!o.wait) {
          print(o.json, { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, ui }, () => `started ${runbook}: ${handle.workflowId}\n  ${ui}`);
          return;
        }
        if (!o.json) console.error(`started ${runbook}: ${handle.workflowId}; waiting for the result…\n  ${ui}`);
        try {
          const result: unknown = await handle.result();
          print(o.json, result, () => JSON.stringify(result, null, 2));
        } catch (e) {
          if (e instanceof WorkflowFailedError) {
            const cause = e.cause as { message?: string; cause?: { message?: string } } | undefined;
            const reason = cause?.cause?.message ?? cause?.message ?? e.message;
            if (o.json) console.log(JSON.stringify({ workflowId: handle.workflowId, outcome: 'failed', error: reason }, null, 2));
            throw Object.assign(new Error(`${runbook} failed (${handle.workflowId}): ${reason}`), { name: 'WorkflowFailedError' });
          }
          throw e;
        }
      } finally {
        await close();
      }
    });

  program
    .command('runs')
    .description('executed runbooks, newest first, from Temporal visibility')
    .option('-r, --runbook <name>', 'only this runbook')
    .option('-n, --limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(async (o: { runbook?: string; limit: string; json?: boolean }) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit: expected a positive whole number, found "${o.limit}"`);
      await withTemporal(program, async (client) => {
      const rows = await listRuns(client, { runbook: o.runbook, limit });
      print(o.json, rows, () => formatRuns(rows));
      });
    });

  program
    .command('audit')
    .description('executed runbooks with trigger, approvals, duration and outcome (visibility + history)')
    .option('--since <date>', 'only runs started at or after this date')
    .option('-r, --runbook <name>', 'only this runbook')
    .option('-o, --outcome <outcome>', 'succeeded | failed | rejected | dry-run | running')
    .option('-n, --limit <n>', 'at most this many', '200')
    .option('--json', 'print JSON')
    .option('--csv', 'print CSV')
    .action(async (o: { since?: string; runbook?: string; outcome?: string; limit: string; json?: boolean; csv?: boolean }) => {
      if (o.json && o.csv) throw new UsageError('--json and --csv: choose one');
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit: expected a positive whole number, found "${o.limit}"`);
      auditQuery(o); // validate before connecting
      await withTemporal(program, async (client) => {
      const rows = await audit(client, { ...o, limit });
      console.log(o.json ? JSON.stringify(rows, null, 2) : o.csv ? auditCsv(rows) : auditTable(rows));
      });
    });

  for (const verb of ['approve', 'reject'] as const) {
    program
      .command(verb)
      .description(`${verb} the destructive step a run is waiting on`)
      .argument('<workflowId>')
      .requiredOption('--by <name>', 'who decides (recorded in the run history)')
      .option('--reason <text>', 'why')
      .action(async (workflowId: string, o: { by: string; reason?: string }) => {
        requireBy(o.by, 'decides');
        await withTemporal(program, async (client) => {
        const approval = await client.workflow
          .getHandle(workflowId)
          .executeUpdate(approvalUpdate, { args: [{ approved: verb === 'approve', by: o.by, reason: o.reason }] });
        console.log(`${approval.approved ? 'approved' : 'rejected'} by ${approval.by} at ${approval.at}: ${workflowId}`);
        });
      });
  }

  program
    .command('acknowledge')
    .description('take an open incident: the run records who and when')
    .argument('<workflowId>')
    .requiredOption('--by <name>', 'who takes it')
    .action(async (workflowId: string, o: { by: string }) => {
      requireBy(o.by, 'takes the incident');
      await withTemporal(program, async (client) => {
      const ack = await client.workflow.getHandle(workflowId).executeUpdate(acknowledgeUpdate, { args: [{ by: o.by }] });
      console.log(`acknowledged by ${ack.by} at ${ack.at}: ${workflowId}`);
      });
    });
  program
    .command('close')
    .description('close an open incident by hand (it writes its post-mortem and ends)')
    .argument('<workflowId>')
    .requiredOption('--by <name>', 'who closes it')
    .option('--reason <text>', 'why')
    .action(async (workflowId: string, o: { by: string; reason?: string }) => {
      requireBy(o.by, 'closes the incident');
      await withTemporal(program, async (client) => {
      await client.workflow.getHandle(workflowId).executeUpdate(closeUpdate, { args: [{ by: o.by, reason: o.reason }] });
      console.log(`closed by ${o.by}: ${workflowId}`);
      });
    });

  program
    .command('upgraded')
    .description('tell a vertical-scale run waiting for the upgrade that it is done')
    .argument('<workflowId>')
    .requiredOption('--by <name>', 'who upgraded')
    .option('--note <text>', 'what was changed (e.g. 4 -> 8 vCPU)')
    .action(async (workflowId: string, o: { by: string; note?: string }) => {
      requireBy(o.by, 'upgraded');
      await withTemporal(program, async (client) => {
      const u = await client.workflow.getHandle(workflowId).executeUpdate(upgradedUpdate, { args: [{ by: o.by, note: o.note }] });
      console.log(`upgrade recorded by ${u.by} at ${u.at}: ${workflowId}`);
      });
    });

  const schedules = program.command('schedules').description('the maintenance calendar as Temporal Schedules');
  schedules
    .command('apply')
    .description('create or update every schedule; unchanged ones are left alone')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withTemporal(program, async (client) => {
      const results = await applySchedules(client, config(program));
      print(o.json, results, () => results.map((r) => `${r.outcome.padEnd(9)} ${r.scheduleId}  ${r.description}`).join('\n'));
      });
    });
  schedules
    .command('list')
    .description('schedules with their next run times')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withTemporal(program, async (client) => {
      const rows = await listSchedules(client);
      print(o.json, rows, () =>
        rows.length === 0
          ? 'no schedules (run: runbook schedules apply)'
          : rows.map((r) => `${r.scheduleId}${r.paused ? ' (paused)' : ''}\n  next: ${r.nextRuns.join(', ')}\n  last: ${r.lastRun ?? 'never'}`).join('\n'),
      );
      });
    });

  const stack = program.command('stack').description('the local sandbox: Temporal dev server, PostgreSQL, worker');
  stack
    .command('up')
    .description('start everything (foreground until Ctrl-C, or --detach)')
    .option('-d, --detach', 'start and return')
    .addOption(new Option('--seed-credits <n>', 'credits generated into a new database').default('20000'))
    .action(async (o: { detach?: boolean; seedCredits: string }) => {
      const cfg = config(program);
      const seed = Number(o.seedCredits);
      if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed-credits: expected a whole number, found "${o.seedCredits}"`);
      const status = await stackUp(cfg, { seedCredits: seed });
      console.log('\n' + formatStatus(status));
      console.log(`
Temporal UI:   ${status.temporal.uiUrl}
Try:           npx runbook run database-backup --wait
               npx runbook run restore-database --dry-run --wait
               npx runbook run dht-export --wait
               npx runbook run restart-conductor --wait
               npx runbook runs
               npx runbook status
Inject a fault into the credits-service simulator and watch the response in the UI:
               npm run fault -- unhealthy     (or: hang slow blind errors ratelimit memory
                                               corrupt-rows corrupt-dht crash; "clear" ends it)
               the health check (every ${cfg.healthCheck.intervalSeconds} s) and Prometheus/Alertmanager raise the alert,
               the receiver starts the routed runbook: ${status.temporal.uiUrl}/namespaces/${cfg.temporal.namespace}/workflows?query=RunbookTrigger%3D%22alert%22
Audit in UI:   ${status.temporal.uiUrl}/namespaces/${cfg.temporal.namespace}/workflows?query=RunbookName%3D%22database-backup%22`);
      if (o.detach && hasInProcessServers()) {
        console.log('\n--detach is not possible: the Temporal server runs inside this process (no temporal CLI was found or built). Staying in the foreground.');
      } else if (o.detach) return;
      console.log('\nRunning. Ctrl-C stops everything (data is kept in ' + cfg.dataDir + ').');
      await new Promise<void>((resolve) => {
        // The watch keeps this process alive (signal handlers alone do not) and says when a
        // component of the stack has died, instead of leaving the user to find out.
        let reported = '';
        const watch = setInterval(() => {
          void stackStatus(cfg).then((st) => {
            const down = [st.temporal.serving ? '' : 'temporal', st.postgres.running ? '' : 'postgres', st.conductor.alive ? '' : 'conductor', st.worker.running ? '' : 'worker'].filter(Boolean).join(', ');
            if (down !== reported) console.log(down ? `! not running: ${down} (logs in ${cfg.dataDir}/run)` : 'all components running again');
            reported = down;
          });
        }, 10_000);
        const stop = (): void => {
          clearInterval(watch);
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      console.log('\nstopping…');
      await stackDown(cfg);
    });
  stack
    .command('down')
    .description('stop everything the stack started (data is kept)')
    .action(async () => stackDown(config(program)));
  stack
    .command('status')
    .description('what runs')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const status = await stackStatus(config(program));
      print(o.json, status, () => formatStatus(status));
    });

  program
    .command('receiver')
    .description('run the Alertmanager webhook receiver in the foreground')
    .action(async () => {
      const cfg = config(program);
      const token = cfg.receiver.token;
      if (!token) throw new UsageError('receiver.token: expected a bearer token of at least 16 characters (or RUNBOOK_RECEIVER_TOKEN), found nothing');
      const { client, close } = await connectClient(cfg);
      const { server } = createReceiver(client, cfg, token);
      await new Promise<void>((resolve) => server.listen(cfg.receiver.port, '127.0.0.1', resolve));
      console.log(`receiver: POST http://127.0.0.1:${cfg.receiver.port}/alertmanager (metrics on /metrics)`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      server.close();
      await close();
    });

  program
    .command('status')
    .description('the status report, the KPI tables against their thresholds, open incidents, backup and export ages')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withTemporal(program, async (client, cfg) => {
        const s = await systemStatus(client, cfg);
        print(o.json, s, () => formatSystemStatus(s));
        // Scripts can tell a healthy system from one that needs attention.
        if (!s.statusReport.reachable || s.kpis.some((k) => k.level === 'critical')) process.exitCode = 3;
      });
    });

  program
    .command('fault')
    .description("inject a fault into the sandbox's credits-service simulator (or clear them)")
    .argument('<modes...>', 'hang slow blind errors ratelimit unhealthy memory corrupt-rows corrupt-dht crash clear')
    .option('--delay-ms <ms>', 'added response time for slow', '4000')
    .action(async (modes: string[], o: { delayMs: string }) => {
      const cfg = config(program);
      const [node, ...args] = creditsServiceCli;
      const r = spawnSync(node!, [...args, 'fault', '--data-dir', creditsServiceDir(cfg), '--delay-ms', o.delayMs, ...(cfg.source ? ['--config', cfg.source] : []), ...modes], { stdio: 'inherit' });
      if (r.status !== 0) process.exitCode = r.status ?? 1;
    });

  program
    .command('doctor')
    .description('check (and build, if missing) what the stack needs')
    .option('--no-build', 'do not build the Temporal CLI from Go modules')
    .action(async (o: { build: boolean }) => {
      const checks = await doctor(config(program), { build: o.build });
      for (const c of checks) console.log(`${c.ok ? 'ok     ' : 'MISSING'}  ${c.name}: ${c.detail}`);
      if (checks.some((c) => !c.ok)) process.exitCode = 1;
    });

  program
    .command('worker')
    .description('run a worker in the foreground')
    .action(async () => {
      await runWorker();
    });

  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed the message (and help where it helps).
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof UsageError) {
      console.error(`runbook: ${e.message}`);
      process.exitCode = 2;
      return;
    }
    console.error(isKnownError(e) ? `runbook: ${(e as Error).message}` : e);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  void main(process.argv);
}
