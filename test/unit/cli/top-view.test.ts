/**
 * `dbmesh top`'s pure view: rates over an interval from two cumulative snapshots (new rows,
 * rows outside the earlier top N, rows reset in between), counts since the view's baseline,
 * the four orders, and a screen that never goes past the terminal's width or height.
 */
import { expect } from 'chai';
import type { DigestRow } from '../../../src/insight/digest-store.js';
import { textWidth } from '../../../src/cli/text-table.js';
import { frame } from '../../../src/cli/top-live.js';
import { renderTop, snapshot, sortTopRows, topRows, type TopFrame, type TopRow } from '../../../src/cli/top-view.js';

const T0 = '2026-01-01T00:00:00.000Z';

function row(digest: string, over: Partial<DigestRow> = {}): DigestRow {
  return {
    digest, text: `select ${digest} from t`, user: 'app', schema: 'shop', count: 0, errors: 0, rowsSent: 0, rowsAffected: 0,
    totalMs: 0, minMs: 0, maxMs: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, firstSeen: T0, lastSeen: T0, backends: ['db1'], sample: '',
    ...over,
  };
}

function byDigest(rows: readonly TopRow[]): Record<string, TopRow> {
  return Object.fromEntries(rows.map((r) => [r.row.digest, r]));
}

function view(over: Partial<TopFrame>): TopFrame {
  return {
    now: new Date(2026, 0, 1, 12, 0, 5), width: 100, height: 30, interactive: true, sort: 'total', intervalS: 1,
    since: new Date(2026, 0, 1, 12, 0, 0), rows: null, digests: 0, more: false, error: null, ...over,
  };
}

describe('cli: top view', () => {
  const prev = snapshot([row('a', { count: 100, errors: 1, totalMs: 50 }), row('b', { count: 10, totalMs: 100 })], 1000, 10);
  const cur = snapshot([
    row('a', { count: 300, errors: 5, totalMs: 150, p99Ms: 2.5 }),
    row('b', { count: 10, totalMs: 100, p99Ms: 9 }),
    row('c', { count: 20, totalMs: 300, firstSeen: '2026-01-01T00:00:02.000Z' }),
  ], 3000, 10);

  it('computes per-second rates, mean latency and time share from two snapshots', () => {
    const rows = byDigest(topRows(prev, cur, prev));
    expect(rows.a).to.include({ qps: 100, errorsPerSec: 2, intervalMs: 100, avgMs: 0.5, share: 0.25, count: 200 });
    expect(rows.b).to.include({ qps: 0, errorsPerSec: 0, intervalMs: 0, avgMs: null, share: 0, count: 0 });
    // Missing from a snapshot that held every digest: new, all its statements ran in the interval.
    expect(rows.c).to.include({ qps: 10, intervalMs: 300, avgMs: 15, share: 0.75, count: 20 });
  });

  it('counts from the baseline, not from the previous snapshot', () => {
    const base = snapshot([row('a', { count: 40 }), row('b', { count: 10 })], 0, 10);
    const rows = byDigest(topRows(prev, cur, base));
    expect(rows.a!.count).to.equal(260);
    expect(rows.a!.qps).to.equal(100);
  });

  it('leaves rates unknown for a row that may only have been outside the earlier top N', () => {
    const cut = snapshot([row('a', { count: 100, totalMs: 50 })], 1000, 1); // limit reached: not every digest
    const rows = byDigest(topRows(cut, cur, cut));
    expect(rows.c).to.include({ qps: null, errorsPerSec: null, intervalMs: null, share: null, avgMs: null, count: null });
    expect(rows.a!.qps).to.equal(100);
    expect(rows.a!.share).to.equal(1); // shares are of the rows whose time is known
  });

  it('takes the whole count of a row that was reset or recreated in between', () => {
    const after = snapshot([
      row('a', { count: 30, errors: 0, totalMs: 12 }), // count went down: the digests were reset
      row('b', { count: 50, totalMs: 400, firstSeen: '2026-01-01T00:00:02.500Z' }), // recreated later
    ], 3000, 10);
    const rows = byDigest(topRows(prev, after, prev));
    expect(rows.a).to.include({ qps: 15, intervalMs: 12, count: 30 });
    expect(rows.b).to.include({ qps: 25, intervalMs: 400, count: 50 });
  });

  it('keeps the same statement of two users (or schemas) apart', () => {
    const p = snapshot([row('a', { count: 10 }), row('a', { user: 'bob', count: 10 })], 0, 10);
    const c = snapshot([row('a', { count: 30 }), row('a', { user: 'bob', count: 11 }), row('a', { schema: null, count: 4 })], 1000, 10);
    const qps = topRows(p, c, p).map((r) => [r.row.user, r.row.schema, r.qps]);
    expect(qps).to.deep.equal([['app', 'shop', 20], ['bob', 'shop', 1], ['app', null, 4]]);
  });

  it('orders by time in the interval, QPS, p99 or errors, unknown rates last, ties stable', () => {
    const cut = snapshot([row('a', { count: 100, errors: 1, totalMs: 50 }), row('b', { count: 10, totalMs: 100 })], 1000, 2);
    const extra = snapshot([...cur.rows.values(), row('d', { count: 5, totalMs: 1, p99Ms: 1 }), row('e', { count: 5, totalMs: 1, p99Ms: 1 })], 3000, 10);
    const rows = topRows(cut, extra, cut);
    const order = (sort: 'total' | 'count' | 'p99' | 'errors'): string[] => sortTopRows(rows, sort).map((r) => r.row.digest);
    expect(order('total')).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    expect(order('count')).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    expect(order('p99')).to.deep.equal(['b', 'a', 'd', 'e', 'c']);
    expect(order('errors')).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    expect(sortTopRows(topRows(prev, cur, prev), 'total').map((r) => r.row.digest)).to.deep.equal(['c', 'a', 'b']);
  });

  it('draws a header with the time, totals, digests, order and keys, then the table', () => {
    const lines = renderTop(view({ rows: topRows(prev, cur, prev), digests: 3 }));
    expect(lines[0]).to.equal('dbmesh top  12:00:05  QPS 110  errors/s 2.00  digests 3  sort: total time  every 1 s');
    expect(lines[1]).to.match(/^keys: t total time {2}c count {2}p p99 {2}e errors {2}r reset counts {2}q quit/);
    expect(lines[2]).to.equal('counts since 12:00:00');
    expect(lines[3]).to.match(/^ +QPS +ERR\/S +P99 MS +AVG MS +TIME% +COUNT +USER@SCHEMA +TEXT$/);
    expect(lines[4]).to.match(/^ +10\.0 +0 +0\.000 +15\.00 +75\.0 +20 +app@shop +select c from t$/);
    expect(lines[5]).to.match(/^ +100 +2\.00 +2\.50 +0\.500 +25\.0 +200 +app@shop +select a from t$/);
    expect(lines[6]).to.match(/^ +0 +0 +9\.00 +- +0\.0 +0 +app@shop +select b from t$/);
    expect(lines).to.have.length(7);
  });

  it('says why the master could not be reached, and that it keeps trying', () => {
    const lines = renderTop(view({ error: 'cannot reach the dbmesh master at 127.0.0.1:6034 (ECONNREFUSED)\x1b[2J', intervalS: 2 }));
    expect(lines[0]).to.contain('QPS -  errors/s -');
    expect(lines[2]).to.equal('error: cannot reach the dbmesh master at 127.0.0.1:6034 (ECONNREFUSED) [2J (retrying every 2 s)');
  });

  it('never draws past the width or the height, and shows the most rows that fit', () => {
    const many = Array.from({ length: 60 }, (_, i) => row(`d${i}`, { count: 10 + i, totalMs: i, text: `select ${'x'.repeat(i * 5)} from t${i}` }));
    const p = snapshot(many.map((r) => ({ ...r, count: 0, totalMs: 0 })), 0, 100);
    const rows = topRows(p, snapshot(many, 1000, 100), p);
    for (const [width, height] of [[160, 40], [80, 24], [40, 10], [20, 3], [10, 1]] as const) {
      const lines = renderTop(view({ rows, digests: 60, width, height }));
      expect(lines).to.have.length(height);
      for (const l of lines) expect(textWidth(l)).to.be.at.most(width);
    }
    const lines = renderTop(view({ rows, digests: 60, width: 160, height: 40 }));
    expect(lines[4]).to.match(/^ +69\.0 .* select x+\.\.\.$/); // the busiest first (d59: 69 statements), its text cut
    expect(lines[39]).to.match(/app@shop +select x+\.\.\.$/);
  });

  it('prints every row without key help when not on a terminal', () => {
    const lines = renderTop(view({ rows: topRows(prev, cur, prev), digests: 3, more: true, interactive: false, height: Infinity }));
    expect(lines[0]).to.contain('digests 3+');
    expect(lines[1]).to.equal('counts since 12:00:00');
    expect(lines).to.have.length(6);
  });

  it('writes a frame that erases only what lies past shorter lines and below the last one', () => {
    expect(frame(['ab', 'abcd'], 4, 5)).to.equal('ab\x1b[K\r\nabcd\r\n\x1b[J');
    expect(frame(['ab', 'abcd'], 4, 2)).to.equal('ab\x1b[K\r\nabcd');
  });
});
