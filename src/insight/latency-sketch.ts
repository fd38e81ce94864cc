/**
 * A mergeable latency sketch: log-spaced buckets with a fixed layout (bucket i holds values
 * in (MIN_MS * GAMMA^(i-1), MIN_MS * GAMMA^i]), so a quantile read from it is within
 * RELATIVE_ERROR of the true value, and two sketches merge exactly by adding counts bucket by
 * bucket: the master merges the workers' sketches with no loss (the DDSketch idea).
 *
 * Counts live in a dense array over the range of buckets seen [lo, lo + length): the
 * latencies of one statement shape cluster within a few hundred buckets (GAMMA^230 = 100x),
 * so a sketch is a few hundred numbers at most, and one add is a log and an increment.
 */

/** Relative accuracy of quantiles (1%). */
export const RELATIVE_ERROR = 0.01;
const GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR);
const LOG_GAMMA = Math.log(GAMMA);
/** Values at or below this (1 µs) share bucket 0. */
const MIN_MS = 0.001;
/** Values above this (about 11 days) share the last bucket. */
const MAX_INDEX = 2000;

/** The bucket of a duration in milliseconds. */
export function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const i = Math.ceil(Math.log(ms / MIN_MS) / LOG_GAMMA);
  return i > MAX_INDEX ? MAX_INDEX : i;
}

/** The value a bucket stands for: its upper and lower bounds' midpoint in relative terms. */
export function bucketValue(i: number): number {
  if (i <= 0) return MIN_MS;
  return (MIN_MS * 2 * Math.pow(GAMMA, i)) / (GAMMA + 1);
}

/** Wire form: [lo, count(lo), count(lo+1), ...]; an empty sketch is []. */
export type SketchWire = number[];

export class LatencySketch {
  private lo = 0;
  private counts: number[] = [];
  count = 0;

  add(ms: number): void {
    this.addBucket(bucketOf(ms), 1);
  }

  /** Add another sketch's counts (exact). */
  merge(wire: SketchWire): void {
    const lo = wire[0]!;
    // A shipment from another release or a corrupt one: never let it size the array.
    if (wire.length < 2 || !Number.isInteger(lo) || lo < 0 || lo + wire.length - 1 > MAX_INDEX + 1) return;
    for (let k = 1; k < wire.length; k++) {
      const n = wire[k]!;
      if (n > 0) this.addBucket(lo + k - 1, n);
    }
  }

  /** The value at quantile q (0..1), or 0 for an empty sketch. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    const c = this.counts;
    for (let k = 0; k < c.length; k++) {
      seen += c[k]!;
      if (seen >= rank) return bucketValue(this.lo + k);
    }
    return bucketValue(this.lo + c.length - 1);
  }

  toWire(): SketchWire {
    if (this.count === 0) return [];
    return [this.lo, ...this.counts];
  }

  clear(): void {
    this.lo = 0;
    this.counts = [];
    this.count = 0;
  }

  private addBucket(i: number, n: number): void {
    const c = this.counts;
    if (c.length === 0) {
      this.lo = i;
      c.push(n);
    } else if (i < this.lo) {
      const grow = this.lo - i;
      const next = new Array<number>(grow + c.length).fill(0);
      for (let k = 0; k < c.length; k++) next[grow + k] = c[k]!;
      next[0] = n;
      this.counts = next;
      this.lo = i;
    } else {
      const k = i - this.lo;
      while (c.length <= k) c.push(0);
      c[k] = c[k]! + n;
    }
    this.count += n;
  }
}
