// The `runbook` command line: run runbooks, list executed ones, approve or reject, manage the
// schedules and the sandbox stack.
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Command, CommanderError, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { outcomes } from '../common/search-attributes';
import { isRunbookName, runbookWorkflows } from '../common/runbooks';
import { isKnownError, UsageError } from './errors';
import type * as M_guards from '../common/guards';
import type * as M_incident from '../common/incident';
import type * as M_approval from '../workflows/approval';
import type * as M_scaling from '../workflows/scaling';
import type * as M_load from '../config/load';
import type * as M_worker from '../worker/main';
import type * as M_audit from './audit';
import type * as M_doctor from './doctor';
import type * as M_receiver from './receiver';
import type * as M_status from './status';
import type * as M_controls from './controls';
import type * as M_describe from './describe';
import type * as M_init from './init';
import type * as M_setupNamespace from './setup-namespace';
import type * as M_run from './run';
import type * as M_runs from './runs';
import type * as M_schedules from './schedules';
import type * as M_stack from './stack';
import type * as M_cluster from './temporal-cluster';
import type * as M_temporal from './temporal';
import type * as M_sdk from '@temporalio/client';

// Loaded when a command runs, not at start: `runbook --help` and a usage error must not wait for the
// Temporal SDK, the conductor client and PostgreSQL's driver (over a second together from sources).
/* eslint-disable @typescript-eslint/no-require-imports */
const load = {
  guards: (): typeof M_guards => require('../common/guards') as typeof M_guards,
  incident: (): typeof M_incident => require('../common/incident') as typeof M_incident,
  approval: (): typeof M_approval => require('../workflows/approval') as typeof M_approval,
  scaling: (): typeof M_scaling => require('../workflows/scaling') as typeof M_scaling,
  config: (): typeof M_load => require('../config/load') as typeof M_load,
  worker: (): typeof M_worker => require('../worker/main') as typeof M_worker,
  audit: (): typeof M_audit => require('./audit') as typeof M_audit,
  doctor: (): typeof M_doctor => require('./doctor') as typeof M_doctor,
  receiver: (): typeof M_receiver => require('./receiver') as typeof M_receiver,
  status: (): typeof M_status => require('./status') as typeof M_status,
  controls: (): typeof M_controls => require('./controls') as typeof M_controls,
  describe: (): typeof M_describe => require('./describe') as typeof M_describe,
  init: (): typeof M_init => require('./init') as typeof M_init,
  setupNamespace: (): typeof M_setupNamespace => require('./setup-namespace') as typeof M_setupNamespace,
  run: (): typeof M_run => require('./run') as typeof M_run,
  runs: (): typeof M_runs => require('./runs') as typeof M_runs,
  schedules: (): typeof M_schedules => require('./schedules') as typeof M_schedules,
  stack: (): typeof M_stack => require('./stack') as typeof M_stack,
  cluster: (): typeof M_cluster => require('./temporal-cluster') as typeof M_cluster,
  temporal: (): typeof M_temporal => require('./temporal') as typeof M_temporal,
  sdk: (): typeof M_sdk => require('@temporalio/client') as typeof M_sdk,
};
/* eslint-enable @typescript-eslint/no-require-imports */

function config(program: Command): M_load.LoadedConfig {
  return load.config().loadConfig({ file: program.opts<{ config?: string }>().config });
}

/** Runs `fn` with a client to the configured Temporal server, closing the connection after. */
async function withTemporal<T>(program: Command, fn: (client: Client, cfg: M_load.LoadedConfig) => Promise<T>): Promise<T> {
  const cfg = config(program);
  const { client, close } = await load.temporal().connectClient(cfg);
  try {
    return await fn(client, cfg);
  } finally {
    await close();
  }
}

const breakerServices = ['application', 'database', 'conductor'] as const;

function requireService(service: string): (typeof breakerServices)[number] {
  const found = breakerServices.find((s) => s === service);
  if (!found) throw new UsageError(`expected a service: ${breakerServices.join(', ')}; found "${service}"`);
  return found;
}

async function breakerState(client: Client, service: string): Promise<M_guards.BudgetState & { recorded: boolean }> {
  try {
    return { ...(await client.workflow.getHandle(load.guards().restartBudgetId(service)).query(load.guards().budgetQuery)), recorded: true };
  } catch (e) {
    if (e instanceof load.sdk().WorkflowNotFoundError) return { service, restarts: [], resets: [], recorded: false };
    throw e;
  }
}

function formatBreaker(b: M_guards.BudgetState & { recorded: boolean }): string {
  if (!b.recorded) return `${b.service}: closed (no automatic restart recorded)`;
  const state = b.breaker ? `OPEN since ${b.breaker.openedAt}: ${b.breaker.reason}` : 'closed';
  const last = b.restarts.map((r) => `    ${r.at} by ${r.by}`).join('\n');
  return `${b.service}: ${state}; ${b.restarts.length} restart(s) in the window${last ? `\n${last}` : ''}${b.resets.length ? `\n    last reset ${b.resets.at(-1)!.at} by ${b.resets.at(-1)!.by}: ${b.resets.at(-1)!.reason}` : ''}`;
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
    .description('start a runbook (exit codes with --wait: 0 succeeded or dry-run, 1 failed, 2 bad input, 3 escalated, rejected or waiting on a human)')
    .argument('<runbook>', `one of: ${Object.keys(runbookWorkflows).join(', ')} (runbook describe <runbook> lists its inputs)`)
    .option('-i, --input <json>', 'the runbook input as a JSON object, checked against the runbook\'s schema before anything starts')
    .option('-w, --wait', 'wait for the result (stops with exit 3 when the run waits for an approval)')
    .option('--wait-for-approval', 'with --wait: keep waiting while the run waits for an approval')
    .option('--json', 'print JSON')
    .option('--dry-run', 'walk the same path, change nothing, print the plan')
    .option('--to-time <iso>', 'restore-cluster: recover to this time (ISO 8601 with zone), the input toTime')
    .option('--to-name <name>', 'restore-cluster: recover to this named restore point, the input toName')
    .action(async (runbook: string, o: { input?: string; wait?: boolean; waitForApproval?: boolean; json?: boolean; dryRun?: boolean; toTime?: string; toName?: string }) => {
      const cfg = config(program);
      const requestedBy = load.run().operatorIdentity(cfg);
      // Bad input is refused before any connection is made: nothing starts.
      const prepared = load.run().runInput(runbook, o.input, { dryRun: o.dryRun, toTime: o.toTime, toName: o.toName, requestedBy });
      const { client, close } = await load.temporal().connectClient(cfg);
      try {
        const handle = await load.run().startRunbook(client, cfg, prepared, requestedBy);
        const [host] = cfg.temporal.address.split(':');
        const ui = `http://${host}:${cfg.temporal.uiPort}/namespaces/${cfg.temporal.namespace}/workflows/${handle.workflowId}`;
        if (!o.wait) {
          print(o.json, { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, ui }, () => `started ${runbook}: ${handle.workflowId}\n  ${ui}`);
          return;
        }
        if (!o.json) console.error(`started ${runbook}: ${handle.workflowId}; waiting for the result…\n  ${ui}`);
        try {
          const outcome = await load.run().resultOrHuman(handle, o.waitForApproval === true);
          if (outcome.waiting) {
            const p = outcome.waiting;
            print(o.json, { workflowId: handle.workflowId, outcome: 'awaiting-approval', approval: p }, () =>
              [`${runbook} (${handle.workflowId}) is waiting for an approval: ${p.what}`, ...p.plan.map((l) => `  - ${l}`), `plan ${p.planHash}`, `approve: runbook approve ${handle.workflowId}   reject: runbook reject ${handle.workflowId}`].join('\n'),
            );
            process.exitCode = load.run().exitCodes.human;
            return;
          }
          print(o.json, outcome.result, () => JSON.stringify(outcome.result, null, 2));
          process.exitCode = load.run().exitCodeOf(outcome.result);
        } catch (e) {
          if (e instanceof load.sdk().WorkflowFailedError) {
            const cause = e.cause as { message?: string; type?: string; cause?: { message?: string; type?: string } } | undefined;
            const reason = cause?.cause?.message ?? cause?.message ?? e.message;
            const type = cause?.cause?.type ?? cause?.type;
            if (o.json) console.log(JSON.stringify({ workflowId: handle.workflowId, outcome: 'failed', type, error: reason }, null, 2));
            else console.error(`runbook: ${runbook} failed (${handle.workflowId}): ${reason}`);
            process.exitCode = type === 'InvalidInput' ? load.run().exitCodes.badInput : load.run().exitCodes.failed;
            return;
          }
          throw e;
        }
      } finally {
        await close();
      }
    });

  program
    .command('describe')
    .description("a runbook's purpose, inputs (with types, ranges and defaults) and steps")
    .argument('<runbook>')
    .option('--json', 'print JSON')
    .action((runbook: string, o: { json?: boolean }) => {
      if (!isRunbookName(runbook)) throw new UsageError(`unknown runbook "${runbook}": expected one of ${Object.keys(runbookWorkflows).join(', ')}`);
      const d = load.describe().describeRunbook(runbook);
      print(o.json, d, () => load.describe().formatDescription(d));
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
      const rows = await load.runs().listRuns(client, { runbook: o.runbook, limit });
      print(o.json, rows, () => load.runs().formatRuns(rows));
      });
    });

  program
    .command('audit')
    .description('executed runbooks with trigger, approvals, duration and outcome (visibility + history)')
    .option('--since <date>', 'only runs started at or after this date')
    .option('-r, --runbook <name>', 'only this runbook')
    .option('-o, --outcome <outcome>', outcomes.join(' | '))
    .option('-n, --limit <n>', 'at most this many', '200')
    .option('--json', 'print JSON')
    .option('--csv', 'print CSV')
    .action(async (o: { since?: string; runbook?: string; outcome?: string; limit: string; json?: boolean; csv?: boolean }) => {
      if (o.json && o.csv) throw new UsageError('--json and --csv: choose one');
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit: expected a positive whole number, found "${o.limit}"`);
      load.audit().auditQuery(o); // validate before connecting
      await withTemporal(program, async (client) => {
      const rows = await load.audit().audit(client, { ...o, limit });
      console.log(o.json ? JSON.stringify(rows, null, 2) : o.csv ? load.audit().auditCsv(rows) : load.audit().auditTable(rows));
      });
    });

  for (const verb of ['approve', 'reject'] as const) {
    program
      .command(verb)
      .description(`${verb} the plan a run is waiting on: the plan is shown and the decision is bound to it (its SHA-256), under your identity`)
      .argument('<workflowId>')
      .option('--by <name>', 'optional: must be your identity (RUNBOOK_IDENTITY or the OS user)')
      .option('--reason <text>', 'why')
      .option('--plan <sha256>', 'decide only if the pending plan is this one (its SHA-256 or a prefix of at least 8 digits)')
      .action(async (workflowId: string, o: { by?: string; reason?: string; plan?: string }) => {
        const cfg = config(program);
        const by = load.run().operatorIdentity(cfg);
        load.run().checkBy(o.by, by);
        if (o.plan !== undefined && !/^[0-9a-f]{8,64}$/.test(o.plan)) throw new UsageError(`--plan: expected the plan's SHA-256 (8 to 64 hex digits), found "${o.plan}"`);
        await withTemporal(program, async (client) => {
          const handle = client.workflow.getHandle(workflowId);
          const progress = await handle.query(load.approval().progressQuery);
          const pending = progress.approval;
          if (!progress.awaitingApproval || !pending) throw new UsageError(`${workflowId} is not waiting for an approval (its step: ${progress.step})`);
          console.error([`${pending.what}:`, ...pending.plan.map((l) => `  - ${l}`), `plan ${pending.planHash}`].join('\n'));
          if (o.plan !== undefined && !pending.planHash.startsWith(o.plan)) throw new UsageError(`--plan: the plan awaiting a decision is ${pending.planHash}, not ${o.plan}: look at it again`);
          const approval = await handle.executeUpdate(load.approval().approvalUpdate, { args: [{ approved: verb === 'approve', by, reason: o.reason, planHash: pending.planHash }] });
          console.log(`${approval.approved ? 'approved' : 'rejected'} by ${approval.by} at ${approval.at}: ${workflowId} (plan ${pending.planHash.slice(0, 12)}…)${approval.remaining ? `; ${approval.remaining} more approval(s) by other people needed` : ''}`);
        });
      });
  }

  for (const verb of ['cancel', 'terminate'] as const) {
    program
      .command(verb)
      .description(
        verb === 'cancel'
          ? 'ask a run to stop: its clean-up steps still run (a restored copy removed, the application started again, locks released); recorded with who and why'
          : 'stop a run where it stands, without its clean-up steps (use cancel first); recorded with who and why',
      )
      .argument('<workflowId>')
      .requiredOption('--reason <text>', 'why (recorded in the run and shown by `runbook audit`)')
      .option('--by <name>', 'optional: must be your identity (RUNBOOK_IDENTITY or the OS user)')
      .action(async (workflowId: string, o: { by?: string; reason: string }) => {
        const by = load.run().operatorIdentity(config(program));
        load.run().checkBy(o.by, by);
        if (!o.reason.trim()) throw new UsageError('--reason: expected why, found an empty string');
        await withTemporal(program, async (client) => {
          const r = await (verb === 'cancel' ? load.controls().cancelRun : load.controls().terminateRun)(client, workflowId, { by, reason: o.reason });
          console.log(`${verb === 'cancel' ? 'cancellation requested' : 'terminated'} by ${by}: ${workflowId} (run ${r.runId}): ${o.reason}`);
        });
      });
  }
  program
    .command('retry')
    .description('run a run again from its start or from a step (a Temporal reset: a new run of the same workflow id; the current one ends); recorded with who and why')
    .argument('<workflowId>')
    .requiredOption('--reason <text>', 'why (recorded in the new run and shown by `runbook audit`)')
    .option('--from-step <name>', "the step to start again at: an activity's name (e.g. restoreClusterCopy) or words of its summary")
    .option('--by <name>', 'optional: must be your identity (RUNBOOK_IDENTITY or the OS user)')
    .action(async (workflowId: string, o: { by?: string; reason: string; fromStep?: string }) => {
      const by = load.run().operatorIdentity(config(program));
      load.run().checkBy(o.by, by);
      if (!o.reason.trim()) throw new UsageError('--reason: expected why, found an empty string');
      await withTemporal(program, async (client) => {
        const r = await load.controls().retryRun(client, workflowId, { by, reason: o.reason, fromStep: o.fromStep });
        console.log(`retried by ${by} from ${r.step}: ${workflowId} runs again as run ${r.runId} (was ${r.oldRunId})`);
      });
    });

  const breaker = program.command('breaker').description('the circuit breakers of automatic restarts (one restart budget per service)');
  breaker
    .command('status')
    .description('restarts counted in the window, and whether the breaker is open')
    .argument('[service]', 'application | database | conductor (default: all)')
    .option('--json', 'print JSON')
    .action(async (service: string | undefined, o: { json?: boolean }) => {
      const services = service ? [requireService(service)] : [...breakerServices];
      await withTemporal(program, async (client) => {
        const rows = await Promise.all(services.map((s) => breakerState(client, s)));
        print(o.json, rows, () => rows.map(formatBreaker).join('\n'));
      });
    });
  breaker
    .command('reset')
    .description("close a service's circuit breaker after the cause was fixed (recorded with who and why)")
    .argument('<service>', 'application | database | conductor')
    .requiredOption('--reason <text>', 'what was fixed')
    .action(async (service: string, o: { reason: string }) => {
      const cfg = config(program);
      const by = load.run().operatorIdentity(cfg);
      if (!o.reason.trim()) throw new UsageError('--reason: expected what was fixed, found an empty string');
      await withTemporal(program, async (client) => {
        const name = requireService(service);
        try {
          const state = await client.workflow.getHandle(load.guards().restartBudgetId(name)).executeUpdate(load.guards().resetBreakerUpdate, { args: [{ by, reason: o.reason }] });
          console.log(`circuit breaker of ${state.service} closed by ${by}: ${o.reason}`);
        } catch (e) {
          if (!(e instanceof load.sdk().WorkflowNotFoundError)) throw e;
          console.log(`${name}: no automatic restart recorded; the breaker is closed, nothing to reset`);
        }
      });
    });

  program
    .command('acknowledge')
    .description('take an open incident: the run records who (your identity) and when')
    .argument('<workflowId>')
    .option('--by <name>', 'optional: must be your identity (RUNBOOK_IDENTITY or the OS user)')
    .action(async (workflowId: string, o: { by?: string }) => {
      const by = load.run().operatorIdentity(config(program));
      load.run().checkBy(o.by, by);
      await withTemporal(program, async (client) => {
        const ack = await client.workflow.getHandle(workflowId).executeUpdate(load.incident().acknowledgeUpdate, { args: [{ by }] });
        console.log(`acknowledged by ${ack.by} at ${ack.at}: ${workflowId}`);
      });
    });
  program
    .command('close')
    .description('close an open incident by hand (it writes its post-mortem and ends)')
    .argument('<workflowId>')
    .option('--by <name>', 'optional: must be your identity (RUNBOOK_IDENTITY or the OS user)')
    .option('--reason <text>', 'why')
    .action(async (workflowId: string, o: { by?: string; reason?: string }) => {
      const by = load.run().operatorIdentity(config(program));
      load.run().checkBy(o.by, by);
      await withTemporal(program, async (client) => {
        await client.workflow.getHandle(workflowId).executeUpdate(load.incident().closeUpdate, { args: [{ by, reason: o.reason }] });
        console.log(`closed by ${by}: ${workflowId}`);
      });
    });

  program
    .command('upgraded')
    .description('tell a vertical-scale run waiting for the upgrade that it is done')
    .argument('<workflowId>')
    .option('--by <name>', 'optional: must be your identity (RUNBOOK_IDENTITY or the OS user)')
    .option('--note <text>', 'what was changed (e.g. 4 -> 8 vCPU)')
    .action(async (workflowId: string, o: { by?: string; note?: string }) => {
      const by = load.run().operatorIdentity(config(program));
      load.run().checkBy(o.by, by);
      await withTemporal(program, async (client) => {
        const u = await client.workflow.getHandle(workflowId).executeUpdate(load.scaling().upgradedUpdate, { args: [{ by, note: o.note }] });
        console.log(`upgrade recorded by ${u.by} at ${u.at}: ${workflowId}`);
      });
    });

  program
    .command('setup-namespace')
    .description('register the namespace (if missing) and every search attribute the runbooks set, on any Temporal server; idempotent')
    .option('--retention-days <n>', 'history retention of a new namespace', '30')
    .option('--json', 'print JSON')
    .action(async (o: { retentionDays: string; json?: boolean }) => {
      const retentionDays = Number(o.retentionDays);
      if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > 3650) throw new UsageError(`--retention-days: expected a whole number of days from 1 to 3650, found "${o.retentionDays}"`);
      const cfg = config(program);
      const { connection, close } = await load.temporal().connectClient(cfg);
      try {
        const r = await load.setupNamespace().setupNamespace(connection, { namespace: cfg.temporal.namespace, retentionDays });
        print(o.json, r, () => [`namespace ${r.namespace.name}: ${r.namespace.outcome}`, ...r.searchAttributes.map((a) => `search attribute ${a.name} (Keyword): ${a.outcome}`)].join('\n'));
      } finally {
        await close();
      }
    });

  program
    .command('init')
    .description('write a configuration to start from: the sandbox\'s, or with --production every sandbox part off and every host, service and secret to fill in')
    .option('--production', 'the production form')
    .option('-f, --file <file>', 'where to write it', 'runbooks.yaml')
    .option('--force', 'replace an existing file')
    .action((o: { production?: boolean; file: string; force?: boolean }) => {
      const file = load.init().writeTemplate(o.file, o);
      console.log(`wrote ${file}${o.production ? ': fill in every "<fill in: …>" (runbook doctor names the ones left), then runbook setup-namespace' : ''}`);
    });

  const schedules = program.command('schedules').description('the maintenance calendar as Temporal Schedules');
  schedules
    .command('apply')
    .description('create or update every schedule; unchanged ones are left alone')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withTemporal(program, async (client) => {
      const results = await load.schedules().applySchedules(client, config(program));
      print(o.json, results, () => results.map((r) => `${r.outcome.padEnd(9)} ${r.scheduleId}  ${r.description}`).join('\n'));
      });
    });
  schedules
    .command('list')
    .description('schedules with their next run times')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withTemporal(program, async (client) => {
      const rows = await load.schedules().listSchedules(client);
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
      const status = await load.stack().stackUp(cfg, { seedCredits: seed });
      console.log('\n' + load.stack().formatStatus(status));
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
      if (o.detach && load.stack().hasInProcessServers()) {
        console.log('\n--detach is not possible: the Temporal server runs inside this process (no temporal CLI was found or built). Staying in the foreground.');
      } else if (o.detach) return;
      console.log('\nRunning. Ctrl-C stops everything (data is kept in ' + cfg.dataDir + ').');
      await new Promise<void>((resolve) => {
        // The watch keeps this process alive (signal handlers alone do not) and says when a
        // component of the stack has died, instead of leaving the user to find out.
        let reported = '';
        const watch = setInterval(() => {
          void load.stack().stackStatus(cfg).then((st) => {
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
      await load.stack().stackDown(cfg);
    });
  stack
    .command('down')
    .description('stop everything the stack started (data is kept)')
    .action(async () => load.stack().stackDown(config(program)));
  stack
    .command('status')
    .description('what runs')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const status = await load.stack().stackStatus(config(program));
      print(o.json, status, () => load.stack().formatStatus(status));
    });

  const cluster = program
    .command('temporal-cluster')
    .description('the Temporal server (PostgreSQL persistence of its own) and its Web UI server on this host, for a production without a Temporal cluster yet; listens on temporal.address, UI on temporal.uiPort');
  cluster
    .command('up')
    .description('start (or find running) the server and the UI, wait until they answer, register the namespace and search attributes')
    .option('--dir <dir>', 'where its state lives (default <dataDir>/temporal-cluster)')
    .option('--tls-cert <file>', "the frontend's certificate (TLS on)")
    .option('--tls-key <file>', "the frontend's private key")
    .option('--tls-ca <file>', 'require client certificates signed by this CA (mutual TLS)')
    .option('--tls-server-name <name>', "the name in the frontend's certificate (default: temporal.address's host)")
    .action(async (o: { dir?: string; tlsCert?: string; tlsKey?: string; tlsCa?: string; tlsServerName?: string }) => {
      if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key: expected both (a certificate needs its key), found only one');
      if (o.tlsCa && !o.tlsCert) throw new UsageError('--tls-ca: expected --tls-cert and --tls-key with it (client certificates are checked over TLS), found neither');
      const cfg = config(program);
      const serverTls = o.tlsCert && o.tlsKey ? { certFile: path.resolve(o.tlsCert), keyFile: path.resolve(o.tlsKey), caFile: o.tlsCa ? path.resolve(o.tlsCa) : undefined, serverName: o.tlsServerName } : undefined;
      const r = await load.cluster().clusterUp(cfg, { dir: o.dir, serverTls });
      console.log(`temporal cluster: frontend ${r.address}${serverTls ? ' (TLS)' : ''}, Web UI ${r.uiUrl}`);
    });
  cluster
    .command('down')
    .description('stop the UI, the server and its PostgreSQL (data is kept)')
    .option('--dir <dir>', 'where its state lives (default <dataDir>/temporal-cluster)')
    .action(async (o: { dir?: string }) => load.cluster().clusterDown(config(program), { dir: o.dir }));
  cluster
    .command('status')
    .description('whether the server and the UI run (exit 3 when the server does not)')
    .option('--dir <dir>', 'where its state lives (default <dataDir>/temporal-cluster)')
    .action((o: { dir?: string }) => {
      const s = load.cluster().clusterStatus(config(program), o.dir);
      console.log(`${s.server ? 'up  ' : 'down'}  temporal server${s.server ? ` pid ${s.server}` : ''}  (${s.dir})\n${s.ui ? 'up  ' : 'down'}  web ui${s.ui ? ` pid ${s.ui}` : ''}`);
      if (!s.server) process.exitCode = 3;
    });

  program
    .command('receiver')
    .description('run the Alertmanager webhook receiver in the foreground')
    .action(async () => {
      const cfg = config(program);
      const token = cfg.receiver.token;
      if (!token) throw new UsageError('receiver.token: expected a bearer token of at least 16 characters (or RUNBOOK_RECEIVER_TOKEN), found nothing');
      const { client, close } = await load.temporal().connectClient(cfg);
      const { server } = load.receiver().createReceiver(client, cfg, token);
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
        const s = await load.status().systemStatus(client, cfg);
        print(o.json, s, () => load.status().formatSystemStatus(s));
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
      const [node, ...args] = load.stack().creditsServiceCli;
      const r = spawnSync(node!, [...args, 'fault', '--data-dir', load.stack().creditsServiceDir(cfg), '--delay-ms', o.delayMs, ...(cfg.source ? ['--config', cfg.source] : []), ...modes], { stdio: 'inherit' });
      if (r.status !== 0) process.exitCode = r.status ?? 1;
    });

  program
    .command('doctor')
    .description("check what this machine needs for its work (and build the sandbox's Temporal CLI if missing); --host: that host's roles only")
    .option('--host <name>', "check what this configured host's roles need")
    .option('--cluster', 'also find or build the Temporal server (the sandbox\'s cluster mode)')
    .option('--no-build', 'do not build from Go modules')
    .action(async (o: { build: boolean; host?: string; cluster?: boolean }) => {
      const checks = await load.doctor().doctor(config(program), { build: o.build, host: o.host, cluster: o.cluster });
      for (const c of checks) console.log(`${c.ok ? 'ok     ' : 'MISSING'}  ${c.name}: ${c.detail}`);
      if (checks.some((c) => !c.ok)) process.exitCode = 1;
    });

  program
    .command('worker')
    .description('run a worker in the foreground: the shared task queue, or with --host a host\'s own queue')
    .option('--host <name>', 'serve this configured host\'s steps (its role\'s task queue)')
    .action(async (o: { host?: string }) => {
      await load.worker().runWorker({ host: o.host });
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
    // An Update refused by the run's validator says why in its cause ("Workflow Update failed" alone
    // would leave the operator guessing).
    const cause = (e as { name?: string; cause?: { message?: string } }).name === 'WorkflowUpdateFailedError' ? (e as { cause?: { message?: string } }).cause?.message : undefined;
    console.error(isKnownError(e) ? `runbook: ${(e as Error).message}${cause ? `: ${cause}` : ''}` : e);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  void main(process.argv);
}
