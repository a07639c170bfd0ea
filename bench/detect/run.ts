// bench/detect: from fault injection to the runbook started, through the built-in health check
// (1 s interval) and through Prometheus + Alertmanager (1 s scrape and evaluation, 1 s group wait,
// the rules' hold times set to 0 s so the pipeline itself is measured); and the receiver under a
// storm of 1,000 repeats of one alert (one run, no errors). The runbook's detection-latency
// target is under 5 s.
//
// Usage: npm run bench:detect [-- --reps 5]
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { healthFingerprint } from '../../activities/health-check';
import { createReceiver } from '../../client/receiver';
import { applySchedules } from '../../client/schedules';
import { alertWorkflowId } from '../../common/alerts';
import { CreditsService } from '../../sandbox/credits-service/service';
import { startMonitoring } from '../../sandbox/monitoring';
import { conductorClient } from '../../adapters/conductor';
import { benchRoot, median, prepareSandboxData, sleep, startBenchStack, until } from '../support';

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1] ?? 5) || 5;
const ports = { service: 38000, prometheus: 39090, alertmanager: 39095 };
const token = 'bench-detect-token-0123456789';
async function main(): Promise<void> {
  const stack = await startBenchStack({
    extraYaml: ['application:', `  statusUrl: http://127.0.0.1:${ports.service}/status`, '  managed: false', 'healthCheck:', '  intervalSeconds: 1', '  timeoutSeconds: 2'],
  });
  const { client, config } = stack;
  await prepareSandboxData(config);

  const serviceDir = path.join(benchRoot, 'credits-service');
  let service: CreditsService | undefined;
  const startService = async (): Promise<void> => {
    service = new CreditsService({ dataDir: serviceDir, port: ports.service, pgUrl: config.database.url, conductor: conductorClient(config), eventsPerSecond: 20, log: () => undefined });
    await service.start();
  };
  const crash = async (): Promise<number> => {
    const t0 = Date.now();
    await service!.stop();
    service = undefined;
    return t0;
  };

  const results: Record<string, unknown> = { reps };
  try {
    await startService();
    await applySchedules(client, config);
    const schedule = client.schedule.getHandle('runbook-health-check');
    if ((await schedule.describe()).state.paused) await schedule.unpause('bench:detect measures the health check');

    // Built-in: the health check's next run finds the status report unreachable.
    const incident = client.workflow.getHandle(alertWorkflowId(healthFingerprint('statusReport')));
    const builtIn: number[] = [];
    await sleep(3000);
    for (let i = 0; i < reps; i++) {
      const before = await incident.describe().then((d) => d.runId, () => undefined);
      const t0 = await crash();
      const started = await until('the health check to start the incident', async () => {
        const d = await incident.describe();
        return d.runId !== before && d.status.name === 'RUNNING' ? d.startTime.getTime() : undefined;
      });
      builtIn.push(started - t0);
      console.log(`built-in health check: fault -> run started ${(started - t0) / 1000} s`);
      await startService();
      await until('the recovery to resolve it', async () => ((await incident.describe()).status.name === 'COMPLETED' ? true : undefined), 30_000, 100);
      await sleep(1000 + Math.random() * 1000); // a random phase against the 1 s interval
    }
    await schedule.pause('bench: measuring the Prometheus path alone');

    // Prometheus + Alertmanager.
    const { server, counters } = createReceiver(client, config, token);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alertmanager`;
    const { prometheusUrl } = await startMonitoring({
      dataDir: benchRoot,
      prometheusPort: ports.prometheus,
      alertmanagerPort: ports.alertmanager,
      scrapeTarget: `127.0.0.1:${ports.service}`,
      receiverUrl,
      token,
      scrapeIntervalSeconds: 1,
      evaluationIntervalSeconds: 1,
      groupWaitSeconds: 1,
      repeatIntervalSeconds: 3600,
      ruleFor: '0s',
    });
    await until('the first scrape', async () => {
      const r = (await (await fetch(`${prometheusUrl}/api/v1/query?query=up`)).json()) as { data: { result: Array<{ value: [number, string] }> } };
      return r.data.result[0]?.value[1] === '1' ? true : undefined;
    });
    const viaPrometheus: number[] = [];
    for (let i = 0; i < reps; i++) {
      const startedBefore = counters.started;
      const resolvedBefore = counters.resolved;
      const t0 = await crash();
      const t1 = await until('the receiver to start the run', async () => (counters.started > startedBefore ? Date.now() : undefined));
      viaPrometheus.push(t1 - t0);
      console.log(`prometheus + alertmanager: fault -> run started ${(t1 - t0) / 1000} s`);
      await startService();
      await until('the resolved notification', async () => (counters.resolved > resolvedBefore ? true : undefined), 60_000, 100);
      await sleep(1000 + Math.random() * 1000);
    }

    // A storm: 1,000 deliveries of one firing alert, 50 at a time.
    const fingerprint = `storm${Date.now().toString(16)}`;
    const body = JSON.stringify({
      version: '4',
      status: 'firing',
      receiver: 'runbooks',
      alerts: [{ status: 'firing', fingerprint, startsAt: new Date().toISOString(), labels: { alertname: 'HighErrorRate', severity: 'critical', category: 'availability' }, annotations: { summary: 'storm' } }],
    });
    const before = { ...counters };
    const statuses = new Map<number, number>();
    let next = 0;
    const stormStart = Date.now();
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < 1000) {
          next++;
          const r = await fetch(receiverUrl, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
          await r.arrayBuffer();
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
      }),
    );
    const stormMs = Date.now() - stormStart;
    let runs = 0;
    for await (const w of client.workflow.list({ query: `WorkflowId = "${alertWorkflowId(fingerprint)}"` })) if (w) runs++;
    const storm = {
      deliveries: 1000,
      seconds: stormMs / 1000,
      perSecond: Math.round(1000 / (stormMs / 1000)),
      statuses: Object.fromEntries(statuses),
      started: counters.started - before.started,
      joined: counters.joined - before.joined,
      runs,
    };
    console.log(`storm: 1000 deliveries in ${storm.seconds} s (${storm.perSecond}/s), statuses ${JSON.stringify(storm.statuses)}, started ${storm.started}, joined ${storm.joined}, runs ${runs}`);
    await client.workflow.getHandle(alertWorkflowId(fingerprint)).signal('resolved', { fingerprint });
    server.close();

    results.builtInSeconds = { samples: builtIn.map((m) => m / 1000), median: median(builtIn) / 1000, max: Math.max(...builtIn) / 1000 };
    results.prometheusSeconds = { samples: viaPrometheus.map((m) => m / 1000), median: median(viaPrometheus) / 1000, max: Math.max(...viaPrometheus) / 1000 };
    results.storm = storm;
    const target = 5;
    console.log(`\nbuilt-in path:   median ${median(builtIn) / 1000} s, worst ${Math.max(...builtIn) / 1000} s: ${(Math.max(...builtIn) / 1000 / target).toFixed(2)}x the 5 s target (goal < 1) ${Math.max(...builtIn) < target * 1000 ? 'MET' : 'NOT MET'}`);
    console.log(`Prometheus path: median ${median(viaPrometheus) / 1000} s, worst ${Math.max(...viaPrometheus) / 1000} s: ${(Math.max(...viaPrometheus) / 1000 / target).toFixed(2)}x the 5 s target (rules' hold times not included)`);
    console.log(`storm:           ${storm.runs} run, ${storm.statuses[200] ?? 0}/1000 answered 200 ${storm.runs === 1 && storm.statuses[200] === 1000 ? 'MET' : 'NOT MET'}`);
    writeFileSync(path.join(__dirname, '..', 'results', 'detect.json'), JSON.stringify({ at: new Date().toISOString(), ...results }, null, 2) + '\n');
  } finally {
    await service?.stop();
    await stack.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
