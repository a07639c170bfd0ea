// Host figures the status report does not carry, for the capacity KPIs: the application's memory
// (its zerotrustml_memory_usage_bytes metric) and the database's storage growth per day (from
// size samples this check keeps, since one reading says nothing about growth).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { KpiFigures } from '../common/kpi';
import type { ActivityDeps } from './deps';
import { readMemoryGauge } from './status-report';

export { gaugeValue, metricsUrl } from './status-report';

const DAY_MS = 86_400_000;
/** Growth is reported once samples span at least this long: minutes of noise are not a trend. */
const MIN_SPAN_MS = 3_600_000;

export interface StorageSample {
  at: number;
  bytes: number;
  /** The application's memory at the same moment, when it answered (the capacity report's trend). */
  memory?: number;
}

/** Bytes per day over the samples of the last day (oldest to newest), once they span an hour. */
export function growthPerDay(samples: readonly StorageSample[], now: number): number | undefined {
  const recent = samples.filter((s) => s.at >= now - DAY_MS).sort((a, b) => a.at - b.at);
  const first = recent[0];
  const last = recent[recent.length - 1];
  if (!first || !last || last.at - first.at < MIN_SPAN_MS) return undefined;
  return ((last.bytes - first.bytes) / (last.at - first.at)) * DAY_MS;
}

export function storageSamplesFile(config: ActivityDeps['config']): string {
  return path.join(config.dataDir, 'health', 'storage-samples.json');
}

export function readSamples(file: string): StorageSample[] {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return Array.isArray(v) ? (v as StorageSample[]).filter((s) => Number.isFinite(s.at) && Number.isFinite(s.bytes)) : [];
  } catch {
    return [];
  }
}

/** Memory and storage growth; a figure that cannot be read stays undefined (KPI "unknown"). */
export async function hostFigures(
  deps: Pick<ActivityDeps, 'config' | 'postgres' | 'now'>,
  timeoutMs: number,
  o: { record?: boolean } = {},
): Promise<{ figures: Partial<KpiFigures>; problems: string[] }> {
  const problems: string[] = [];
  const figures: Partial<KpiFigures> = {};
  const memory = await readMemoryGauge(deps.config, timeoutMs);
  if (memory.bytes !== undefined) figures.memoryBytes = memory.bytes;
  else problems.push(`memory: ${memory.error}`);
  try {
    const bytes = await deps.postgres.withClient(undefined, async (c) => Number((await c.query<{ n: string }>('SELECT pg_database_size(current_database()) AS n')).rows[0]!.n));
    const now = (deps.now?.() ?? new Date()).getTime();
    const file = storageSamplesFile(deps.config);
    // Two days of samples are plenty for a per-day figure; older ones are dropped.
    const samples = [...readSamples(file).filter((s) => s.at >= now - 2 * DAY_MS), { at: now, bytes, ...(figures.memoryBytes === undefined ? {} : { memory: figures.memoryBytes }) }];
    // The health check keeps the samples; a look (runbook status) only reads them.
    if (o.record ?? true) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file + '.tmp', JSON.stringify(samples));
      renameSync(file + '.tmp', file);
    }
    figures.storageGrowthBytesPerDay = growthPerDay(samples, now);
  } catch (e) {
    problems.push(`storage: database size unreadable: ${(e as Error).message}`);
  }
  return { figures, problems };
}
