// The scaling procedures' steps: performance samples from the status report (to compare before
// and after a vertical scale), the upgrade hook, the node provisioning hook, and the check that a
// new node is active and healthy.
import { ApplicationFailure } from '@temporalio/activity';
import { Failure } from '../common/failures';
import type { StatusReport } from '../common/kpi';
import { nodeIdPattern } from '../common/formats';
import { runCommand } from '../adapters/process';
import { redact } from '../adapters/secrets';
import type { ActivityDeps } from './deps';
import { readStatusReport } from './status-report';

export interface PerformanceSample {
  samples: number;
  avgResponseMs: number;
  p99ResponseMs: number;
  eventsPerMinute: number;
}

export function createScalingActivities(deps: ActivityDeps) {
  const cfg = deps.config;

  /** The status report read `count` times, `intervalMs` apart: the mean of its figures. */
  async function samplePerformance(input: { count: number; intervalMs: number; timeoutSeconds?: number }): Promise<PerformanceSample> {
    const got: StatusReport[] = [];
    const deadline = Date.now() + (input.timeoutSeconds ?? 120) * 1000;
    while (got.length < input.count && Date.now() < deadline) {
      // Not answering yet (just started): keep trying until the deadline.
      const { report } = await readStatusReport(cfg, 3000);
      if (report && report.metrics.throughput.events_per_minute > 0) got.push(report);
      await new Promise((r) => setTimeout(r, input.intervalMs));
    }
    if (got.length === 0) throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: `no status report with events within ${input.timeoutSeconds ?? 120} s`, nonRetryable: true });
    const mean = (f: (r: StatusReport) => number): number => Math.round(got.reduce((a, r) => a + f(r), 0) / got.length);
    return { samples: got.length, avgResponseMs: mean((r) => r.metrics.performance.avg_response_ms), p99ResponseMs: mean((r) => r.metrics.performance.p99_response_ms), eventsPerMinute: mean((r) => r.metrics.throughput.events_per_minute) };
  }

  /** The hooks' commands as the history may show them: secret references stay references and
   * literal credentials are masked. */
  const shown = (command: readonly string[]): string => redact(command.join(' '));

  async function runUpgradeHook(): Promise<{ ran: boolean; command?: string }> {
    if (!cfg.scaling.verticalUpgrade) return { ran: false };
    await runCommand(cfg.scaling.verticalUpgrade, { timeoutMs: 3_600_000 });
    return { ran: true, command: shown(cfg.scaling.verticalUpgrade) };
  }

  async function provisionNode(input: { nodeId: string }): Promise<{ command: string }> {
    if (!cfg.provisionNode) throw ApplicationFailure.create({ type: Failure.PreconditionFailed, message: 'scaling.provisionNode: expected a provisioning command, found none', nonRetryable: true });
    // The workflow checked it already; this is the last line before it becomes an argument.
    if (!nodeIdPattern.test(input.nodeId)) throw ApplicationFailure.create({ type: Failure.InvalidInput, message: `nodeId: expected a node id, found ${JSON.stringify(input.nodeId.slice(0, 80))}`, nonRetryable: true });
    // The id replaces the placeholder within an argument; it never becomes an argument of its own.
    const command = cfg.provisionNode.map((a) => a.replaceAll('{nodeId}', input.nodeId));
    await runCommand(command, { timeoutMs: 3_600_000 });
    return { command: shown(command) };
  }

  /** Joined: the node is known, healthy, and has credits since it joined, within the timeout. */
  async function verifyNodeActive(input: { nodeId: string; since: string; timeoutSeconds: number }): Promise<{ active: boolean; healthy: boolean; credits: number; activeNodes?: number }> {
    const deadline = Date.now() + input.timeoutSeconds * 1000;
    let last = { active: false, healthy: false, credits: 0, activeNodes: undefined as number | undefined };
    while (Date.now() < deadline) {
      const row = await deps.postgres.withClient(undefined, async (c) => {
        const n = (await c.query<{ healthy: boolean }>('SELECT healthy FROM nodes WHERE node_id = $1', [input.nodeId])).rows[0];
        const credits = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM credits WHERE holder = $1 AND created_at > $2', [input.nodeId, input.since])).rows[0]!.n);
        return { healthy: n?.healthy ?? false, credits };
      });
      // The status report is optional here.
      const activeNodes = (await readStatusReport(cfg, 3000)).report?.metrics.health.active_nodes;
      last = { active: row.credits > 0, healthy: row.healthy, credits: row.credits, activeNodes };
      if (last.active && last.healthy) return last;
      await new Promise((r) => setTimeout(r, 500));
    }
    return last;
  }

  async function scalingSettings(): Promise<{ upgradeHook?: string; tolerance: number; provisionNode?: string }> {
    return {
      upgradeHook: cfg.scaling.verticalUpgrade ? shown(cfg.scaling.verticalUpgrade) : undefined,
      tolerance: cfg.scaling.performanceTolerance,
      provisionNode: cfg.provisionNode ? shown(cfg.provisionNode) : undefined,
    };
  }

  return { scalingSettings, samplePerformance, runUpgradeHook, provisionNode, verifyNodeActive };
}
