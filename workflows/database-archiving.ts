// Runbook "database-archiving": continuous WAL archiving with pgBackRest. Reads the server's
// settings first and says what will change; a change that needs a restart (archive_mode) waits
// for an approval on a production target; then the stanza and pgBackRest's own check (a WAL
// switch that must reach the repository). Idempotent: a second run changes nothing.
import { proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import { formatMs } from '../common/durations';
import type { DatabaseArchivingInput, DatabaseArchivingResult } from '../common/runbooks';
import type { Activities } from '../activities';
import { ApprovalGate } from './approval-gate';
import { lockTargets } from './guards';
import { on, placement } from './placement';
import { configRead, shortStep } from './presets';
import { openRun, recorded } from './run-record';

const local = proxyLocalActivities<Activities>(configRead);

export async function databaseArchiving(raw: DatabaseArchivingInput = {}): Promise<DatabaseArchivingResult> {
  const { run, input } = openRun('database-archiving', raw);
  const gate = new ApprovalGate(run);
  return recorded(run, async () => {
    const started = Date.now();
    run.step('describe target');
    const [target, where] = await Promise.all([local.describePhysicalTarget.executeWithOptions({ summary: 'read the physical tier configuration' }, []), placement()]);
    run.target(target.stanza);
    // Server settings and the restart are the database host's; pgBackRest runs there too.
    const db = on(where, 'database', { ...shortStep, startToCloseTimeout: '15 minutes' });
    run.step('read settings');
    const state = await db.readArchivingState.executeWithOptions({ summary: 'read archive_mode, archive_command, archive_timeout from the server' }, []);
    const plan = [
      `pgBackRest configuration ${state.configFile}: stanza ${target.stanza}, repository ${target.repository}, data directory ${target.dataDirectory}`,
      ...(state.changes.length ? state.changes.map((c) => `set ${c.name}: ${c.from || '(empty)'} -> ${c.to}${c.restart ? ' (needs a restart)' : ''}`) : ['server settings already archive: nothing to change']),
      ...(state.restartNeeded ? [`restart PostgreSQL on ${target.host}:${target.port}${target.production ? ' after an approval (production)' : ''}`] : state.changes.length ? ['reload the server configuration'] : []),
      `stanza-create ${target.stanza} (nothing when it exists), then pgbackrest check (a WAL switch must reach the repository)`,
    ];
    const base = { runbook: 'database-archiving' as const, stanza: target.stanza };
    if (input.dryRun) {
      run.finish('dry-run', plan.map((p) => `- ${p}`).join('\n'));
      return { ...base, outcome: 'dry-run', changed: [], restarted: false, durationMs: Date.now() - started, plan };
    }
    const locks = await lockTargets([`database:${target.database}`]);
    try {
      if (state.restartNeeded && target.production) {
        const id = workflowInfo().workflowId;
        run.step('awaiting approval', `Archiving needs a restart of production PostgreSQL. Approve with \`runbook approve ${id}\` (or reject).\n\n${plan.map((p) => `- ${p}`).join('\n')}`);
        const approval = await gate.wait({ what: `restart PostgreSQL on ${target.host}:${target.port} to turn on WAL archiving`, plan, timeoutSeconds: input.approvalTimeoutSeconds ?? 4 * 3600, summary: 'wait for an approval of the restart' });
        if (!approval?.approved) {
          run.finish('rejected', approval ? `rejected by ${approval.by}; nothing was changed` : 'no approval in time; nothing was changed');
          return { ...base, outcome: approval ? 'rejected' : 'approval-timeout', changed: [], restarted: false, durationMs: Date.now() - started, plan };
        }
      }
      run.step('apply settings');
      const applied = await db.applyArchivingSettings.executeWithOptions({ summary: state.restartNeeded ? 'ALTER SYSTEM and restart PostgreSQL' : 'ALTER SYSTEM and reload' }, []);
      run.step('stanza and check');
      await db.createStanzaAndCheck.executeWithOptions({ summary: `pgbackrest stanza-create and check (${target.stanza})` }, []);
      run.finish('succeeded', `archiving to ${target.repository} (stanza ${target.stanza}); ${applied.changed.length ? `changed ${applied.changed.join(', ')}${applied.restarted ? ', restarted' : ''}` : 'no setting changed'}; pgbackrest check passed in ${formatMs(Date.now() - started)}`);
      return { ...base, outcome: 'succeeded', changed: applied.changed, restarted: applied.restarted, durationMs: Date.now() - started };
    } finally {
      await locks.release();
    }
  });
}
