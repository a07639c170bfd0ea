// Prometheus and Alertmanager for the sandbox, tests and benchmarks: the Debian packages' binaries,
// on loopback ports of their own, with configuration generated from deploy/'s rules and pointing
// at the simulator (scrape) and the receiver (webhook, bearer token). Nothing here runs as a
// system service; the pid files under <dataDir>/run let `stack down` stop them.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { readPid, startBackground, stopManaged } from './processes';
import { projectRoot } from '../config/project';

export const deployRules = path.join(projectRoot, 'deploy', 'prometheus', 'alerts.yml');

export interface MonitoringOptions {
  dataDir: string;
  prometheusPort: number;
  alertmanagerPort: number;
  /** host:port of the credits service's /metrics. */
  scrapeTarget: string;
  /** More scrape jobs: the receiver (the automation's figures), the worker (the SDK's metrics),
   * the worker's physical tier figures. */
  jobs?: Array<{ job: string; target: string }>;
  /** The receiver's webhook URL and its bearer token. */
  receiverUrl: string;
  token: string;
  scrapeIntervalSeconds: number;
  evaluationIntervalSeconds: number;
  groupWaitSeconds: number;
  repeatIntervalSeconds: number;
  /** Replaces every rule's `for` (tests and benchmarks measure the pipeline, not the hold time). */
  ruleFor?: string;
  /** Replaces the expression of the named alerts: a test lowers a threshold this machine cannot
   * reach (HighMemoryUsage's 4 GiB) to measure the pipeline from that rule on. */
  ruleExpr?: Record<string, string>;
  log?: (l: string) => void;
}

export interface MonitoringBinaries {
  prometheus?: string;
  alertmanager?: string;
}

function which(names: string[]): string | undefined {
  for (const n of names) {
    for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
      const p = path.join(dir, n);
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

/** The binaries, when installed (Debian names the Alertmanager binary prometheus-alertmanager). */
export function findMonitoring(): MonitoringBinaries {
  return { prometheus: which(['prometheus']), alertmanager: which(['prometheus-alertmanager', 'alertmanager']) };
}

export function monitoringDir(dataDir: string): string {
  return path.join(dataDir, 'monitoring');
}

/** Writes prometheus.yml, the rules and alertmanager.yml; returns their paths. */
export function writeMonitoringConfig(o: MonitoringOptions): { prometheus: string; rules: string; alertmanager: string } {
  const dir = monitoringDir(o.dataDir);
  mkdirSync(dir, { recursive: true });
  const rules = YAML.parse(readFileSync(deployRules, 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; expr?: string; for?: string }> }> };
  if (o.ruleFor !== undefined) for (const g of rules.groups) for (const r of g.rules) r.for = o.ruleFor;
  for (const [alert, expr] of Object.entries(o.ruleExpr ?? {})) {
    const found = rules.groups.flatMap((g) => g.rules).filter((r) => r.alert === alert);
    if (!found.length) throw new Error(`ruleExpr: no alert named ${alert} in ${deployRules}`);
    for (const r of found) r.expr = expr;
  }
  const files = { prometheus: path.join(dir, 'prometheus.yml'), rules: path.join(dir, 'alerts.yml'), alertmanager: path.join(dir, 'alertmanager.yml') };
  writeFileSync(files.rules, YAML.stringify(rules));
  writeFileSync(
    files.prometheus,
    YAML.stringify({
      global: { scrape_interval: `${o.scrapeIntervalSeconds}s`, evaluation_interval: `${o.evaluationIntervalSeconds}s`, scrape_timeout: `${Math.max(1, Math.min(o.scrapeIntervalSeconds, 10))}s` },
      rule_files: [files.rules],
      alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${o.alertmanagerPort}`] }] }] },
      scrape_configs: [
        { job_name: 'zerotrustml-credits', static_configs: [{ targets: [o.scrapeTarget] }] },
        ...(o.jobs ?? []).map((j) => ({ job_name: j.job, static_configs: [{ targets: [j.target] }] })),
      ],
    }),
  );
  writeFileSync(
    files.alertmanager,
    YAML.stringify({
      route: {
        receiver: 'runbooks',
        group_by: ['alertname'],
        group_wait: `${o.groupWaitSeconds}s`,
        group_interval: `${Math.max(1, o.groupWaitSeconds)}s`,
        repeat_interval: `${o.repeatIntervalSeconds}s`,
      },
      receivers: [
        {
          name: 'runbooks',
          webhook_configs: [{ url: o.receiverUrl, send_resolved: true, max_alerts: 0, http_config: { authorization: { type: 'Bearer', credentials: o.token } } }],
        },
      ],
    }),
  );
  return files;
}

async function waitReady(url: string, name: string, log: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} did not become ready at ${url} within ${timeoutMs / 1000} s (log: ${log})`);
}

/** Starts (or reuses) both; throws when a binary is missing, saying which package provides it. */
export async function startMonitoring(o: MonitoringOptions): Promise<{ prometheusUrl: string; alertmanagerUrl: string }> {
  const bins = findMonitoring();
  if (!bins.prometheus) throw new Error('prometheus: expected the binary on PATH (Debian package "prometheus"), found none');
  if (!bins.alertmanager) throw new Error('alertmanager: expected prometheus-alertmanager on PATH (Debian package "prometheus-alertmanager"), found none');
  const files = writeMonitoringConfig(o);
  // A configuration Alertmanager would refuse fails here with its own message, not as a dead process.
  const amtool = which(['amtool']);
  if (amtool) execFileSync(amtool, ['check-config', files.alertmanager], { stdio: 'pipe' });
  const dir = monitoringDir(o.dataDir);
  const prometheusUrl = `http://127.0.0.1:${o.prometheusPort}`;
  const alertmanagerUrl = `http://127.0.0.1:${o.alertmanagerPort}`;
  if (readPid(o.dataDir, 'alertmanager') === undefined) {
    const p = startBackground(o.dataDir, 'alertmanager', [
      bins.alertmanager,
      `--config.file=${files.alertmanager}`,
      `--storage.path=${path.join(dir, 'alertmanager-data')}`,
      `--web.listen-address=127.0.0.1:${o.alertmanagerPort}`,
      '--cluster.listen-address=',
    ]);
    await waitReady(`${alertmanagerUrl}/-/ready`, 'Alertmanager', p.logFile);
  }
  if (readPid(o.dataDir, 'prometheus') === undefined) {
    const p = startBackground(o.dataDir, 'prometheus', [
      bins.prometheus,
      `--config.file=${files.prometheus}`,
      `--storage.tsdb.path=${path.join(dir, 'prometheus-data')}`,
      `--web.listen-address=127.0.0.1:${o.prometheusPort}`,
      '--storage.tsdb.retention.time=2d',
    ]);
    await waitReady(`${prometheusUrl}/-/ready`, 'Prometheus', p.logFile);
  }
  return { prometheusUrl, alertmanagerUrl };
}

export async function stopMonitoring(dataDir: string): Promise<string[]> {
  const stopped: string[] = [];
  for (const name of ['prometheus', 'alertmanager']) if (await stopManaged(dataDir, name, { signal: 'SIGTERM', graceMs: 10_000 })) stopped.push(name);
  return stopped;
}
