/**
 * A worker's statement counters since its last shipment: statements by kind, route, backend
 * and user; errors by errno; a latency histogram by kind; rows. The master adds the deltas
 * to its Prometheus counters (master-metrics.ts), so a worker that exits or restarts never
 * takes counts with it: the totals only grow.
 *
 * add() is on the statement path: a few array increments behind two map lookups by strings
 * the session already holds (user, backend); nothing is allocated for a (user, backend) pair
 * already seen in the interval.
 */
import { KIND_INDEX, KINDS, ROUTE_INDEX, ROUTES, type StatementRecord } from './statement-record.js';

/** Histogram bucket upper bounds in seconds (Prometheus `le`), ascending; +Inf is implied. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30];
const SLOTS = DURATION_BUCKETS.length + 1;
const CELLS = KINDS.length * ROUTES.length;

/** The wire form of one interval (sparse: only what moved). */
export interface MetricsDelta {
  /** [user, backend, kind, route, count, cluster] */
  readonly statements: [string, string, string, string, number, string][];
  /** [errno, count] */
  readonly errors: [number, number][];
  /** Per kind that ran: non-cumulative bucket counts (one per DURATION_BUCKETS entry, then +Inf), sum in seconds. */
  readonly durations: { kind: string; buckets: number[]; sumSeconds: number }[];
  readonly rowsSent: number;
  readonly rowsAffected: number;
}

export class StatementMetrics {
  /** user -> its cluster and, per backend, counts by kind and route */
  private readonly byUser = new Map<string, { cluster: string; byBackend: Map<string, Float64Array> }>();
  private readonly errors = new Map<number, number>();
  private readonly durations = new Float64Array(KINDS.length * SLOTS);
  private readonly durationSums = new Float64Array(KINDS.length);
  private rowsSent = 0;
  private rowsAffected = 0;
  private moved = false;

  add(rec: StatementRecord): void {
    let u = this.byUser.get(rec.user);
    if (u === undefined) this.byUser.set(rec.user, u = { cluster: rec.cluster, byBackend: new Map() });
    let cells = u.byBackend.get(rec.backend);
    if (cells === undefined) u.byBackend.set(rec.backend, cells = new Float64Array(CELLS));
    const kind = KIND_INDEX[rec.kind];
    const cell = kind * ROUTES.length + ROUTE_INDEX[rec.route];
    cells[cell] = cells[cell]! + 1;
    if (rec.errno !== 0) this.errors.set(rec.errno, (this.errors.get(rec.errno) ?? 0) + 1);
    const seconds = rec.durationMs / 1000;
    let b = 0;
    while (b < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[b]!) b++;
    const slot = kind * SLOTS + b;
    this.durations[slot] = this.durations[slot]! + 1;
    this.durationSums[kind] = this.durationSums[kind]! + seconds;
    this.rowsSent += rec.rowsSent;
    this.rowsAffected += rec.rowsAffected;
    this.moved = true;
  }

  /** The interval's counts (null when nothing ran), then zero. */
  drain(): MetricsDelta | null {
    if (!this.moved) return null;
    const statements: [string, string, string, string, number, string][] = [];
    for (const [user, { cluster, byBackend }] of this.byUser) {
      for (const [backend, cells] of byBackend) {
        for (let i = 0; i < CELLS; i++) {
          const n = cells[i]!;
          if (n > 0) statements.push([user, backend, KINDS[Math.floor(i / ROUTES.length)]!, ROUTES[i % ROUTES.length]!, n, cluster]);
        }
      }
    }
    const durations: MetricsDelta['durations'] = [];
    for (let k = 0; k < KINDS.length; k++) {
      const buckets = Array.from(this.durations.subarray(k * SLOTS, (k + 1) * SLOTS));
      if (buckets.some((n) => n > 0)) durations.push({ kind: KINDS[k]!, buckets, sumSeconds: this.durationSums[k]! });
    }
    const delta: MetricsDelta = { statements, errors: [...this.errors], durations, rowsSent: this.rowsSent, rowsAffected: this.rowsAffected };
    this.byUser.clear();
    this.errors.clear();
    this.durations.fill(0);
    this.durationSums.fill(0);
    this.rowsSent = 0;
    this.rowsAffected = 0;
    this.moved = false;
    return delta;
  }
}
