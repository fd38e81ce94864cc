/**
 * The master's statement digests: the sum of every worker's shipments (worker-digests.ts),
 * per (user, schema, digest), since the master started or the last reset. At most `max`
 * rows: the least recently seen row is folded into one overflow row that still counts its
 * statements, so a flood of distinct statements costs counts, not memory. Sketches merge
 * exactly, so percentiles over all workers are as accurate as one worker's.
 */
import type { DigestDelta, DigestKey } from './digest-wire.js';
import { OVERFLOW_DIGEST, OVERFLOW_TEXT } from './digest-wire.js';
import { DigestTotals, type DigestSums } from './digest-totals.js';

/** One row as the admin API returns it. */
export interface DigestRow extends DigestKey, DigestSums {
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly backends: string[];
  readonly sample: string;
}

export type DigestSort = 'total' | 'count' | 'p99' | 'errors' | 'max' | 'avg' | 'last';
export const DIGEST_SORTS: readonly DigestSort[] = ['total', 'count', 'p99', 'errors', 'max', 'avg', 'last'];

export interface DigestQuery {
  readonly sort?: DigestSort;
  readonly limit?: number;
  readonly user?: string;
  readonly schema?: string;
}

class Entry extends DigestTotals {
  constructor(readonly digest: string, readonly text: string, readonly user: string, readonly schema: string | null) {
    super();
  }

  row(): DigestRow {
    const s = this.sketch;
    // The sketch answers within 1%; the exact extremes bound it.
    const q = (p: number): number => round(Math.min(this.maxMs, Math.max(this.minMs, s.quantile(p))));
    return {
      digest: this.digest, text: this.text, user: this.user, schema: this.schema,
      count: this.count, errors: this.errors, rowsSent: this.rowsSent, rowsAffected: this.rowsAffected,
      totalMs: round(this.totalMs), minMs: round(this.count > 0 ? this.minMs : 0), maxMs: round(this.maxMs),
      p50Ms: q(0.5), p95Ms: q(0.95), p99Ms: q(0.99),
      firstSeen: new Date(this.firstSeen).toISOString(), lastSeen: new Date(this.lastSeen).toISOString(),
      backends: [...this.backends], sample: this.sample,
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export class DigestStore {
  /** Insertion order = least recently seen first (a row is moved to the end when it changes). */
  private readonly entries = new Map<string, Entry>();
  private overflow: Entry | null = null;

  constructor(private max: number) {}

  configure(max: number): void {
    this.max = max;
    while (this.entries.size > this.max) this.foldOldest();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Add one worker shipment. */
  merge(rows: readonly DigestDelta[]): void {
    for (const d of rows) {
      if (d.digest === OVERFLOW_DIGEST) {
        this.overflowEntry().addPart(d, d.sketch);
        continue;
      }
      const key = d.user + '\0' + (d.schema ?? '\0') + '\0' + d.digest;
      let e = this.entries.get(key);
      if (e === undefined) {
        if (this.max <= 0) {
          this.overflowEntry().addPart(d, d.sketch);
          continue;
        }
        e = new Entry(d.digest, d.text, d.user, d.schema);
      } else this.entries.delete(key); // moved to the end: most recently seen
      this.entries.set(key, e);
      e.addPart(d, d.sketch);
      while (this.entries.size > this.max) this.foldOldest();
    }
  }

  reset(): void {
    this.entries.clear();
    this.overflow = null;
  }

  query(q: DigestQuery = {}): DigestRow[] {
    const sort = q.sort ?? 'total';
    const picked: Entry[] = [];
    for (const e of this.entries.values()) {
      if (q.user !== undefined && e.user !== q.user) continue;
      if (q.schema !== undefined && e.schema !== q.schema) continue;
      picked.push(e);
    }
    if (this.overflow !== null && q.user === undefined && q.schema === undefined) picked.push(this.overflow);
    const key = sortKey(sort);
    const keyed = picked.map((e) => ({ e, k: key(e) }));
    keyed.sort((a, b) => b.k - a.k);
    const limit = q.limit !== undefined && q.limit > 0 ? q.limit : 100;
    return keyed.slice(0, limit).map((x) => x.e.row());
  }

  private overflowEntry(): Entry {
    return this.overflow ??= new Entry(OVERFLOW_DIGEST, OVERFLOW_TEXT, '', null);
  }

  private foldOldest(): void {
    const first = this.entries.entries().next().value as [string, Entry] | undefined;
    if (first === undefined) return;
    this.entries.delete(first[0]);
    const e = first[1];
    this.overflowEntry().addPart(e, e.sketch.toWire());
  }
}

function sortKey(sort: DigestSort): (e: Entry) => number {
  switch (sort) {
    case 'count': return (e) => e.count;
    case 'p99': return (e) => e.sketch.quantile(0.99);
    case 'errors': return (e) => e.errors;
    case 'max': return (e) => e.maxMs;
    case 'avg': return (e) => (e.count > 0 ? e.totalMs / e.count : 0);
    case 'last': return (e) => e.lastSeen;
    default: return (e) => e.totalMs;
  }
}
