// The rest of deploy/: the Alertmanager and Prometheus configurations pass their own tools'
// checks, the sandbox's generated ones too, the Grafana dashboard is what the KPI tables generate
// (thresholds in sync) and covers all four tables, and the systemd units name real entry points.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { defaultKpiRules } from '../../common/kpi';
import { dashboardFile, kpiDashboard, kpiQueries } from '../../deploy/grafana/dashboard';
import { writeMonitoringConfig } from '../../sandbox/monitoring';
import { projectRoot, testRoot } from '../support/env';

const deploy = path.join(projectRoot, 'deploy');
const run = (cmd: string, ...args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('amtool and promtool accept the production configurations', () => {
  expect(run('amtool', 'check-config', path.join(deploy, 'alertmanager', 'alertmanager.yml'))).toMatch(/SUCCESS/);
  expect(run('promtool', 'check', 'config', path.join(deploy, 'prometheus', 'prometheus.yml'))).toMatch(/SUCCESS: 24 rules found/);
});

test("the sandbox's generated configurations pass the same checks, with the rules' hold times replaced", () => {
  const dataDir = path.join(testRoot, 'monitoring-config');
  rmSync(dataDir, { recursive: true, force: true });
  const files = writeMonitoringConfig({
    dataDir,
    prometheusPort: 1,
    alertmanagerPort: 2,
    scrapeTarget: '127.0.0.1:3',
    receiverUrl: 'http://127.0.0.1:4/alertmanager',
    token: 'sixteen-characters-token',
    scrapeIntervalSeconds: 1,
    evaluationIntervalSeconds: 1,
    groupWaitSeconds: 1,
    repeatIntervalSeconds: 2,
    ruleFor: '0s',
  });
  expect(run('amtool', 'check-config', files.alertmanager)).toMatch(/SUCCESS/);
  expect(run('promtool', 'check', 'config', files.prometheus)).toMatch(/SUCCESS: 24 rules found/);
  const rules = readFileSync(files.rules, 'utf8');
  expect(rules.match(/for: 0s/g)).toHaveLength(24);
  expect(readFileSync(files.alertmanager, 'utf8')).toMatch(/credentials: sixteen-characters-token/);
});

test('the Grafana dashboard is generated from the KPI tables and covers each KPI with its thresholds', () => {
  const committed = JSON.parse(readFileSync(dashboardFile, 'utf8')) as { panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }>; fieldConfig?: { defaults: { thresholds: { steps: Array<{ value: number | null }> } } } }> };
  expect(committed).toEqual(JSON.parse(JSON.stringify(kpiDashboard())));
  expect(committed.panels.filter((p) => p.type === 'row').map((p) => p.title)).toEqual(['Throughput KPIs', 'Security KPIs', 'Availability KPIs', 'Capacity KPIs', 'Automation and backups']);
  for (const rule of defaultKpiRules) {
    const panel = committed.panels.find((p) => p.title === rule.label);
    expect(panel?.targets?.[0]?.expr).toBe(kpiQueries[rule.name].expr);
    const values = panel!.fieldConfig!.defaults.thresholds.steps.map((s) => s.value);
    expect(values).toEqual(expect.arrayContaining([rule.warning, rule.critical]));
  }
});

test('the systemd units start entry points that exist', () => {
  const units = readdirSync(path.join(deploy, 'systemd')).filter((f) => f.endsWith('.service'));
  expect(units.sort()).toEqual(['zerotrustml-runbooks-receiver.service', 'zerotrustml-runbooks-worker.service', 'zerotrustml-runbooks-worker@.service', 'zerotrustml-temporal-cluster.service']);
  for (const unit of units) {
    const text = readFileSync(path.join(deploy, 'systemd', unit), 'utf8');
    // The build's file (a production install runs the build: no tsx there), from a source that exists.
    const entry = /ExecStart=\/usr\/bin\/node \/opt\/zerotrustml-runbooks\/dist\/(\S+)\.js\s/.exec(text)?.[1];
    expect({ unit, exists: entry !== undefined && existsSync(path.join(projectRoot, `${entry}.ts`)) }).toEqual({ unit, exists: true });
  }
});
