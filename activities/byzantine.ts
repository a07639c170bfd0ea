// Byzantine detection checks of the incident and troubleshooting runbooks: the audit trail of
// detections, whether PoGQ scores are computed, whether validators are active, the threshold the
// application runs with against the configured one, validators cross-checked against each other,
// and the two changes an operator may approve: a threshold change and a reputation restore.
import type { ActivityDeps } from './deps';
import { readStatusReport } from './status-report';

export interface ValidatorActivity {
  validator: string;
  healthy: boolean;
  detectionsLastHour: number;
}

export interface DetectionAudit {
  detectionsLastHour: number;
  detectionsLast10Min: number;
  /** From the status report, when it answers. */
  detectionRate?: number;
  pogq: { scoredLast10Min: number; qualityEventsLast10Min: number };
  validators: { total: number; healthy: number; active: number; perValidator: ValidatorActivity[] };
  threshold: { current?: number; expected: number; updatedBy?: string; updatedAt?: string };
  /** Validators whose detections stand out from their peers'. */
  suspectValidators: Array<{ validator: string; detectionsLastHour: number; why: string }>;
  findings: string[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A validator stands out when it flags far more than its peers (possibly compromised, or
 * flagging honest nodes), or nothing while its peers flag plenty (possibly blind or offline). */
export function crossCheckValidators(per: ValidatorActivity[]): DetectionAudit['suspectValidators'] {
  const m = median(per.map((v) => v.detectionsLastHour));
  const out: DetectionAudit['suspectValidators'] = [];
  for (const v of per) {
    if (v.detectionsLastHour > 3 * m + 5) out.push({ validator: v.validator, detectionsLastHour: v.detectionsLastHour, why: `flags ${v.detectionsLastHour} in an hour against a median of ${m}` });
    else if (m >= 5 && v.detectionsLastHour === 0) out.push({ validator: v.validator, detectionsLastHour: 0, why: `flags nothing while the median validator flags ${m}` });
  }
  return out;
}

export function createByzantineActivities(deps: ActivityDeps) {
  async function detectionAudit(): Promise<DetectionAudit> {
    const expected = deps.config.byzantine.pogqThreshold;
    const a = await deps.postgres.withClient(undefined, async (c) => {
      const counts = (
        await c.query<{ hour: string; ten: string }>(
          `SELECT count(*) FILTER (WHERE detected_at > now() - interval '1 hour') AS hour,
                  count(*) FILTER (WHERE detected_at > now() - interval '10 minutes') AS ten
             FROM byzantine_detections WHERE detected_at > now() - interval '1 hour'`,
        )
      ).rows[0]!;
      const pogq = (
        await c.query<{ scored: string; total: string }>(
          `SELECT count(*) FILTER (WHERE pogq_score IS NOT NULL) AS scored, count(*) AS total
             FROM credits WHERE event_type = 'quality_gradient' AND created_at > now() - interval '10 minutes'`,
        )
      ).rows[0]!;
      const per = (
        await c.query<{ node_id: string; healthy: boolean; n: string }>(
          `SELECT n.node_id, n.healthy, count(d.id) AS n
             FROM nodes n LEFT JOIN byzantine_detections d ON d.detector_id = n.node_id AND d.detected_at > now() - interval '1 hour'
            WHERE n.is_validator GROUP BY n.node_id, n.healthy ORDER BY n.node_id`,
        )
      ).rows.map((r) => ({ validator: r.node_id, healthy: r.healthy, detectionsLastHour: Number(r.n) }));
      const t = (
        await c
          .query<{ value: number; updated_by: string; updated_at: Date }>(`SELECT value, updated_by, updated_at FROM detection_settings WHERE key = 'pogq_threshold'`)
          .catch(() => ({ rows: [] as Array<{ value: number; updated_by: string; updated_at: Date }> }))
      ).rows[0];
      return { counts, pogq, per, t };
    });
    // The status report is optional here: the database holds the audit trail.
    const detectionRate = (await readStatusReport(deps.config)).report?.metrics.security.detection_rate;
    const perValidator = a.per;
    const audit: DetectionAudit = {
      detectionsLastHour: Number(a.counts.hour),
      detectionsLast10Min: Number(a.counts.ten),
      detectionRate,
      pogq: { scoredLast10Min: Number(a.pogq.scored), qualityEventsLast10Min: Number(a.pogq.total) },
      validators: {
        total: perValidator.length,
        healthy: perValidator.filter((v) => v.healthy).length,
        active: perValidator.filter((v) => v.detectionsLastHour > 0).length,
        perValidator,
      },
      threshold: { current: a.t?.value, expected, updatedBy: a.t?.updated_by, updatedAt: a.t?.updated_at.toISOString() },
      suspectValidators: crossCheckValidators(perValidator),
      findings: [],
    };
    const f = audit.findings;
    f.push(`${audit.detectionsLastHour} detections in the last hour, ${audit.detectionsLast10Min} in the last 10 minutes${detectionRate === undefined ? '' : `; detection rate ${(detectionRate * 100).toFixed(1)}%`}`);
    f.push(
      audit.pogq.qualityEventsLast10Min === 0
        ? 'no quality-gradient events in the last 10 minutes: PoGQ scoring cannot be checked'
        : `PoGQ scores computed for ${audit.pogq.scoredLast10Min} of ${audit.pogq.qualityEventsLast10Min} quality-gradient events in the last 10 minutes`,
    );
    f.push(`${audit.validators.total} validators, ${audit.validators.healthy} healthy, ${audit.validators.active} flagged something in the last hour`);
    f.push(
      audit.threshold.current === undefined
        ? 'the application has no pogq_threshold setting'
        : `PoGQ threshold ${audit.threshold.current} (expected ${expected}; last set by ${audit.threshold.updatedBy} at ${audit.threshold.updatedAt})`,
    );
    for (const s of audit.suspectValidators) f.push(`validator ${s.validator} stands out: ${s.why}`);
    return audit;
  }

  async function setDetectionThreshold(input: { value: number; approvedBy: string }): Promise<{ previous?: number; value: number }> {
    return deps.postgres.withClient(undefined, async (c) => {
      const prev = (await c.query<{ value: number }>(`SELECT value FROM detection_settings WHERE key = 'pogq_threshold'`)).rows[0]?.value;
      await c.query(`UPDATE detection_settings SET value = $1, updated_at = now(), updated_by = $2 WHERE key = 'pogq_threshold'`, [input.value, `runbook (approved by ${input.approvedBy})`]);
      return { previous: prev, value: input.value };
    });
  }

  /** Detections recorded after `since` (ISO time), waiting up to the timeout for the first. */
  async function waitForDetections(input: { since: string; timeoutSeconds: number }): Promise<{ detections: number }> {
    const deadline = Date.now() + input.timeoutSeconds * 1000;
    let n = 0;
    while (Date.now() < deadline) {
      n = await deps.postgres.withClient(undefined, async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM byzantine_detections WHERE detected_at > $1', [input.since])).rows[0]!.n));
      if (n > 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    return { detections: n };
  }

  /** A node's side of "unexpected detections": its PoGQ scores, the evidence against it, and how
   * many distinct validators flagged it. */
  async function nodeDetectionReview(input: { nodeId?: string }): Promise<{
    nodeId: string;
    reputation: string;
    avgPogq?: number;
    scoredEvents: number;
    detections: number;
    distinctValidators: number;
    evidence: Array<{ detector: string; at: string; pogq?: number; anomaly?: string }>;
    likelyFalsePositive: boolean;
    threshold: number;
  }> {
    return deps.postgres.withClient(undefined, async (c) => {
      const nodeId =
        input.nodeId ??
        (await c.query<{ detected_id: string }>(`SELECT detected_id FROM byzantine_detections WHERE detected_at > now() - interval '24 hours' GROUP BY detected_id ORDER BY count(*) DESC LIMIT 1`)).rows[0]?.detected_id;
      if (!nodeId) throw new Error('no detections in the last 24 hours and no node given: nothing to review');
      const node = (await c.query<{ reputation: string }>('SELECT reputation::text FROM nodes WHERE node_id = $1', [nodeId])).rows[0];
      if (!node) throw new Error(`node ${nodeId}: expected a known node, found none`);
      const q = (await c.query<{ avg: number | null; n: string }>(`SELECT avg(pogq_score) AS avg, count(pogq_score) AS n FROM credits WHERE holder = $1 AND created_at > now() - interval '7 days'`, [nodeId])).rows[0]!;
      const d = (
        await c.query<{ detector_id: string; detected_at: Date; evidence: { pogq_score?: number; anomaly?: string } }>(
          `SELECT detector_id, detected_at, evidence FROM byzantine_detections WHERE detected_id = $1 AND detected_at > now() - interval '24 hours' ORDER BY detected_at DESC`,
          [nodeId],
        )
      ).rows;
      const threshold = (await c.query<{ value: number }>(`SELECT value FROM detection_settings WHERE key = 'pogq_threshold'`).catch(() => ({ rows: [] as Array<{ value: number }> }))).rows[0]?.value ?? deps.config.byzantine.pogqThreshold;
      const distinct = new Set(d.map((x) => x.detector_id)).size;
      const avgPogq = q.avg === null ? undefined : Math.round(Number(q.avg) * 1000) / 1000;
      return {
        nodeId,
        reputation: node.reputation,
        avgPogq,
        scoredEvents: Number(q.n),
        detections: d.length,
        distinctValidators: distinct,
        evidence: d.slice(0, 10).map((x) => ({ detector: x.detector_id, at: x.detected_at.toISOString(), pogq: x.evidence.pogq_score, anomaly: x.evidence.anomaly })),
        // Its own work scores well above the threshold, and at most one validator flags it.
        likelyFalsePositive: avgPogq !== undefined && avgPogq >= threshold && distinct <= 1,
        threshold,
      };
    });
  }

  async function restoreReputation(input: { nodeId: string; reputation: string; approvedBy: string }): Promise<{ previous: string; reputation: string }> {
    return deps.postgres.withClient(undefined, async (c) => {
      const prev = (await c.query<{ reputation: string }>('SELECT reputation::text FROM nodes WHERE node_id = $1', [input.nodeId])).rows[0];
      if (!prev) throw new Error(`node ${input.nodeId}: not found`);
      await c.query('UPDATE nodes SET reputation = $2::reputation_level WHERE node_id = $1', [input.nodeId, input.reputation]);
      await c.query(`INSERT INTO audit_trail (credit_id, action, actor, details, at) VALUES ('-', 'reputation-restored', $1, $2, now())`, [
        `runbook (approved by ${input.approvedBy})`,
        JSON.stringify({ node: input.nodeId, from: prev.reputation, to: input.reputation }),
      ]);
      return { previous: prev.reputation, reputation: input.reputation };
    });
  }

  return { detectionAudit, setDetectionThreshold, waitForDetections, nodeDetectionReview, restoreReputation };
}
