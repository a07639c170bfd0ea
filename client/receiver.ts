// The Alertmanager webhook receiver: authenticates, validates, and starts the runbook an alert
// maps to, once per incident. The workflow id derives from the alert's fingerprint, so a repeated
// alert joins the running incident (a signal) instead of starting another; a resolved alert is
// delivered to it. Alerts without a route go to alert-notification (notify and escalate).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { alertRunId, routeAlert, type AlertCounters } from '../routing/alert-router';
import { alertSchema, type Alert } from '../common/alerts';
import { severities } from '../common/search-attributes';
import type { LoadedConfig } from '../config/load';
import { automationMetrics } from './automation-metrics';

export type ReceiverCounters = AlertCounters;

/** Thrown by parseWebhook for a payload that is not an Alertmanager version-4 webhook. */
export class InvalidPayload extends Error {
  override readonly name = 'InvalidPayload';
}


export function parseWebhook(body: unknown): Alert[] {
  const b = body as { version?: unknown; alerts?: unknown } | null;
  if (!b || typeof b !== 'object') throw new InvalidPayload('expected a JSON object');
  if (b.version !== '4') throw new InvalidPayload(`expected webhook version "4", found ${JSON.stringify(b.version)}`);
  if (!Array.isArray(b.alerts) || b.alerts.length === 0) throw new InvalidPayload('expected a non-empty "alerts" list');
  return b.alerts.map((raw: unknown, i: number) => {
    const a = raw as { status?: unknown; labels?: Record<string, unknown>; annotations?: Record<string, unknown>; fingerprint?: unknown; startsAt?: unknown };
    const where = `alerts[${i}]`;
    if (a?.status !== 'firing' && a?.status !== 'resolved') throw new InvalidPayload(`${where}.status: expected "firing" or "resolved", found ${JSON.stringify(a?.status)}`);
    if (typeof a.fingerprint !== 'string' || !/^[0-9a-zA-Z_-]{1,64}$/.test(a.fingerprint)) throw new InvalidPayload(`${where}.fingerprint: expected up to 64 letters and digits, found ${JSON.stringify(a.fingerprint)}`);
    const labels = a.labels ?? {};
    if (typeof labels.alertname !== 'string' || !labels.alertname) throw new InvalidPayload(`${where}.labels.alertname: expected a name, found ${JSON.stringify(labels.alertname)}`);
    const severity = severities.find((s) => s === labels.severity) ?? 'warning';
    // Free text is cut to its bound rather than refused (an alert must not be lost for a long
    // summary); what cannot be made valid is refused with the field named.
    const cut = (v: string, n: number): string => (v.length > n ? `${v.slice(0, n - 1)}…` : v);
    const stringLabels = Object.fromEntries(
      Object.entries(labels)
        .filter(([, v]) => typeof v === 'string')
        .slice(0, 64)
        .map(([k, v]) => [cut(k, 200), cut(v as string, 1000)]),
    ) as Record<string, string>;
    const startsAt = typeof a.startsAt === 'string' && !Number.isNaN(Date.parse(a.startsAt)) ? new Date(a.startsAt).toISOString() : new Date().toISOString();
    const alert = {
      fingerprint: a.fingerprint,
      name: cut(labels.alertname, 200),
      status: a.status,
      severity,
      category: typeof labels.category === 'string' && labels.category ? cut(labels.category, 100) : 'uncategorised',
      summary: cut(typeof a.annotations?.summary === 'string' ? a.annotations.summary : labels.alertname, 2000),
      labels: stringLabels,
      startsAt,
      source: 'alertmanager' as const,
    };
    const checked = alertSchema.safeParse(alert);
    if (!checked.success) throw new InvalidPayload(checked.error.issues.map((x) => `${where}.${x.path.join('.')}: ${x.message}`).join('; '));
    return checked.data;
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export function createReceiver(client: Client, config: LoadedConfig, token: string): { server: Server; counters: ReceiverCounters } {
  const counters: ReceiverCounters = { received: 0, started: 0, joined: 0, resolved: 0, rejected: 0 };
  // Deliveries to one run (one alert's, or one incident's: alerts of one cause and target share
  // it) are handled one after another, so a storm cannot race itself into a miscount of started
  // and joined runs.
  const chains = new Map<string, Promise<unknown>>();
  const serialised = <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const next = (chains.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = next.catch(() => undefined);
    chains.set(key, tail);
    void tail.then(() => {
      if (chains.get(key) === tail) chains.delete(key);
    });
    return next;
  };
  const automation = automationMetrics(client, config);
  const expected = Buffer.from(`Bearer ${token}`);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      const lines = Object.entries(counters).flatMap(([k, v]) => [`# TYPE runbook_receiver_alerts_${k}_total counter`, `runbook_receiver_alerts_${k}_total ${v}`]);
      // The automation's own figures (runs, incidents, schedules) from Temporal; the counters are
      // served even when Temporal does not answer.
      automation().then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`${lines.join('\n')}\n${text}`),
        (e: unknown) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`${lines.join('\n')}\n# automation figures not read: ${(e as Error).message.split('\n')[0]}\nzerotrustml_automation_read_errors 1\n`),
      );
      return;
    }
    if (req.method !== 'POST' || req.url !== '/alertmanager') return send(res, 404, { error: 'expected POST /alertmanager' });
    const auth = Buffer.from(req.headers.authorization ?? '');
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
      counters.rejected++;
      return send(res, 401, { error: 'expected Authorization: Bearer <receiver token>' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > config.receiver.maxBodyBytes) tooBig = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      if (tooBig) {
        counters.rejected++;
        return send(res, 413, { error: `expected at most ${config.receiver.maxBodyBytes} bytes, found ${size}` });
      }
      let alerts: Alert[];
      try {
        alerts = parseWebhook(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        counters.rejected++;
        return send(res, 400, { error: e instanceof SyntaxError ? `expected JSON: ${e.message}` : (e as Error).message });
      }
      counters.received += alerts.length;
      void Promise.all(alerts.map((a) => Promise.resolve().then(() => serialised(alertRunId(config, a), () => routeAlert(client, config, a, counters)))))
        .then((outcomes) => send(res, 200, { outcomes }))
        // Alertmanager retries on 5xx: nothing is lost when Temporal is briefly unreachable.
        .catch((e: unknown) => send(res, 503, { error: (e as Error).message }));
    });
  });
  return { server, counters };
}
