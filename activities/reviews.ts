// The weekly and monthly reviews of the runbook's calendar, as reports: Markdown with SVG charts
// written to the reports directory and returned. Their numbers come from Temporal visibility (what
// ran, what fired), the credits database (response times, detections, growth, nodes) and the
// application's metrics; each report states where its figures come from.
import { Context } from '@temporalio/activity';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { kpiRules } from '../common/kpi';
import { crossing, lineChart } from '../common/svg-chart';
import { EVENT_RULES } from '../common/credit-rules';
import { listBackups, type listManifested } from './backup-files';
import type { LoadedConfig } from '../config/load';
import type { ActivityDeps } from './deps';
import { saveReport } from './report-files';
import { readSamples, storageSamplesFile } from './host-figures';
import { readMemoryGauge } from './status-report';
import { runCommand } from '../adapters/process';

export interface Report {
  name: string;
  path: string;
  markdown: string;
  charts: string[];
  /** The figures the report is made of, for tests and for anyone scripting on top. */
  figures: Record<string, unknown>;
}

const DAY = 86_400_000;
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const first = (v: unknown): string => String((Array.isArray(v) ? v[0] : v) ?? '');

export function createReviewActivities(deps: ActivityDeps) {
  const cfg = deps.config;
  const now = (): Date => deps.now?.() ?? new Date();

  async function write(name: string, markdown: string, charts: Array<{ file: string; svg: string }>, figures: Record<string, unknown>): Promise<Report> {
    const chartPaths: string[] = [];
    for (const c of charts) chartPaths.push(await saveReport(cfg.reportsDirectory, c.file, c.svg));
    return { name, path: await saveReport(cfg.reportsDirectory, `${name}.md`, markdown), markdown, charts: chartPaths, figures };
  }

  async function listRuns(query: string, limit = 5000): Promise<WorkflowExecutionInfo[]> {
    const out: WorkflowExecutionInfo[] = [];
    for await (const w of Context.current().client.workflow.list({ query })) {
      out.push(w);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Monday: alerts and incidents of the past week, failed runs, the health checks. */
  async function weeklyHealthReview(input: { label: string }): Promise<Report> {
    const to = now();
    const from = new Date(to.getTime() - 7 * DAY);
    const since = `StartTime > "${from.toISOString()}"`;
    const alerts = await listRuns(`RunbookTrigger = "alert" AND ${since}`);
    const failed = await listRuns(`Outcome IN ("failed", "escalated") AND ${since}`);
    const checks = (await Context.current().client.workflow.count(`RunbookName = "health-check" AND ${since}`)).count;
    const byRunbook = new Map<string, number>();
    const byDay = new Map<string, number>();
    for (const w of alerts) {
      byRunbook.set(first(w.searchAttributes?.RunbookName), (byRunbook.get(first(w.searchAttributes?.RunbookName)) ?? 0) + 1);
      byDay.set(day(w.startTime.getTime()), (byDay.get(day(w.startTime.getTime())) ?? 0) + 1);
    }
    const days = Array.from({ length: 7 }, (_, i) => day(from.getTime() + (i + 1) * DAY));
    const chart = lineChart([{ name: 'alert-started runs', points: days.map((d, i) => ({ x: i, y: byDay.get(d) ?? 0 })) }], { title: 'Alert-started runs per day', xLabel: (x) => days[x]!.slice(5) });
    const closed = alerts.filter((w) => w.closeTime);
    const mttr = closed.length ? closed.reduce((a, w) => a + (w.closeTime!.getTime() - w.startTime.getTime()), 0) / closed.length : undefined;
    const open = alerts.filter((w) => w.status.name === 'RUNNING');
    const updates = await securityUpdates(cfg.reviews.securityUpdateCommand);
    const figures = { alerts: alerts.length, open: open.length, failedOrEscalated: failed.length, healthChecks: Number(checks), byRunbook: Object.fromEntries(byRunbook), mttrMs: mttr, securityUpdates: updates };
    const md = [
      `# Weekly health review, ${day(from.getTime())} to ${day(to.getTime())}`,
      '',
      'Source: Temporal visibility (runs started by alerts, failed and escalated runs, health-check runs).',
      '',
      `- ${alerts.length} runs started by alerts (${open.length} still open); mean time to close ${mttr === undefined ? 'n/a' : `${Math.round(mttr / 1000)} s`}`,
      `- ${failed.length} runs failed or escalated`,
      `- ${checks} health-check runs (the checker is one long-lived run, continued as new now and then; manual checks are runs of their own)`,
      '',
      `![alert-started runs per day](weekly-health-${input.label}.svg)`,
      '',
      '| runbook | alert-started runs |',
      '|---|---|',
      ...[...byRunbook].sort((a, b) => b[1] - a[1]).map(([r, n]) => `| ${r} | ${n} |`),
      '',
      '## Failed or escalated',
      '',
      ...(failed.length ? failed.slice(0, 50).map((w) => `- ${w.startTime.toISOString()} ${first(w.searchAttributes?.RunbookName)} \`${w.workflowId}\`: ${first(w.searchAttributes?.Outcome)}`) : ['- none']),
      '',
      '## Security updates',
      '',
      `Checked with \`${cfg.reviews.securityUpdateCommand.join(' ')}\` (lists, applies nothing).`,
      '',
      ...(updates.error
        ? [`- **not checked**: ${updates.error}`]
        : [`- ${updates.pending} pending update(s), ${updates.security.length} from security sources${updates.security.length ? `: ${updates.security.slice(0, 20).join(', ')}${updates.security.length > 20 ? ', ...' : ''}` : ''}`]),
      '',
    ].join('\n');
    return write(`weekly-health-${input.label}`, md, [{ file: `weekly-health-${input.label}.svg`, svg: chart }], figures);
  }

  /** Wednesday: response-time percentiles and Byzantine detection patterns over 7 days. */
  async function weeklyPerformanceReview(input: { label: string }): Promise<Report> {
    const to = now();
    const data = await deps.postgres.withClient(undefined, async (c) => {
      const perDay = (
        await c.query<{ d: string; n: string; p50: number; p95: number; p99: number }>(
          `SELECT to_char(date_trunc('day', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS d, count(*) AS n,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY response_ms) AS p50,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY response_ms) AS p95,
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY response_ms) AS p99
             FROM credits WHERE created_at > $1::timestamptz - interval '7 days' AND created_at <= $1 GROUP BY 1 ORDER BY 1`,
          [to],
        )
      ).rows;
      const detections = (
        await c.query<{ d: string; n: string; detected: string }>(
          `SELECT to_char(date_trunc('day', detected_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS d, count(*) AS n, count(DISTINCT detected_id) AS detected
             FROM byzantine_detections WHERE detected_at > $1::timestamptz - interval '7 days' AND detected_at <= $1 GROUP BY 1 ORDER BY 1`,
          [to],
        )
      ).rows;
      const detectors = (
        await c.query<{ detector_id: string; n: string }>(
          `SELECT detector_id, count(*) AS n FROM byzantine_detections WHERE detected_at > $1::timestamptz - interval '7 days' AND detected_at <= $1 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5`,
          [to],
        )
      ).rows;
      return { perDay, detections, detectors };
    });
    const perDay = data.perDay.map((r) => ({ day: r.d, credits: Number(r.n), p50: Math.round(r.p50), p95: Math.round(r.p95), p99: Math.round(r.p99) }));
    const detections = data.detections.map((r) => ({ day: r.d, detections: Number(r.n), nodes: Number(r.detected) }));
    const rules = kpiRules(cfg.kpi);
    const p99Rule = rules.find((r) => r.name === 'p99ResponseMs')!;
    const rt = lineChart(
      [
        { name: 'p50', points: perDay.map((d, i) => ({ x: i, y: d.p50 })) },
        { name: 'p95', points: perDay.map((d, i) => ({ x: i, y: d.p95 })) },
        { name: 'p99', points: perDay.map((d, i) => ({ x: i, y: d.p99 })) },
      ],
      { title: 'Response time per day (ms)', xLabel: (x) => perDay[x]?.day.slice(5) ?? '', yUnit: 'ms', lines: [{ y: p99Rule.warning, label: `p99 warning ${p99Rule.warning} ms` }] },
    );
    const det = lineChart([{ name: 'detections', points: detections.map((d, i) => ({ x: i, y: d.detections })) }], { title: 'Byzantine detections per day', xLabel: (x) => detections[x]?.day.slice(5) ?? '' });
    const md = [
      `# Weekly performance review, the 7 days to ${to.toISOString()}`,
      '',
      'Source: the credits database (credits.response_ms, byzantine_detections).',
      '',
      `![response time](weekly-performance-${input.label}-latency.svg)`,
      '',
      '| day | credits | p50 ms | p95 ms | p99 ms |',
      '|---|---|---|---|---|',
      ...perDay.map((d) => `| ${d.day} | ${d.credits} | ${d.p50} | ${d.p95} | ${d.p99}${d.p99 > p99Rule.warning ? ' (over the warning threshold)' : ''} |`),
      '',
      `![detections](weekly-performance-${input.label}-detections.svg)`,
      '',
      '| day | detections | distinct nodes flagged |',
      '|---|---|---|',
      ...detections.map((d) => `| ${d.day} | ${d.detections} | ${d.nodes} |`),
      '',
      `Most active detectors: ${data.detectors.map((d) => `${d.detector_id} (${d.n})`).join(', ') || 'none'}`,
      '',
    ].join('\n');
    return write(
      `weekly-performance-${input.label}`,
      md,
      [
        { file: `weekly-performance-${input.label}-latency.svg`, svg: rt },
        { file: `weekly-performance-${input.label}-detections.svg`, svg: det },
      ],
      { perDay, detections, detectors: data.detectors.map((d) => ({ detector: d.detector_id, detections: Number(d.n) })) },
    );
  }

  /** Friday: storage growth per day, nodes, memory, and when each capacity threshold is crossed. */
  async function weeklyCapacityReport(input: { label: string }): Promise<Report> {
    const to = now();
    const data = await deps.postgres.withClient(undefined, async (c) => {
      const size = Number((await c.query<{ s: string }>('SELECT pg_database_size(current_database()) AS s')).rows[0]!.s);
      const total = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM credits')).rows[0]!.n);
      const perDay = (
        await c.query<{ d: string; n: string; nodes: string }>(
          `SELECT to_char(date_trunc('day', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS d, count(*) AS n, count(DISTINCT holder) AS nodes
             FROM credits WHERE created_at > $1::timestamptz - interval '14 days' AND created_at <= $1 GROUP BY 1 ORDER BY 1`,
          [to],
        )
      ).rows;
      return { size, total, perDay };
    });
    // Each credit's share of the database: what a day of credits adds to storage.
    const bytesPerCredit = data.total ? data.size / data.total : 0;
    const perDay = data.perDay.map((r) => ({ day: r.d, credits: Number(r.n), growthBytes: Math.round(Number(r.n) * bytesPerCredit), activeNodes: Number(r.nodes) }));
    // Undefined when the application does not answer: the report says so.
    const memoryBytes = (await readMemoryGauge(cfg, 3000)).bytes;
    const rules = kpiRules(cfg.kpi);
    const x = (d: string): number => Math.round((Date.parse(d) - Date.parse(perDay[0]?.day ?? d)) / DAY);
    const projections = (['activeNodes', 'storageGrowthBytesPerDay'] as const).flatMap((name) => {
      const rule = rules.find((r) => r.name === name)!;
      const pts = perDay.map((d) => ({ x: x(d.day), y: name === 'activeNodes' ? d.activeNodes : d.growthBytes }));
      return (['warning', 'critical'] as const).map((level) => {
        const at = crossing(pts, rule[level]);
        const lastX = pts[pts.length - 1]?.x ?? 0;
        const current = pts[pts.length - 1]?.y;
        const reached = current !== undefined && current > rule[level];
        return {
          kpi: rule.label,
          level,
          threshold: rule[level],
          current,
          crossesOn: reached ? 'already crossed' : at === undefined ? 'not on the current trend' : day(Date.parse(perDay[0]!.day) + at * DAY),
          inDays: reached ? 0 : at === undefined ? undefined : Math.max(0, Math.round(at - lastX)),
        };
      });
    });
    const memRule = rules.find((r) => r.name === 'memoryBytes')!;
    // Memory has no history in the database: the health check's samples (last days) give its trend.
    const memPoints = readSamples(storageSamplesFile(cfg))
      .filter((x) => x.memory !== undefined)
      .map((x) => ({ x: (x.at - to.getTime()) / DAY, y: x.memory! }));
    for (const level of ['warning', 'critical'] as const) {
      const at = crossing(memPoints, memRule[level]);
      const current = memoryBytes ?? memPoints[memPoints.length - 1]?.y;
      const reached = current !== undefined && current > memRule[level];
      projections.push({
        kpi: memRule.label,
        level,
        threshold: memRule[level],
        current,
        crossesOn: reached ? 'already crossed' : memPoints.length < 2 ? 'no trend yet (needs health-check samples)' : at === undefined ? 'not on the current trend' : day(to.getTime() + at * DAY),
        inDays: reached ? 0 : at === undefined ? undefined : Math.max(0, Math.round(at)),
      });
    }
    const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MB`;
    const growth = lineChart([{ name: 'storage growth', points: perDay.map((d, i) => ({ x: i, y: d.growthBytes / 1048576 })) }], { title: 'Storage growth per day (MB)', xLabel: (i) => perDay[i]?.day.slice(5) ?? '', yUnit: 'MB' });
    const nodes = lineChart([{ name: 'active nodes', points: perDay.map((d, i) => ({ x: i, y: d.activeNodes })) }], {
      title: 'Active nodes per day',
      xLabel: (i) => perDay[i]?.day.slice(5) ?? '',
      lines: [{ y: rules.find((r) => r.name === 'activeNodes')!.warning, label: 'warning' }],
    });
    const md = [
      `# Weekly capacity report, the 14 days to ${to.toISOString()}`,
      '',
      `Source: the credits database (credits per day and their holders; ${mb(data.size)} for ${data.total} credits, ${Math.round(bytesPerCredit)} bytes per credit), the application's memory metric.`,
      '',
      `- Database size: ${mb(data.size)}`,
      `- Memory of the application: ${memoryBytes === undefined ? 'unknown (metrics unreachable)' : `${mb(memoryBytes)} (warning at ${mb(memRule.warning)})`}`,
      '',
      `![storage growth](weekly-capacity-${input.label}-growth.svg) ![active nodes](weekly-capacity-${input.label}-nodes.svg)`,
      '',
      '| day | credits | storage growth | active nodes |',
      '|---|---|---|---|',
      ...perDay.map((d) => `| ${d.day} | ${d.credits} | ${mb(d.growthBytes)} | ${d.activeNodes} |`),
      '',
      '## Projection (linear trend of the days above)',
      '',
      '| KPI | level | threshold | now | crossed |',
      '|---|---|---|---|---|',
      ...projections.map((p) => `| ${p.kpi} | ${p.level} | ${p.threshold} | ${p.current ?? 'n/a'} | ${p.crossesOn}${p.inDays ? ` (in ${p.inDays} days)` : ''} |`),
      '',
    ].join('\n');
    return write(
      `weekly-capacity-${input.label}`,
      md,
      [
        { file: `weekly-capacity-${input.label}-growth.svg`, svg: growth },
        { file: `weekly-capacity-${input.label}-nodes.svg`, svg: nodes },
      ],
      { databaseBytes: data.size, bytesPerCredit, perDay, memoryBytes, projections },
    );
  }

  /** Monthly: which alerts fired, how often and for how long, against their thresholds. */
  async function monthlyThresholdReview(input: { label: string }): Promise<Report> {
    const to = now();
    const runs = await listRuns(`AlertName IS NOT NULL AND StartTime > "${new Date(to.getTime() - 30 * DAY).toISOString()}"`);
    const by = new Map<string, { fired: number; short: number; durations: number[] }>();
    for (const w of runs) {
      const name = first(w.searchAttributes?.AlertName);
      const e = by.get(name) ?? { fired: 0, short: 0, durations: [] };
      e.fired++;
      if (w.closeTime) {
        const d = w.closeTime.getTime() - w.startTime.getTime();
        e.durations.push(d);
        if (d < 5 * 60_000) e.short++;
      }
      by.set(name, e);
    }
    const rows = [...by].map(([name, e]) => {
      const sorted = [...e.durations].sort((a, b) => a - b);
      const median = sorted.length ? sorted[Math.floor(sorted.length / 2)]! : undefined;
      const suggestion =
        e.fired >= 10 && e.short / e.fired >= 0.5
          ? 'noisy: most firings clear within 5 minutes; raise the threshold or lengthen the rule\'s hold time'
          : median !== undefined && median > 4 * 3_600_000
            ? 'fires for hours: check that it is actionable, or route it to a runbook'
            : 'keep';
      return { alert: name, fired: e.fired, clearedWithin5Min: e.short, medianDurationMs: median, suggestion };
    });
    rows.sort((a, b) => b.fired - a.fired);
    const rules = kpiRules(cfg.kpi);
    const md = [
      `# Monthly alert-threshold review, the 30 days to ${to.toISOString()}`,
      '',
      'Source: Temporal visibility (runs started by an alert, by AlertName).',
      '',
      '| alert | fired | cleared within 5 min | median duration | suggestion |',
      '|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.alert} | ${r.fired} | ${r.clearedWithin5Min} | ${r.medianDurationMs === undefined ? 'open' : `${Math.round(r.medianDurationMs / 1000)} s`} | ${r.suggestion} |`),
      ...(rows.length ? [] : ['| (none fired) | | | | |']),
      '',
      '## Thresholds in force (KPI tables)',
      '',
      '| KPI | warning | critical |',
      '|---|---|---|',
      ...rules.map((r) => `| ${r.label} | ${r.bad === 'below' ? '<' : '>'} ${r.warning} | ${r.bad === 'below' ? '<' : '>'} ${r.critical} |`),
      '',
    ].join('\n');
    return write(`monthly-thresholds-${input.label}`, md, [], { alerts: rows });
  }

  /** Monthly: nodes that came near their rate limits (per hour or per day, by event type). */
  async function monthlyRateLimitReview(input: { label: string }): Promise<Report> {
    const to = now();
    const rows = await deps.postgres.withClient(undefined, async (c) => {
      const out: Array<{ node: string; eventType: string; peak: number; limit: number; per: string; share: number }> = [];
      for (const [type, rule] of Object.entries(EVENT_RULES)) {
        const r = await c.query<{ holder: string; peak: string }>(
          `SELECT holder, max(n) AS peak FROM (
             SELECT holder, date_trunc($2, created_at) AS b, count(*) AS n FROM credits
              WHERE event_type = $1::credit_event_type AND created_at > $3::timestamptz - interval '30 days' AND created_at <= $3 GROUP BY 1, 2) s
            GROUP BY 1 HAVING max(n) >= $4 ORDER BY 2 DESC`,
          [type, rule.per, to, Math.ceil(rule.limit * 0.8)],
        );
        for (const x of r.rows) out.push({ node: x.holder, eventType: type, peak: Number(x.peak), limit: rule.limit, per: rule.per, share: Number(x.peak) / rule.limit });
      }
      return out;
    });
    const md = [
      `# Monthly rate-limit review, the 30 days to ${to.toISOString()}`,
      '',
      `Source: the credits database (events per node, type and ${'hour or day'}), against the limits: ${Object.entries(EVENT_RULES).map(([t, r]) => `${t} ${r.limit}/${r.per}`).join(', ')}.`,
      '',
      rows.length ? 'Nodes that reached 80% of a limit (spam, or legitimate growth to plan for):' : 'No node reached 80% of a limit.',
      '',
      ...(rows.length ? ['| node | event type | peak | limit | share |', '|---|---|---|---|---|', ...rows.map((r) => `| ${r.node} | ${r.eventType} | ${r.peak} per ${r.per} | ${r.limit} | ${(r.share * 100).toFixed(0)}% |`)] : []),
      '',
    ].join('\n');
    return write(`monthly-rate-limits-${input.label}`, md, [], { nearLimits: rows });
  }

  /** Monthly: the security checklist, each item checked, not asked. */
  async function monthlySecurityChecklist(input: { label: string }): Promise<Report> {
    const t = now().getTime();
    const checks: Array<{ item: string; ok: boolean; detail: string }> = [];
    const token = cfg.receiver.token;
    checks.push({ item: 'Alert receiver requires a strong bearer token', ok: token !== undefined && token.length >= 32, detail: token ? `${token.length} characters` : 'receiver.token is not set (the sandbox generates one)' });
    checks.push({ item: 'Escalation notifications reach people (webhook)', ok: cfg.escalation.webhookUrl !== undefined, detail: cfg.escalation.webhookUrl ?? 'escalation.webhookUrl is not set: notifications go to the log only' });
    const admin = new URL(cfg.conductor.adminUrl);
    checks.push({ item: 'Conductor admin interface on loopback only', ok: ['127.0.0.1', 'localhost', '[::1]'].includes(admin.hostname), detail: cfg.conductor.adminUrl });
    const newest = async (dir: string, list: typeof listBackups | ((d: string) => ReturnType<typeof listManifested>)): Promise<number | undefined> => {
      const b = (await list(dir)).backups.find((x) => x.present && x.manifest.verified);
      return b ? (t - b.mtimeMs) / 3_600_000 : undefined;
    };
    const dbAge = await newest(cfg.backupDirectory, listBackups);
    checks.push({ item: 'A verified database backup from the last 26 hours', ok: dbAge !== undefined && dbAge < 26, detail: dbAge === undefined ? 'none' : `${dbAge.toFixed(1)} h old` });
    const drills = await listRuns(`RunbookName = "dr-drill" AND Outcome = "succeeded" AND StartTime > "${new Date(t - 31 * DAY).toISOString()}"`, 1);
    checks.push({ item: 'A passing DR drill in the last 31 days', ok: drills.length > 0, detail: drills[0] ? `${drills[0].workflowId} at ${drills[0].startTime.toISOString()}` : 'none' });
    const db = await deps.postgres.withClient(undefined, async (c) => ({
      blacklisted: Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM nodes WHERE reputation = 'blacklisted'`)).rows[0]!.n),
      restores: (await c.query<{ actor: string; node: string | null; at: Date }>(`SELECT actor, details->>'node' AS node, at FROM audit_trail WHERE action = 'reputation-restored' AND at > now() - interval '30 days' ORDER BY at`)).rows,
      threshold: (await c.query<{ value: number }>(`SELECT value FROM detection_settings WHERE key = 'pogq_threshold'`).catch(() => ({ rows: [] as Array<{ value: number }> }))).rows[0]?.value,
    }));
    checks.push({ item: 'Byzantine detection runs with the configured PoGQ threshold', ok: db.threshold === cfg.byzantine.pogqThreshold, detail: `application ${db.threshold ?? 'unknown'}, configured ${cfg.byzantine.pogqThreshold}` });
    // A restore the runbook made names the approver in its actor; one made any other way (by hand
    // in the database, another tool) is what this review exists to catch.
    const unapproved = db.restores.filter((r) => !/\(approved by [^)]+\)$/.test(r.actor));
    checks.push({
      item: 'Reputation restores of the month were approved',
      ok: unapproved.length === 0,
      detail: `${db.restores.length} restore(s) in the audit trail${unapproved.length ? `; without an approval: ${unapproved.slice(0, 5).map((r) => `${r.node ?? '?'} by ${r.actor} at ${r.at.toISOString()}`).join('; ')}${unapproved.length > 5 ? ` and ${unapproved.length - 5} more` : ''}` : ''}; ${db.blacklisted} blacklisted node(s)`,
    });
    checks.push(productionApprovalCheck(cfg));
    checks.push(runbookReviewCheck(cfg.reviews.runbookReviewedOn, t));
    const passed = checks.filter((c) => c.ok).length;
    const md = [
      `# Monthly security checklist, ${new Date(t).toISOString().slice(0, 10)}: ${passed} of ${checks.length} pass`,
      '',
      '| | item | detail |',
      '|---|---|---|',
      ...checks.map((c) => `| ${c.ok ? 'PASS' : 'FAIL'} | ${c.item} | ${c.detail} |`),
      '',
    ].join('\n');
    return write(`monthly-security-${input.label}`, md, [], { checks, passed });
  }

  return { weeklyHealthReview, weeklyPerformanceReview, weeklyCapacityReport, monthlyThresholdReview, monthlyRateLimitReview, monthlySecurityChecklist };
}

/** The checklist's approval item, from the configuration: on a production target every destructive
 * step waits for an approval (the runbooks do that unconditionally), but an approval proves
 * something only when the approvers are named and the approver's identity cannot be typed in (the
 * operating system's user, not RUNBOOK_IDENTITY). A target that is not production passes and says
 * that approvals are not asked there. */
/** The runbook's own review ("Last reviewed", "Next review" a month on): from reviews.runbookReviewedOn. */
export function runbookReviewCheck(reviewedOn: string | undefined, now: number): { item: string; ok: boolean; detail: string } {
  const item = 'The runbook was reviewed in the last 31 days';
  if (!reviewedOn) return { item, ok: false, detail: 'reviews.runbookReviewedOn is not set: when the runbook was last reviewed is not known' };
  const at = Date.parse(`${reviewedOn}T00:00:00Z`);
  if (Number.isNaN(at)) return { item, ok: false, detail: `reviews.runbookReviewedOn is not a date: ${reviewedOn}` };
  const days = Math.floor((now - at) / DAY);
  const next = new Date(at + 31 * DAY).toISOString().slice(0, 10);
  return { item, ok: days >= 0 && days <= 31, detail: days < 0 ? `${reviewedOn} is in the future` : `last reviewed ${reviewedOn} (${days} days ago); next review due ${next}` };
}

/** Pending updates as the configured command lists them (apt's simulation: its "Inst" lines;
 * another command: its non-empty lines); those naming a security source are listed by name. */
export async function securityUpdates(command: string[]): Promise<{ pending: number; security: string[]; error?: string }> {
  try {
    const r = await runCommand(command, { timeoutMs: 120_000 });
    return parseUpdateList(r.stdout);
  } catch (e) {
    return { pending: 0, security: [], error: (e as Error).message.split('\n')[0]!.slice(0, 300) };
  }
}

export function parseUpdateList(text: string): { pending: number; security: string[] } {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const apt = lines.some((l) => l.startsWith('Inst ') || /^\d+ upgraded, \d+ newly installed/.test(l));
  const items = apt ? lines.filter((l) => l.startsWith('Inst ')) : lines;
  return { pending: items.length, security: items.filter((l) => /security/i.test(l)).map((l) => (apt ? l.split(/\s+/)[1]! : l)) };
}

export function productionApprovalCheck(cfg: Pick<LoadedConfig, 'database' | 'approvals'>): { item: string; ok: boolean; detail: string } {
  const item = 'Destructive steps on production wait for an approval from a named approver';
  if (!cfg.database.production) return { item, ok: true, detail: 'not a production target (database.production is false): destructive steps run without an approval here' };
  const problems = [
    ...(cfg.approvals.approvers ? [] : ['approvals.approvers is not set: anyone who can reach Temporal can approve']),
    ...(cfg.approvals.identity === 'os-user' ? [] : ['approvals.identity is "environment": the approver\'s name is whatever RUNBOOK_IDENTITY says (set it to os-user)']),
  ];
  return {
    item,
    ok: problems.length === 0,
    detail: problems.length ? problems.join('; ') : `approvers ${cfg.approvals.approvers!.join(', ')}; ${cfg.approvals.required} approval(s) per step; identity from the OS user`,
  };
}
