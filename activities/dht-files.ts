// Reading and hashing DHT export files. A credit's hash is SHA-256 of its canonical JSON (keys
// sorted), so it does not depend on the order a conductor happens to serialise fields in.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DHT_EXPORT_FORMAT } from '../common/dht-export';

export type CreditRecord = Record<string, unknown> & { credit_id: string };

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function creditHash(c: CreditRecord): string {
  return createHash('sha256').update(canonicalJson(c)).digest('hex');
}

/** Folds per-credit hashes (in credit-id order) into one content hash. */
export class ContentHash {
  private readonly h = createHash('sha256');
  count = 0;
  private last: string | undefined;

  add(c: CreditRecord): string {
    if (this.last !== undefined && c.credit_id <= this.last) {
      throw new Error(`credits out of order or repeated: ${c.credit_id} after ${this.last}`);
    }
    this.last = c.credit_id;
    const hash = creditHash(c);
    this.h.update(hash + '\n');
    this.count++;
    return hash;
  }

  digest(): string {
    return this.h.digest('hex');
  }
}

export function exportHeader(o: { key: string; appId: string; exportedAt: string }): string {
  return `{"format":${JSON.stringify(DHT_EXPORT_FORMAT)},"key":${JSON.stringify(o.key)},"app_id":${JSON.stringify(o.appId)},"exported_at":${JSON.stringify(o.exportedAt)},"credits":[\n`;
}

/** Streams the credits of an export file; throws on anything that is not our layout. */
export async function* readExport(file: string): AsyncGenerator<CreditRecord> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  let closed = false;
  for await (const line of lines) {
    n++;
    if (n === 1) {
      if (!line.startsWith('{"format":' + JSON.stringify(DHT_EXPORT_FORMAT))) throw new Error(`line 1: not a DHT export of ours`);
      continue;
    }
    if (closed) {
      if (line.trim() !== '') throw new Error(`line ${n}: data after the end of the export`);
      continue;
    }
    if (line === ']}') {
      closed = true;
      continue;
    }
    const text = line.endsWith(',') ? line.slice(0, -1) : line;
    let c: CreditRecord;
    try {
      c = JSON.parse(text) as CreditRecord;
    } catch {
      throw new Error(`line ${n}: not a JSON credit record`);
    }
    if (typeof c?.credit_id !== 'string') throw new Error(`line ${n}: a credit without credit_id`);
    yield c;
  }
  if (!closed) throw new Error('the export ends before its closing "]}" (truncated)');
}
