// The DHT state of the stand-in: credits kept in an append-only log in the data directory. Each
// call's writes are appended and fsynced before it answers, so a SIGKILL loses at most an
// unanswered call; a torn last line (killed mid-write) is dropped when the log is read back.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';

export interface Credit {
  /** Stable id: the hash of the credit's content, kept across export and import. */
  credit_id: string;
  holder: string;
  amount: number;
  earned_from: string;
  verifiers: string[];
  event_type: string;
  /** Microseconds since the epoch, as Holochain timestamps are. */
  created_at: number;
  author: string;
}

export interface AuditEntry {
  credit_id: string;
  action: 'created' | 'imported';
  holder: string;
  amount: number;
  event_type: string;
  at: number;
}

/** The per-credit hash that export manifests and restore checks compare. */
export function creditHash(c: Credit): string {
  return createHash('sha256')
    .update(JSON.stringify([c.credit_id, c.holder, c.amount, c.earned_from, c.verifiers, c.event_type, c.created_at, c.author]))
    .digest('hex');
}

export class CreditsStore {
  private readonly credits = new Map<string, Credit>();
  private readonly audit: AuditEntry[] = [];
  private sortedIds: string[] | undefined;
  private fd: number | undefined;

  constructor(private readonly logPath: string) {}

  load(): { credits: number; tornLines: number } {
    let torn = 0;
    if (existsSync(this.logPath)) {
      const text = readFileSync(this.logPath, 'utf8');
      const lines = text.split('\n');
      for (const [i, line] of lines.entries()) {
        if (!line) continue;
        let rec: { op: string; credit: Credit; at: number };
        try {
          rec = JSON.parse(line) as typeof rec;
        } catch {
          // Only the last line can be torn by a kill; anything else is damage worth failing on.
          if (i >= lines.length - 2) {
            torn++;
            continue;
          }
          throw new Error(`${this.logPath}: line ${i + 1} is not valid JSON: the conductor's data is damaged`);
        }
        this.apply(rec.op as 'create' | 'import', rec.credit, rec.at);
      }
    }
    return { credits: this.credits.size, tornLines: torn };
  }

  private apply(op: 'create' | 'import', c: Credit, at: number): boolean {
    if (this.credits.has(c.credit_id)) return false;
    this.credits.set(c.credit_id, c);
    this.sortedIds = undefined;
    this.audit.push({ credit_id: c.credit_id, action: op === 'create' ? 'created' : 'imported', holder: c.holder, amount: c.amount, event_type: c.event_type, at });
    return true;
  }

  /** Appends the new ones (by credit id) durably; returns how many were new. */
  add(op: 'create' | 'import', credits: Credit[], at: number): number {
    const fresh: string[] = [];
    const seen = new Set<string>();
    for (const c of credits) {
      if (this.credits.has(c.credit_id) || seen.has(c.credit_id)) continue;
      seen.add(c.credit_id);
      fresh.push(JSON.stringify({ op, credit: c, at }));
    }
    if (fresh.length > 0) {
      this.fd ??= openSync(this.logPath, 'a');
      writeSync(this.fd, fresh.join('\n') + '\n');
      fsyncSync(this.fd);
      for (const line of fresh) {
        const rec = JSON.parse(line) as { credit: Credit };
        this.apply(op, rec.credit, at);
      }
    }
    return fresh.length;
  }

  get(id: string): Credit | undefined {
    return this.credits.get(id);
  }

  get size(): number {
    return this.credits.size;
  }

  /** Credits in id order, after `after`, at most `limit`. */
  page(after: string | undefined, limit: number): Credit[] {
    this.sortedIds ??= [...this.credits.keys()].sort();
    let lo = 0;
    if (after !== undefined) {
      let hi = this.sortedIds.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.sortedIds[mid]! <= after) lo = mid + 1;
        else hi = mid;
      }
    }
    return this.sortedIds.slice(lo, lo + limit).map((id) => this.credits.get(id)!);
  }

  byHolder(holder: string): Credit[] {
    return [...this.credits.values()].filter((c) => c.holder === holder);
  }

  auditTrail(holder: string | undefined): AuditEntry[] {
    return holder === undefined || holder === 'all' ? [...this.audit] : this.audit.filter((a) => a.holder === holder);
  }

  close(): void {
    if (this.fd !== undefined) {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}
