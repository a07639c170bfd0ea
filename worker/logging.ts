// The worker's log: one JSON object per line on stdout (journald, a log shipper or `jq` read it),
// from the SDK's runtime logger, so workflow and activity log lines carry what identifies them
// (workflowId, runId, workflowType or activityType, taskQueue) and the runbooks add theirs
// (runbook, step, outcome). Core (Rust) warnings are forwarded into the same stream.
import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogEntry } from '@temporalio/worker';
import type { LoadedConfig } from '../config/load';

/** One log entry as a JSON line: time (ISO), level, message, then the entry's attributes. */
export function jsonLine(entry: LogEntry): string {
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry.meta ?? {})) {
    // An Error's own fields do not survive JSON.stringify: its message and stack are kept.
    meta[k] = v instanceof Error ? { message: v.message, stack: v.stack } : typeof v === 'bigint' ? v.toString() : v;
  }
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  try {
    return JSON.stringify({ time, level: entry.level, message: entry.message, ...meta });
  } catch {
    // A circular attribute: the line is still written, without the attributes.
    return JSON.stringify({ time, level: entry.level, message: entry.message, attributesDropped: true });
  }
}

const write = (entry: LogEntry): void => void process.stdout.write(`${jsonLine(entry)}\n`);

/** A logger that writes JSON lines, for code outside the worker's runtime (start-up failures). */
export const jsonLogger = new DefaultLogger('INFO', write);

/** Installs the SDK runtime once per process: the JSON logger, core's warnings forwarded into
 * it, and the Prometheus endpoint of the SDK's metrics when worker.metricsPort is set. */
export function installRuntime(config: LoadedConfig): void {
  Runtime.install({
    logger: jsonLogger,
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) },
      ...(config.worker.metricsPort > 0 ? { metrics: { prometheus: { bindAddress: `127.0.0.1:${config.worker.metricsPort}` } } } : {}),
    },
  });
}
