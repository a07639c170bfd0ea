// Runbook "incident-data-corruption" (the runbook's Incident 3): compare the DHT and the database
// per credit id and per holder, and check the database's integrity. Credits missing from the
// DHT view are a DHT inconsistency: a gossip round, then a re-check. Changed or lost database rows
// are database corruption: the restore-database runbook as a child (it stops the application,
// restores the latest verified backup into a scratch database, swaps, verifies, starts the
// application), then a re-check. The restore waits for an approval unless the configuration
// allows automatic restores (incident.automaticRestore), and the pre-restore database is always
// kept and named in the post-mortem: one differing row must never cost the rows written since the
// backup. What is still different afterwards becomes a manual reconciliation task with the
// differences attached, and the run escalates.
import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { IncidentInput, IncidentResult } from '../common/incident';
import type { Activities } from '../activities';
import type { StoreComparison } from '../activities/data-integrity';
import { Incident, type IncidentCarry } from './incident';
import { shortStep } from './presets';
import { restoreDatabase } from './restore-database';
import { recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);
const compare = proxyActivities<Activities>({ ...shortStep, startToCloseTimeout: '30 minutes' });

function describe(c: StoreComparison): string {
  return c.consistent
    ? `DHT and database agree: ${c.dbCredits} credits`
    : `${c.missingInDht} credits missing from the DHT view, ${c.missingInDb} missing from the database, ${c.mismatched} changed, ${c.holdersDiffering} holder balances differ (DHT ${c.dhtCredits}, database ${c.dbCredits})`;
}

export async function incidentDataCorruption(input: IncidentInput = {}, carry?: IncidentCarry): Promise<IncidentResult> {
  const incident = new Incident('incident-data-corruption', input, carry);
  return recorded(incident.run, async () => {
    if (incident.resumed) return incident.resume();
    const id = workflowInfo().workflowId;
    await incident.open('credits');
    incident.phase('assess', 'compare the DHT and the database; check database integrity');
    let cmp = await compare.compareStores.executeWithOptions({ summary: 'compare DHT and database per credit id and per holder' }, [{ label: `${id}-assess` }]);
    const integrity = await quick.databaseIntegrity.executeWithOptions({ summary: 'database integrity: recent counts, amounts, holders, audit trail' }, []);
    incident.finding(describe(cmp), ...integrity.findings);
    const dhtInconsistent = cmp.missingInDht > 0;
    const dbCorrupt = cmp.missingInDb > 0 || cmp.mismatched > 0 || !integrity.ok;
    const plan = [
      describe(cmp),
      ...integrity.findings,
      ...(dhtInconsistent ? ['DHT inconsistency: trigger a gossip round, re-check'] : []),
      ...(dbCorrupt
        ? [
            `database corruption: restore the latest verified backup (restore-database${incident.settings.automaticRestore && !incident.settings.production ? '' : ', after an approval'}; it stops and starts the application; the pre-restore database is kept), re-check`,
          ]
        : []),
      ...(dhtInconsistent || dbCorrupt ? ['what still differs: a manual reconciliation task with the differences, and escalation'] : ['nothing to repair']),
    ];
    if (incident.dryRun) return incident.close('dry-run', { diagnosis: dbCorrupt ? 'database-corruption' : dhtInconsistent ? 'dht-inconsistency' : 'consistent', plan });
    const diagnosis = dbCorrupt ? 'database-corruption' : dhtInconsistent ? 'dht-inconsistency' : 'consistent';
    incident.finding(`diagnosis: ${diagnosis}`);

    incident.phase('respond', diagnosis);
    if (dhtInconsistent) {
      const g = await incident.act('trigger a gossip round (DHT repair)', () => quick.triggerGossip.executeWithOptions({ summary: 'trigger_gossip' }, []), (v) => `round ${v.round}`);
      if (g.ok) {
        cmp = await compare.compareStores.executeWithOptions({ summary: 're-check after gossip' }, [{ label: `${id}-after-gossip` }]);
        incident.finding(`after gossip: ${describe(cmp)}`);
      }
    }
    if (cmp.missingInDb > 0 || cmp.mismatched > 0 || !integrity.ok) {
      const restore = await incident.act(
        'restore the latest verified backup (child run restore-database)',
        () =>
          executeChild(restoreDatabase, {
            args: [
              {
                backup: 'latest',
                trigger: 'parent',
                severity: incident.state.severity,
                requestedBy: incident.requestedBy,
                approvalTimeoutSeconds: incident.settings.approvalTimeoutSeconds,
                // The rows written since the backup live on in the kept database.
                keepPrevious: true,
                requireApproval: !incident.settings.automaticRestore,
              },
            ],
            workflowId: `${id}-restore-database`,
            staticSummary: 'restore-database for incident-data-corruption',
          }),
        (v) => `${v.outcome}${v.approval ? ` (${v.approval.approved ? 'approved' : 'rejected'} by ${v.approval.by})` : ''}${v.previousKept && v.previousDatabase && v.outcome === 'succeeded' ? `; the pre-restore database is kept as ${v.previousDatabase}` : ''}`,
      );
      if (restore.ok && restore.value.outcome === 'succeeded' && restore.value.previousDatabase) {
        incident.finding(`the pre-restore database is kept as ${restore.value.previousDatabase}: rows written after the backup (${restore.value.backup}) can be recovered from it`);
        incident.state.followUps.push(`reconcile the rows written since the backup from ${restore.value.previousDatabase}, then drop it`);
      }
      if (restore.ok && restore.value.approval) incident.state.approvals.push({ ...restore.value.approval, for: 'restore the latest verified backup' });
      if (restore.ok && restore.value.outcome === 'succeeded') {
        cmp = await compare.compareStores.executeWithOptions({ summary: 're-check after the restore' }, [{ label: `${id}-after-restore` }]);
        incident.finding(`after the restore: ${describe(cmp)}`);
      } else {
        incident.finding(`the restore did not happen: ${restore.ok ? restore.value.outcome : restore.error}`);
      }
    }

    incident.phase('resolve', 'verify: DHT and database agree');
    if (cmp.consistent) {
      incident.state.recoveredAt = new Date().toISOString();
      incident.record('verify: DHT and database agree', 'succeeded', `${cmp.dbCredits} credits`);
      return incident.close('resolved', { diagnosis });
    }
    incident.record('verify: DHT and database agree', 'failed', describe(cmp));
    const task = [
      `# Manual reconciliation: ${id}`,
      '',
      describe(cmp),
      '',
      `Full differences: \`${cmp.file}\` (credit ids missing on either side, changed credits, holder balances).`,
      '',
      '## Samples',
      '',
      ...cmp.samples.missingInDb.map((c) => `- missing from the database: ${c}`),
      ...cmp.samples.missingInDht.map((c) => `- missing from the DHT view: ${c}`),
      ...cmp.samples.mismatched.map((m) => `- changed ${m.creditId}: database ${m.db}, DHT ${m.dht}`),
      ...cmp.samples.holders.map((h) => `- holder ${h.holder}: database ${h.db}, DHT ${h.dht}`),
      '',
    ].join('\n');
    const written = await quick.writeReport.executeWithOptions({ summary: 'write the reconciliation task' }, [{ name: `reconcile-${id}.md`, markdown: task }]);
    incident.record('manual reconciliation task', 'planned', written.path);
    incident.state.followUps.push(`reconcile by hand: ${written.path}`);
    await incident.escalate('data still differs after the repairs: manual reconciliation needed');
    return incident.close('escalated', { diagnosis });
  });
}
