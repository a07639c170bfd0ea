// Runbook "incident-low-healthy-nodes": the response to the low healthy node percentage alert.
// List the unhealthy nodes with their last heartbeat and their last event (what reached the
// application from them), restart them through the application's operations API, and verify the
// healthy share. Nodes that stay unhealthy are named: in the escalation when the share is still
// low, as follow-ups when it recovered anyway. More than half the nodes unhealthy at once is
// systemic (the network, a shared host): no mass restart, an escalation with the list.
import { proxyActivities } from '@temporalio/workflow';
import { SYSTEMIC_SHARE } from '../common/alert-response';
import type { IncidentInput, IncidentResult } from '../common/incident';
import type { Activities } from '../activities';
import { escalateWithEvidence, verifyOrEscalate } from './alert-response';
import { Incident, type IncidentCarry } from './incident';
import { shortStep } from './presets';
import { recorded } from './run-record';

const quick = proxyActivities<Activities>(shortStep);

/** Nodes named one by one in the findings; the rest are counted. */
const LISTED = 50;

export async function incidentLowHealthyNodes(input: IncidentInput = {}, carry?: IncidentCarry): Promise<IncidentResult> {
  const incident = new Incident('incident-low-healthy-nodes', input, carry);
  return recorded(incident.run, async () => {
    if (incident.resumed) return incident.resume();
    await incident.open('credits network nodes');
    incident.phase('assess', 'the unhealthy nodes, their last heartbeat and last event');
    const e = await quick.nodeEvidence.executeWithOptions({ summary: 'list the unhealthy nodes with their last heartbeat and last event' }, []);
    const ids = e.unhealthy.map((n) => n.node);
    const systemic = e.nodes > 0 && ids.length > SYSTEMIC_SHARE * e.nodes;
    const diagnosis = ids.length === 0 ? 'no-unhealthy-nodes' : systemic ? 'systemic' : 'unhealthy-nodes';
    incident.finding(
      `${e.healthy} of ${e.active} active nodes healthy; ${ids.length} of ${e.nodes} nodes marked unhealthy`,
      ...e.unhealthy.slice(0, LISTED).map((n) => `  ${n.node}: last heartbeat ${n.lastHeartbeat}; ${n.lastEvent ? `last event ${n.lastEvent} (reaches the application)` : 'no event in the last hour (not reaching the application)'}`),
      ...(ids.length > LISTED ? [`  and ${ids.length - LISTED} more`] : []),
      `diagnosis: ${diagnosis}`,
    );
    const remedy =
      diagnosis === 'unhealthy-nodes'
        ? `restart ${ids.length} node(s) through the application: ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''}`
        : diagnosis === 'systemic'
          ? `none automatic: more than ${SYSTEMIC_SHARE * 100}% of the nodes are unhealthy (check the network and shared hosts)`
          : 'nothing to restart: verify';
    const plan = [...incident.state.findings, `remedy: ${remedy}`, 'verify: the healthy node share within its warning threshold'];
    if (incident.dryRun) return incident.close('dry-run', { diagnosis, plan });

    incident.phase('respond', remedy);
    if (diagnosis === 'systemic') return escalateWithEvidence(incident, diagnosis, 'check the network between the nodes and the application, and the hosts they share', `${ids.length} of ${e.nodes} nodes unhealthy`);
    if (diagnosis === 'no-unhealthy-nodes') {
      incident.record('no repair needed', 'skipped', 'no node is marked unhealthy');
      return verifyOrEscalate(incident, { kpis: ['healthyNodeRatio'], diagnosis });
    }
    const r = await incident.act(`restart ${ids.length} unhealthy node(s)`, () => quick.restartNodes.executeWithOptions({ summary: `restart ${ids.length} unhealthy node(s)` }, [{ nodes: ids }]), (v) => `${v.restarted.length} back${v.failed.length ? `; not back: ${v.failed.map((f) => f.node).join(', ')}` : ''}`);
    const stuck = r.ok ? r.value.failed.map((f) => `node ${f.node} stays unhealthy: ${f.why}`) : [];
    return verifyOrEscalate(incident, { kpis: ['healthyNodeRatio'], diagnosis, failed: r.ok ? undefined : r.error, unresolved: stuck });
  });
}
