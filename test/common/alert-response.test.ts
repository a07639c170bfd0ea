// The decisions of the alert response runbooks, on evidence shaped by hand: which stage a latency
// points to, which kind of error, spam or growth, a window or a leak; and KPIs over an interval
// from two metric readings, including a restart between them.
import { contactsFor } from '../../activities/notify';
import { errorCause, intervalFigures, intervalLevels, latencyCause, memoryCause, parseMetrics, rateLimitCause, type LatencyEvidence } from '../../common/alert-response';

const exposition = (o: { count: number; sum: number; buckets: Record<string, number>; errors?: Record<string, number>; violations?: number; active?: number; healthy?: number; memory?: number }): string =>
  [
    '# HELP zerotrustml_response_time_seconds Response time',
    '# TYPE zerotrustml_response_time_seconds histogram',
    ...Object.entries(o.buckets).map(([le, n]) => `zerotrustml_response_time_seconds_bucket{le="${le}"} ${n}`),
    `zerotrustml_response_time_seconds_sum ${o.sum}`,
    `zerotrustml_response_time_seconds_count ${o.count}`,
    ...Object.entries(o.errors ?? {}).map(([k, n]) => `zerotrustml_errors_total{kind="${k}"} ${n}`),
    `zerotrustml_rate_limit_violations_total ${o.violations ?? 0}`,
    `zerotrustml_active_nodes ${o.active ?? 10}`,
    `zerotrustml_healthy_nodes ${o.healthy ?? 10}`,
    `zerotrustml_memory_usage_bytes ${o.memory ?? 1e8}`,
    'zerotrustml_weird_metric{a="}"} NaN',
  ].join('\n');

describe('KPIs over an interval', () => {
  test('average, p99 by bucket, error rate over both stages, violations per hour, node share, memory', () => {
    const a = parseMetrics(exposition({ count: 100, sum: 5, buckets: { '0.05': 100, '5': 100, '+Inf': 100 }, errors: { application: 2 }, violations: 10 }), 0);
    const b = parseMetrics(exposition({ count: 110, sum: 45, buckets: { '0.05': 100, '5': 110, '+Inf': 110 }, errors: { application: 7, database: 3 }, violations: 12, active: 8, healthy: 6, memory: 5e9 }), 10_000);
    const f = intervalFigures(a, b);
    if ('error' in f) throw new Error(f.error);
    expect(f.events).toBe(18);
    expect(f.figures).toEqual({ avgResponseMs: 4000, p99ResponseMs: 5000, errorRate: 8 / 18, rateLimitViolationsPerHour: 720, healthyNodeRatio: 0.75, memoryBytes: 5e9 });
    expect(intervalLevels(f, ['avgResponseMs', 'errorRate', 'healthyNodeRatio']).map((l) => l.level)).toEqual(['warning', 'critical', 'critical']);
  });

  test('a restart between the readings (a counter went back) is said, not measured as negative', () => {
    const a = parseMetrics(exposition({ count: 100, sum: 5, buckets: { '+Inf': 100 } }), 0);
    const b = parseMetrics(exposition({ count: 3, sum: 0.1, buckets: { '+Inf': 3 } }), 5000);
    expect(intervalFigures(a, b)).toEqual({ error: expect.stringContaining('restarted') });
  });

  test('no event in the interval: latency and errors are not measured (unknown), not "ok"', () => {
    const a = parseMetrics(exposition({ count: 5, sum: 1, buckets: { '+Inf': 5 } }), 0);
    const f = intervalFigures(a, { ...a, at: 3000 });
    if ('error' in f) throw new Error(f.error);
    expect(intervalLevels(f, ['avgResponseMs', 'errorRate']).map((l) => l.level)).toEqual(['unknown', 'unknown']);
  });
});

describe('latency: the slowest stage', () => {
  const base: LatencyEvidence = {
    recent: { events: 3, seconds: 12, avgMs: 4100, p99Ms: 5000 },
    conductor: { alive: true, roundTripMs: 3 },
    database: { probeMs: 2, slowStatements: [], lockWaits: [] },
    loadPerCpu: 0.3,
    recentChanges: [],
  };
  test.each([
    ['application', base],
    ['conductor', { ...base, conductor: { alive: true, roundTripMs: 2500 } }],
    ['conductor', { ...base, conductor: { alive: false, error: 'ECONNREFUSED' } }],
    ['database-locks', { ...base, database: { probeMs: 2, slowStatements: [], lockWaits: [{ pid: 7, seconds: 30, state: 'active', query: 'INSERT', blockedBy: [42] }] } }],
    ['database-slow', { ...base, database: { probeMs: 2, slowStatements: [{ pid: 8, seconds: 40, state: 'active', query: 'SELECT * FROM credits' }], lockWaits: [] } }],
    ['load', { ...base, loadPerCpu: 3.5 }],
    ['recovered', { ...base, recent: { events: 50, seconds: 5, avgMs: 20, p99Ms: 50 } }],
    ['application', { ...base, recent: { events: 0 } }],
    // Too few events to measure: the status report decides (a quiet system is not restarted).
    ['recovered', { ...base, recent: { events: 1, seconds: 15 }, status: { avgMs: 40, p99Ms: 200 } }],
    ['application', { ...base, recent: { events: 1, seconds: 15 }, status: { avgMs: 900, p99Ms: 6000 } }],
    ['application', { ...base, recent: { events: 40, seconds: 5, avgMs: 300, p99Ms: 10_000 } }],
  ] as const)('%s', (cause, e) => {
    expect(latencyCause(e as LatencyEvidence, { avgMs: 3000, p99Ms: 5000 }).cause).toBe(cause);
  });
  test('the lock holders are named', () => {
    const e = { ...base, database: { probeMs: 2, slowStatements: [], lockWaits: [{ pid: 7, seconds: 30, state: 'active', query: 'INSERT', blockedBy: [42, 43] }] } };
    expect(latencyCause(e, { avgMs: 3000, p99Ms: 5000 }).explain).toContain('42, 43');
  });
});

describe('errors: the stage that fails', () => {
  const pool = { byState: { active: 2, idle: 3 }, total: 5, max: 100, waiting: 0 };
  const errors = [
    { kind: 'application', count: 40, last: 't', sample: 'internal error' },
    { kind: 'database', count: 2, last: 't', sample: 'connection reset' },
  ];
  test('the most frequent kind wins; a dead conductor or database, or a full pool, comes first', () => {
    expect(errorCause({ errors, linesRead: 100, pool, conductor: { alive: true } }).cause).toBe('application');
    expect(errorCause({ errors: [{ ...errors[1]!, count: 50 }, errors[0]!], linesRead: 100, pool, conductor: { alive: true } }).cause).toBe('database');
    expect(errorCause({ errors, linesRead: 100, pool, conductor: { alive: false, error: 'x' } }).cause).toBe('conductor');
    expect(errorCause({ errors, linesRead: 100, pool: { ...pool, total: 95 }, conductor: { alive: true } }).cause).toBe('pool-exhausted');
    expect(errorCause({ errors, linesRead: 100, pool: { ...pool, error: 'ECONNREFUSED' }, conductor: { alive: true } }).cause).toBe('database');
    expect(errorCause({ errors: [], linesRead: 100, pool, conductor: { alive: true } }).cause).toBe('none');
  });
  test('what fails now decides over the log, which still holds the errors of a fault that is over', () => {
    const oldConductorErrors = [{ kind: 'conductor', count: 240, last: 't', sample: 'conductor call timed out' }, ...errors];
    expect(errorCause({ errors: oldConductorErrors, linesRead: 1000, pool, conductor: { alive: true }, now: { seconds: 3, byKind: { application: 30 } } })).toMatchObject({ cause: 'application', explain: expect.stringContaining('30 of 30 errors in the last 3 s are in the application stage, e.g. "internal error"') });
    expect(errorCause({ errors: oldConductorErrors, linesRead: 1000, pool, conductor: { alive: true }, now: { seconds: 3, byKind: {} } }).cause).toBe('none');
  });
});

describe('rate limits: spam or growth', () => {
  const limits = { quality_gradient: { limit: 10_000, per: 'hour' } };
  test('two nodes making nearly all violations among forty active ones is spam, and they are the offenders', () => {
    const violations = [
      { node: 'node-0011', byType: { quality_gradient: 400 } },
      { node: 'node-0021', byType: { quality_gradient: 380 } },
      { node: 'node-0005', byType: { quality_gradient: 3 } },
    ];
    const r = rateLimitCause({ limits, violations, perMinute: [], activeNodes: 40, banned: [] });
    expect(r).toMatchObject({ cause: 'spam', offenders: ['node-0011', 'node-0021'], types: ['quality_gradient'] });
    // Four spammers of about the same weight: all four, though three already make 80%.
    const four = ['0001', '0011', '0021', '0031'].map((n, i) => ({ node: `node-${n}`, byType: { quality_gradient: 300 - i * 20 } }));
    expect(rateLimitCause({ limits, violations: [...four, { node: 'node-0002', byType: { quality_gradient: 1 } }], perMinute: [], activeNodes: 40, banned: [] }).offenders).toEqual(['node-0001', 'node-0011', 'node-0021', 'node-0031']);
  });
  test('violations spread evenly over most nodes is growth, with nobody to ban', () => {
    const violations = Array.from({ length: 30 }, (_, i) => ({ node: `node-${i}`, byType: { quality_gradient: 5 } }));
    expect(rateLimitCause({ limits, violations, perMinute: [], activeNodes: 40, banned: [] })).toMatchObject({ cause: 'growth', offenders: [] });
  });
  test('no violation: nothing', () => {
    expect(rateLimitCause({ limits, violations: [], perMinute: [], activeNodes: 40, banned: [] }).cause).toBe('none');
  });
});

describe('memory: the window or a leak', () => {
  const GB = 1024 ** 3;
  test('over the threshold with a large window: the window; with a small one: a leak; under it: nothing', () => {
    expect(memoryCause({ samples: [5 * GB], window: { minutes: 60, entries: 50_000 }, processes: [] }, 4 * GB).cause).toBe('metrics-window');
    expect(memoryCause({ samples: [5 * GB], window: { minutes: 30, entries: 2_000 }, processes: [] }, 4 * GB).cause).toBe('leak');
    expect(memoryCause({ samples: [5 * GB], processes: [] }, 4 * GB).cause).toBe('leak');
    expect(memoryCause({ samples: [3 * GB], window: { minutes: 60, entries: 50_000 }, processes: [] }, 4 * GB).cause).toBe('none');
    expect(memoryCause({ samples: [], processes: [] }, 4 * GB).cause).toBe('none');
  });
});

describe('paging by role', () => {
  const e = {
    levels: ['on-call engineer', 'senior engineer', 'system architect'],
    roles: { production: { primary: 'prod-primary', backup: 'prod-backup' }, security: { primary: 'sec-primary' }, database: { primary: 'dba-primary', backup: 'dba-backup' } },
    categories: { security: 'security', database: 'database' },
  };
  test('level 1 pages the category role primary, a re-page its backup too; higher levels follow the path and keep the role informed', () => {
    expect(contactsFor(e, 1, 'availability')).toEqual({ role: 'production', contacts: ['prod-primary'] });
    expect(contactsFor(e, 1, 'availability', true)).toEqual({ role: 'production', contacts: ['prod-primary', 'prod-backup'] });
    expect(contactsFor(e, 1, 'database', true)).toEqual({ role: 'database', contacts: ['dba-primary', 'dba-backup'] });
    expect(contactsFor(e, 1, 'security', true)).toEqual({ role: 'security', contacts: ['sec-primary'] }); // no backup in the rotation
    expect(contactsFor(e, 2, 'security')).toEqual({ role: 'security', contacts: ['senior engineer', 'sec-primary'] });
    expect(contactsFor(e, 3, 'capacity')).toEqual({ role: 'production', contacts: ['system architect'] });
    expect(contactsFor(e, 1, 'constructor')).toEqual({ role: 'production', contacts: ['prod-primary'] }); // not an inherited key
  });
});
