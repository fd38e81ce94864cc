// The digest tables (worker intervals, master totals) and the latency sketch: pure code.
import { expect } from 'chai';
import fc from 'fast-check';
import { LatencySketch, RELATIVE_ERROR, bucketOf, bucketValue } from '../../../src/insight/latency-sketch.js';
import { WorkerDigests } from '../../../src/insight/worker-digests.js';
import { DigestStore } from '../../../src/insight/digest-store.js';
import { OVERFLOW_DIGEST } from '../../../src/insight/digest-wire.js';
import { StatementRecord } from '../../../src/insight/statement-record.js';

function record(fields: Partial<StatementRecord>): StatementRecord {
  return Object.assign(new StatementRecord(), { user: 'app', schema: 'db', durationMs: 1, endedAt: 1_700_000_000_000, backend: 'db1', sql: 'SELECT 1' }, fields);
}

/** The exact quantile of a sorted list (rank ceil(q * n)), as the sketch defines it. */
function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

describe('insight: latency sketch', () => {
  it('answers every quantile within its relative error', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0.01, max: 600_000, noNaN: true }), { minLength: 1, maxLength: 500 }), fc.double({ min: 0, max: 1, noNaN: true }), (values, q) => {
      const s = new LatencySketch();
      for (const v of values) s.add(v);
      const exact = exactQuantile([...values].sort((a, b) => a - b), q);
      expect(Math.abs(s.quantile(q) - exact) / exact).to.be.at.most(RELATIVE_ERROR + 1e-9);
    }));
  });

  it('merges exactly: two sketches merged equal one sketch of both inputs', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0.001, max: 1e6, noNaN: true })), fc.array(fc.double({ min: 0.001, max: 1e6, noNaN: true })), (a, b) => {
      const one = new LatencySketch();
      const left = new LatencySketch();
      const right = new LatencySketch();
      for (const v of a) { one.add(v); left.add(v); }
      for (const v of b) { one.add(v); right.add(v); }
      left.merge(right.toWire());
      expect(left.toWire()).to.deep.equal(one.toWire());
      expect(left.count).to.equal(a.length + b.length);
    }));
  });

  it('puts each value in a bucket whose value is within the relative error', () => {
    for (const v of [0.0011, 0.5, 1, 150, 150.5, 86_400_000]) expect(Math.abs(bucketValue(bucketOf(v)) - v) / v).to.be.at.most(RELATIVE_ERROR + 1e-9);
  });
});

describe('insight: worker digest intervals', () => {
  it('adds statements of one shape into one row per (user, schema) and drains to an empty table', () => {
    const d = new WorkerDigests(100, 64);
    d.add(record({ durationMs: 2, rowsSent: 1 }), 'select ?');
    d.add(record({ durationMs: 4, rowsSent: 1, errno: 1146, backend: 'db2' }), 'select ?');
    d.add(record({ durationMs: 1, schema: null }), 'select ?');
    d.add(record({ durationMs: 1, user: 'other' }), 'select ?');
    const rows = d.drain();
    expect(rows).to.have.length(3);
    const main = rows.find((r) => r.user === 'app' && r.schema === 'db')!;
    expect(main).to.include({ count: 2, errors: 1, rowsSent: 2, totalMs: 6, minMs: 2, maxMs: 4, text: 'select ?' });
    expect(main.backends).to.deep.equal(['db1', 'db2']);
    expect(main.digest).to.match(/^[0-9a-f]{16}$/);
    expect(d.drain()).to.deep.equal([]);
  });

  it('keeps the slowest statement as the sample, cut to sampleChars and with passwords masked', () => {
    const d = new WorkerDigests(100, 40);
    d.add(record({ durationMs: 1, sql: "SELECT PASSWORD('fast-one')" }), 'select password(?)');
    d.add(record({ durationMs: 9, sql: "SELECT PASSWORD('slow-secret') /* " + 'x'.repeat(100) + ' */' }), 'select password(?)');
    const [row] = d.drain();
    expect(row!.sample).to.not.contain('slow-secret');
    expect(row!.sample.length).to.be.at.most(40);
    expect(row!.sampleMs).to.equal(9);
  });

  it('folds rows past max into one overflow row that still counts them', () => {
    const d = new WorkerDigests(10, 64);
    for (let i = 0; i < 1000; i++) d.add(record({ durationMs: 1 }), `select ? as c${i}`);
    expect(d.size).to.equal(10);
    const rows = d.drain();
    expect(rows).to.have.length(11);
    expect(rows.reduce((n, r) => n + r.count, 0)).to.equal(1000);
    expect(rows.find((r) => r.digest === OVERFLOW_DIGEST)!.count).to.equal(990);
  });
});

describe('insight: master digest store', () => {
  it('merges shipments of several workers into exact totals and percentiles', () => {
    const store = new DigestStore(100);
    const workers = [new WorkerDigests(100, 64), new WorkerDigests(100, 64)];
    const all: number[] = [];
    for (let i = 0; i < 400; i++) {
      const ms = 1 + (i % 97);
      all.push(ms);
      workers[i % 2]!.add(record({ durationMs: ms, rowsAffected: 1, endedAt: 1_700_000_000_000 + i }), 'update t set v = ? where id = ?');
    }
    for (const w of workers) store.merge(w.drain());
    const [row] = store.query();
    expect(row).to.include({ count: 400, rowsAffected: 400, minMs: 1, maxMs: 97 });
    const sorted = all.sort((a, b) => a - b);
    for (const [q, got] of [[0.5, row!.p50Ms], [0.95, row!.p95Ms], [0.99, row!.p99Ms]] as const) {
      const exact = exactQuantile(sorted, q);
      expect(Math.abs(got - exact) / exact, `p${q * 100}`).to.be.at.most(RELATIVE_ERROR + 0.001);
    }
    expect(row!.firstSeen).to.equal(new Date(1_700_000_000_000).toISOString());
    expect(row!.lastSeen).to.equal(new Date(1_700_000_000_399).toISOString());
  });

  it('keeps at most max rows: the least recently seen fold into the overflow row, and nothing is lost', () => {
    const store = new DigestStore(50);
    for (let round = 0; round < 20; round++) {
      const w = new WorkerDigests(1000, 64);
      for (let i = 0; i < 30; i++) w.add(record({ durationMs: 1, endedAt: round * 1000 + i }), `select ? as r${round}_${i}`);
      // one shape seen in every round stays (recently seen)
      w.add(record({ durationMs: 1, endedAt: round * 1000 + 999 }), 'select ? as hot');
      store.merge(w.drain());
    }
    expect(store.size).to.equal(50);
    const rows = store.query({ limit: 1000, sort: 'count' });
    expect(rows.reduce((n, r) => n + r.count, 0)).to.equal(20 * 31);
    expect(rows.some((r) => r.text === 'select ? as hot' && r.count === 20)).to.equal(true);
    expect(rows.find((r) => r.digest === OVERFLOW_DIGEST)!.count).to.be.greaterThan(0);
  });

  it('filters by user and schema, sorts, limits, and resets', () => {
    const store = new DigestStore(100);
    const w = new WorkerDigests(100, 64);
    w.add(record({ durationMs: 50 }), 'slow');
    for (let i = 0; i < 5; i++) w.add(record({ durationMs: 1 }), 'frequent');
    w.add(record({ durationMs: 1, user: 'b', errno: 1064 }), 'broken');
    store.merge(w.drain());
    expect(store.query({ sort: 'total' }).map((r) => r.text)).to.deep.equal(['slow', 'frequent', 'broken']);
    expect(store.query({ sort: 'count', limit: 1 }).map((r) => r.text)).to.deep.equal(['frequent']);
    expect(store.query({ sort: 'errors', limit: 1 }).map((r) => r.text)).to.deep.equal(['broken']);
    expect(store.query({ user: 'b' }).map((r) => r.text)).to.deep.equal(['broken']);
    expect(store.query({ schema: 'nope' })).to.deep.equal([]);
    store.reset();
    expect(store.query()).to.deep.equal([]);
  });
});

describe('insight: log line timestamps', () => {
  it('isoTime equals Date#toISOString for any millisecond', async () => {
    const { isoTime } = await import('../../../src/insight/statement-lines.js');
    fc.assert(fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (ms, frac) => {
      expect(isoTime(ms + frac)).to.equal(new Date(ms).toISOString());
    }));
    // one second after another (the cached prefix changes)
    for (let ms = 1_700_000_000_990; ms < 1_700_000_001_020; ms++) expect(isoTime(ms)).to.equal(new Date(ms).toISOString());
  });
});

describe('insight: sketches from elsewhere', () => {
  it('ignores a shipped sketch whose bucket range is impossible (never sizes its array from it)', () => {
    const s = new LatencySketch();
    s.add(1);
    s.merge([1e9, 5]);
    s.merge([-3, 1, 1]);
    s.merge([0.5, 1]);
    expect(s.count).to.equal(1);
  });
});
