// The Prometheus alert rules in deploy/: valid for promtool, and their unit tests (each alert
// fires past its threshold and not at it) pass. Every alert of the runbook's alerting section is
// there.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../support/env';

const dir = path.join(projectRoot, 'deploy', 'prometheus');
const promtool = (...args: string[]): string => execFileSync('promtool', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('promtool accepts the rules', () => {
  expect(promtool('check', 'rules', 'alerts.yml')).toMatch(/SUCCESS: 24 rules found/);
});

test("promtool's rule unit tests pass", () => {
  expect(promtool('test', 'rules', 'alerts.test.yml')).toMatch(/SUCCESS/);
});

test("every alert of the runbook's four categories has a rule with its severity", () => {
  const doc = parse(readFileSync(path.join(dir, 'alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; labels: { severity: string; category: string } }> }> };
  const rules = Object.fromEntries(doc.groups.flatMap((g) => g.rules).map((r) => [r.alert, `${r.labels.category}/${r.labels.severity}`]));
  expect(rules).toMatchObject({
    HighAverageResponseTime: 'performance/warning',
    VeryHighP99ResponseTime: 'performance/critical',
    LowDetectionRate: 'security/warning',
    HighDetectionActivity: 'security/info',
    HighErrorRate: 'availability/critical',
    LowHealthyNodePercentage: 'availability/critical',
    HighRateLimitViolations: 'capacity/warning',
    HighMemoryUsage: 'capacity/warning',
  });
});
