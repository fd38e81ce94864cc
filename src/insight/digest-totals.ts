/**
 * What a digest row adds up, shared by the worker's interval rows (worker-digests.ts) and the
 * master's totals (digest-store.ts): counts, rows, times, first and last seen, backends, a
 * latency sketch, and the slowest statement as the sample.
 */
import { LatencySketch, type SketchWire } from './latency-sketch.js';

/** Backends remembered per row (a statement shape runs on a handful). */
const MAX_BACKENDS = 16;

/** The additive part of a row, as it travels (DigestDelta) or is held (DigestTotals). */
export interface DigestSums {
  readonly count: number;
  readonly errors: number;
  readonly rowsSent: number;
  readonly rowsAffected: number;
  readonly totalMs: number;
  readonly minMs: number;
  readonly maxMs: number;
}

/** Another row's figures to add: a shipped delta, or a row folded into the overflow row. */
export interface DigestPart extends DigestSums {
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly backends: readonly string[];
  readonly sample: string;
  readonly sampleMs: number;
}

export class DigestTotals {
  count = 0;
  errors = 0;
  rowsSent = 0;
  rowsAffected = 0;
  totalMs = 0;
  minMs = Infinity;
  maxMs = 0;
  firstSeen = Infinity;
  lastSeen = 0;
  readonly backends: string[] = [];
  sample = '';
  sampleMs = -1;
  readonly sketch = new LatencySketch();

  protected noteBackend(b: string): void {
    if (b !== '' && this.backends.length < MAX_BACKENDS && !this.backends.includes(b)) this.backends.push(b);
  }

  /** Add another row's figures and sketch (exact). */
  addPart(p: DigestPart, sketch: SketchWire): void {
    if (p.count <= 0) return;
    this.count += p.count;
    this.errors += p.errors;
    this.rowsSent += p.rowsSent;
    this.rowsAffected += p.rowsAffected;
    this.totalMs += p.totalMs;
    if (p.minMs < this.minMs) this.minMs = p.minMs;
    if (p.maxMs > this.maxMs) this.maxMs = p.maxMs;
    if (p.firstSeen < this.firstSeen) this.firstSeen = p.firstSeen;
    if (p.lastSeen > this.lastSeen) this.lastSeen = p.lastSeen;
    for (const b of p.backends) this.noteBackend(b);
    if (p.sampleMs > this.sampleMs && p.sample !== '') {
      this.sample = p.sample;
      this.sampleMs = p.sampleMs;
    }
    this.sketch.merge(sketch);
  }
}
