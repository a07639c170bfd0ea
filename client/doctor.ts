// `runbook doctor`: what the stack needs and where it was found; builds the Temporal CLI if it
// is missing (so .ci/run and a new machine pay that cost once, visibly, before the tests).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { postgresBinDir } from '../sandbox/postgres-cluster';
import { findTemporalCli } from '../sandbox/temporal-cli';
import { runCommand, which } from '../adapters/process';
import { findMonitoring } from '../sandbox/monitoring';
import type { LoadedConfig } from '../config/load';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export async function doctor(config: LoadedConfig, o: { build: boolean }): Promise<Check[]> {
  const checks: Check[] = [];
  try {
    const cli = await findTemporalCli({ configured: config.temporal.cli, build: o.build });
    const { stdout } = await runCommand([cli.path, '--version']);
    checks.push({ name: 'temporal CLI', ok: true, detail: `${cli.path} (${cli.source}): ${stdout.trim()}` });
  } catch (e) {
    checks.push({ name: 'temporal CLI', ok: false, detail: (e as Error).message });
  }
  try {
    const bin = await postgresBinDir(config.database.binDir);
    const { stdout } = await runCommand([path.join(bin, 'pg_dump'), '--version']);
    const server = existsSync(path.join(bin, 'postgres'));
    checks.push({ name: 'PostgreSQL', ok: server || !config.database.managed, detail: `${bin}: ${stdout.trim()}${server ? '' : ' (no server binary)'}` });
  } catch (e) {
    checks.push({ name: 'PostgreSQL', ok: false, detail: (e as Error).message });
  }
  const compressor = config.backup.compression === 'none' ? undefined : config.backup.compression;
  if (compressor) {
    const found = await which(compressor);
    checks.push({ name: compressor, ok: found !== undefined, detail: found ?? `not on PATH (backup.compression is ${compressor}; install the ${compressor} package)` });
  }
  // Optional: without them the sandbox relies on the built-in health check alone.
  const mon = findMonitoring();
  checks.push({
    name: 'Prometheus + Alertmanager',
    ok: true,
    detail: mon.prometheus && mon.alertmanager ? `${mon.prometheus}, ${mon.alertmanager}` : 'not installed (optional: apt-get install prometheus prometheus-alertmanager); the built-in health check still runs',
  });
  return checks;
}
