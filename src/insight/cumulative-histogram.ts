/**
 * A Prometheus histogram fed with bucket counts instead of single observations: workers
 * measure, the master adds their per-interval bucket counts here. prom-client's Histogram
 * only takes observe(value), so this is a metric object of our own that prom-client's
 * Registry formats like any other (it needs `name` and `get()`).
 */
import type { Registry } from 'prom-client';

interface Series {
  readonly labels: Record<string, string>;
  /** Non-cumulative counts per bucket (the last is +Inf). */
  readonly counts: number[];
  sum: number;
}

export class CumulativeHistogram {
  readonly type = 'histogram';
  private readonly series = new Map<string, Series>();

  constructor(readonly name: string, readonly help: string, private readonly labelName: string, private readonly bounds: readonly number[], registry: Registry) {
    registry.registerMetric(this as never);
  }

  /** Add one interval's counts for a label value: `counts` has bounds.length + 1 entries. */
  add(labelValue: string, counts: readonly number[], sum: number): void {
    if (counts.length !== this.bounds.length + 1) return; // a worker with other buckets: ignore
    let s = this.series.get(labelValue);
    if (s === undefined) this.series.set(labelValue, s = { labels: { [this.labelName]: labelValue }, counts: new Array<number>(counts.length).fill(0), sum: 0 });
    for (let i = 0; i < counts.length; i++) s.counts[i] = s.counts[i]! + (Number(counts[i]) || 0);
    s.sum += Number(sum) || 0;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] } {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const s of this.series.values()) {
      let cum = 0;
      for (let i = 0; i < s.counts.length; i++) {
        cum += s.counts[i]!;
        const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
        values.push({ labels: { ...s.labels, le }, value: cum, metricName: this.name + '_bucket' });
      }
      values.push({ labels: s.labels, value: s.sum, metricName: this.name + '_sum' });
      values.push({ labels: s.labels, value: cum, metricName: this.name + '_count' });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values };
  }
}
