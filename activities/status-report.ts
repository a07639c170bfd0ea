// Reading the application's status report (and its memory gauge), shared by the health check, the
// incident and troubleshooting runbooks, recovery, scaling, reviews and `runbook status`: one
// timeout rule and one way of saying why it did not answer.
import type { StatusReport } from '../common/kpi';
import type { LoadedConfig } from '../config/load';

export interface StatusRead {
  report?: StatusReport;
  /** How long the answer (or the failure) took. */
  ms: number;
  /** Why there is no report: "no answer within 2 s" (a hung application), ECONNREFUSED, HTTP 500. */
  error?: string;
}

export function metricsUrl(config: LoadedConfig): string {
  return config.application.metricsUrl ?? new URL('/metrics', config.application.statusUrl).toString();
}

/** One gauge's value from a Prometheus text exposition, or undefined. */
export function gaugeValue(exposition: string, name: string): number | undefined {
  for (const line of exposition.split('\n')) {
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) {
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(v)) return v;
    }
  }
  return undefined;
}

/** The status report, or why not; the timeout defaults to healthCheck.timeoutSeconds. */
export async function readStatusReport(config: LoadedConfig, timeoutMs = config.healthCheck.timeoutSeconds * 1000): Promise<StatusRead> {
  const t = Date.now();
  try {
    const res = await fetch(config.application.statusUrl, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`answered HTTP ${res.status}`);
    return { report: (await res.json()) as StatusReport, ms: Date.now() - t };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    return { ms: Date.now() - t, error: err.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (err.cause?.code ?? err.message) };
  }
}

/** The application's zerotrustml_memory_usage_bytes, or why not. */
export async function readMemoryGauge(config: LoadedConfig, timeoutMs = config.healthCheck.timeoutSeconds * 1000): Promise<{ bytes?: number; error?: string }> {
  try {
    const bytes = gaugeValue(await (await fetch(metricsUrl(config), { signal: AbortSignal.timeout(timeoutMs) })).text(), 'zerotrustml_memory_usage_bytes');
    return bytes === undefined ? { error: `${metricsUrl(config)} has no zerotrustml_memory_usage_bytes` } : { bytes };
  } catch (e) {
    return { error: `${metricsUrl(config)} unreachable: ${(e as Error).message}` };
  }
}

/** The memory gauge sampled `samples` times `intervalSeconds` apart (a missed sample is skipped),
 * and its growth per minute from the first to the last sample. */
export async function sampleMemory(config: LoadedConfig, samples: number, intervalSeconds: number): Promise<{ samples: Array<{ at: number; bytes: number }>; perMinute?: number }> {
  const out: Array<{ at: number; bytes: number }> = [];
  for (let i = 0; i < samples; i++) {
    if (i) await new Promise((r) => setTimeout(r, intervalSeconds * 1000));
    const { bytes } = await readMemoryGauge(config, 5000);
    if (bytes !== undefined) out.push({ at: Date.now(), bytes });
  }
  const first = out[0];
  const last = out[out.length - 1];
  return { samples: out, perMinute: first && last && last.at > first.at ? ((last.bytes - first.bytes) / (last.at - first.at)) * 60_000 : undefined };
}
