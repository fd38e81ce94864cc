import { expect } from 'chai';
import fc from 'fast-check';
import { BackendLoad, BALANCER_KINDS, createBalancer, DEFAULT_BALANCER, EWMA_TAU_MS, type Balancer, type BalancerKind } from '../../../src/routing/balancer.js';

/** Deterministic random in [0, 1) (mulberry32), so the statistical tests never flake. */
function seeded(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function backends(...weights: number[]): BackendLoad[] {
  return weights.map((w, i) => new BackendLoad(String.fromCharCode(97 + i), w));
}

function sequence(b: Balancer, c: readonly BackendLoad[], picks: number): string {
  let s = '';
  for (let i = 0; i < picks; i++) s += b.pick(c)!.id;
  return s;
}

function counts(b: Balancer, c: readonly BackendLoad[], picks: number): Record<string, number> {
  const n: Record<string, number> = {};
  for (let i = 0; i < picks; i++) {
    const id = b.pick(c)!.id;
    n[id] = (n[id] ?? 0) + 1;
  }
  return n;
}

/**
 * Open-loop traffic on a simulated clock: `rate` statements per ms, each taking its backend's
 * latency (±50%). Statements begin and end and feed observe(), as the session would.
 */
function simulate(kind: BalancerKind, c: BackendLoad[], latencyMs: number[], rate: number, durationMs: number, seed = 7): number[] {
  const rnd = seeded(seed);
  const b = createBalancer(kind, rnd);
  const picked = c.map(() => 0);
  let inflight: { end: number; k: number; start: number }[] = [];
  const step = 0.05;
  for (let t = 0; t < durationMs; t += step) {
    const still: typeof inflight = [];
    for (const s of inflight) {
      if (s.end > t) still.push(s);
      else {
        c[s.k].end();
        c[s.k].observe(t - s.start, t);
      }
    }
    inflight = still;
    const expected = rate * step;
    const arrivals = Math.floor(expected) + (rnd() < expected % 1 ? 1 : 0);
    for (let a = 0; a < arrivals; a++) {
      const p = b.pick(c)!;
      const k = c.indexOf(p);
      picked[k]++;
      p.begin();
      inflight.push({ end: t + latencyMs[k] * (0.5 + rnd()), k, start: t });
    }
  }
  return picked;
}

describe('routing/balancer BackendLoad', () => {
  it('takes the first sample as the figure and moves toward new ones', () => {
    const b = new BackendLoad('a', 1);
    expect(b.ewmaMs).to.equal(0);
    b.observe(10, 1000);
    expect(b.ewmaMs).to.equal(10);
    for (let i = 1; i <= 50; i++) b.observe(2, 1000 + i * 1000);
    expect(b.ewmaMs).to.be.below(3).and.above(2);
  });

  it('weights a sample by the time since the last one (tau ~10 s)', () => {
    const b = new BackendLoad('a', 1);
    for (let i = 0; i < 8; i++) b.observe(100, i); // past the warm-up
    b.observe(10, 7 + EWMA_TAU_MS);
    expect(b.ewmaMs).to.be.closeTo(10 + 90 * Math.exp(-1), 1e-9);
    const before = b.ewmaMs;
    b.observe(1000, 7 + EWMA_TAU_MS); // same instant: a time average gives it no weight
    expect(b.ewmaMs).to.equal(before);
    b.observe(1000, 7 + EWMA_TAU_MS + 1);
    expect(b.ewmaMs - before).to.be.closeTo((1000 - before) * (1 - Math.exp(-1 / EWMA_TAU_MS)), 1e-9);
  });

  it('lets an idle backend\'s old figure fade: after a long gap the new sample wins', () => {
    const b = new BackendLoad('a', 1);
    for (let i = 0; i < 20; i++) b.observe(500, i * 10);
    b.observe(1, 200 + 10 * EWMA_TAU_MS);
    expect(b.ewmaMs).to.be.below(1.03);
  });

  it('averages the first samples plainly so one odd first statement does not stick', () => {
    const b = new BackendLoad('a', 1);
    b.observe(1000, 0);
    b.observe(1, 1);
    b.observe(1, 2);
    b.observe(1, 3);
    expect(b.ewmaMs).to.be.closeTo(250.75, 1e-6);
  });

  it('ignores bad samples, never records 0 and restarts after a reset to unknown', () => {
    const b = new BackendLoad('a', 1);
    b.observe(Number.NaN, 1);
    b.observe(-5, 1);
    b.observe(Infinity, 1);
    expect(b.ewmaMs).to.equal(0);
    b.observe(0, 1);
    expect(b.ewmaMs).to.be.above(0);
    for (let i = 2; i < 20; i++) b.observe(100, i);
    b.ewmaMs = 0;
    b.observe(3, 21);
    expect(b.ewmaMs).to.equal(3);
  });

  it('counts statements in flight and never below zero', () => {
    const b = new BackendLoad('a', 1);
    b.begin();
    b.begin();
    b.end();
    expect(b.outstanding).to.equal(1);
    b.end();
    b.end();
    expect(b.outstanding).to.equal(0);
  });
});

describe('routing/balancer round-robin', () => {
  it('is exactly proportional over a window: weights 1,2,3 over 600 picks', () => {
    expect(counts(createBalancer('round-robin'), backends(1, 2, 3), 600)).to.deep.equal({ a: 100, b: 200, c: 300 });
  });

  it('interleaves smoothly: weights 5,1,1 give nginx\'s a,a,b,a,c,a,a', () => {
    expect(sequence(createBalancer('round-robin'), backends(5, 1, 1), 21)).to.equal('aabacaa'.repeat(3));
  });

  it('is exact in every window of total-weight picks', () => {
    const rr = createBalancer('round-robin');
    const c = backends(3, 1, 4, 2);
    for (let w = 0; w < 20; w++) expect(counts(rr, c, 10)).to.deep.equal({ a: 3, b: 1, c: 4, d: 2 });
  });

  it('survives candidates leaving, joining and changing weight, then recovers proportions', () => {
    const rr = createBalancer('round-robin');
    const [a, b, c] = backends(1, 2, 3);
    counts(rr, [a, b, c], 7);
    counts(rr, [a, c], 5); // b is unhealthy for a while
    const d = new BackendLoad('d', 4);
    const all = [c, a, d, b]; // b is back, d is new, in another order
    counts(rr, all, 10);
    for (let w = 0; w < 5; w++) expect(counts(rr, all, 100)).to.deep.equal({ a: 10, b: 20, c: 30, d: 40 });
    b.weight = 6; // a live reload
    counts(rr, all, 14);
    expect(counts(rr, all, 140)).to.deep.equal({ a: 10, b: 60, c: 30, d: 40 });
  });

  it('does not hand one backend a long run after a heavy one leaves or is cut on reload', () => {
    const longestRun = (seq: string) => Math.max(...(seq.match(/(.)\1*/g) ?? []).map((r) => r.length));
    const rr = createBalancer('round-robin');
    const [a, b, c] = backends(1000, 1, 1);
    counts(rr, [a, b, c], 335); // b and c end up ~1000 apart
    expect(longestRun(sequence(rr, [b, c], 200))).to.be.at.most(2);
    const rr2 = createBalancer('round-robin');
    const [x, y, z] = backends(1000, 1, 1);
    counts(rr2, [x, y, z], 335);
    x.weight = 1;
    expect(longestRun(sequence(rr2, [x, y, z], 300))).to.be.at.most(3);
  });

  it('does not starve anyone when callers alternate between two candidate sets', () => {
    const rr = createBalancer('round-robin');
    const c = backends(3, 1, 2);
    const n: Record<string, number> = {};
    for (let i = 0; i < 6000; i++) {
      const id = rr.pick(i % 2 === 0 ? c : c.slice(0, 2))!.id;
      n[id] = (n[id] ?? 0) + 1;
    }
    expect(n.b).to.be.above(900);
    expect(n.c).to.be.above(900);
  });

  it('sends nothing to weight 0 while others can take it, and spreads evenly if all are 0', () => {
    const rr = createBalancer('round-robin');
    expect(counts(rr, backends(0, 2, 1), 30)).to.deep.equal({ b: 20, c: 10 });
    expect(counts(rr, backends(0, 0, 0), 30)).to.deep.equal({ a: 10, b: 10, c: 10 });
  });
});

describe('routing/balancer least-outstanding', () => {
  it('prefers the backend with the fewest statements in flight per unit of weight', () => {
    const lo = createBalancer('least-outstanding');
    const [a, b, c] = backends(1, 1, 1);
    a.outstanding = 3;
    b.outstanding = 1;
    c.outstanding = 2;
    expect(lo.pick([a, b, c])).to.equal(b);
    const [x, y] = backends(1, 4);
    x.outstanding = 1;
    y.outstanding = 3; // 3/4 < 1/1
    expect(lo.pick([x, y])).to.equal(y);
  });

  it('spreads ties round-robin so an idle cluster does not pile on the first', () => {
    const lo = createBalancer('least-outstanding');
    const c = backends(1, 1, 1);
    expect(sequence(lo, c, 6)).to.equal('abcabc');
    c[1].outstanding = 1;
    expect(counts(lo, c, 10)).to.deep.equal({ a: 5, c: 5 });
  });

  it('fills idle backends first when statements stay in flight', () => {
    const lo = createBalancer('least-outstanding');
    const c = backends(1, 1, 1);
    c[0].outstanding = 2;
    const p = lo.pick(c)!;
    p.begin();
    const q = lo.pick(c)!;
    expect([p.id, q.id].sort()).to.deep.equal(['b', 'c']);
  });
});

describe('routing/balancer p2c-ewma', () => {
  it('is the default', () => {
    expect(DEFAULT_BALANCER).to.equal('p2c-ewma');
    expect(BALANCER_KINDS).to.include.members(['p2c-ewma', 'round-robin', 'least-outstanding']);
  });

  it('returns null for none, the only one for one, and the cheaper of two whatever the draw', () => {
    const p2c = createBalancer('p2c-ewma', seeded(1));
    expect(p2c.pick([])).to.equal(null);
    const [a, b] = backends(1, 1);
    expect(p2c.pick([a])).to.equal(a);
    a.observe(5, 100);
    b.observe(1, 100);
    // Fewer picks than the forgetting horizon (8 per candidate): the figures decide.
    for (let i = 0; i < 15; i++) expect(p2c.pick([a, b])).to.equal(b);
    b.outstanding = 9; // 1 * 10 > 5 * 1
    for (let i = 0; i < 15; i++) expect(p2c.pick([a, b])).to.equal(a);
  });

  it('forgets the figure of a backend not picked for 8 picks per candidate, so it is probed again', () => {
    const p2c = createBalancer('p2c-ewma', seeded(3));
    const [a, b] = backends(1, 1);
    a.observe(50, 100); // once slow
    b.observe(1, 100);
    const picks: string[] = [];
    while (picks.length < 40 && picks[picks.length - 1] !== 'a') picks.push(p2c.pick([a, b])!.id);
    expect(picks.slice(0, 17)).to.deep.equal(Array(17).fill('b'));
    // From the 18th pick its figure is unknown: it competes on load, and the draw decides ties.
    expect(picks.length, 'the starved one is probed').to.be.within(18, 24);
    expect(a.ewmaMs, 'its old figure forgotten: measured afresh').to.equal(0);
  });

  it('treats sub-millisecond figures within 0.5 ms as a tie (equal replicas measured 0.3 and 0.6 ms share a lone client)', () => {
    const p2c = createBalancer('p2c-ewma', seeded(8));
    const [a, b] = backends(1, 1);
    a.observe(0.3, 100);
    b.observe(0.6, 100);
    const n = counts(p2c, [a, b], 200);
    expect(n.a).to.be.within(70, 130);
    // A real gap still decides: 0.3 against 1.5 ms.
    const [c, d] = backends(1, 1);
    c.observe(0.3, 100);
    d.observe(1.5, 100);
    for (let i = 0; i < 15; i++) expect(p2c.pick([c, d])).to.equal(c);
  });

  it('weighs load when neither figure is known', () => {
    const p2c = createBalancer('p2c-ewma', seeded(6));
    const [a, b] = backends(1, 1);
    a.outstanding = 2;
    for (let i = 0; i < 20; i++) expect(p2c.pick([a, b])).to.equal(b);
  });

  it('sends most traffic to the faster backend but still some to the 10x slower one', () => {
    const two = simulate('p2c-ewma', backends(1, 1), [1, 10], 20, 2000);
    expect(two[0] / (two[0] + two[1])).to.be.above(0.85);
    expect(two[1]).to.be.above(0);
    const three = simulate('p2c-ewma', backends(1, 1, 1), [1, 1, 10], 10, 2000);
    const total = three[0] + three[1] + three[2];
    expect(three[2] / total).to.be.below(0.15);
    expect(three[0] / total).to.be.above(0.35);
    expect(three[1] / total).to.be.above(0.35);
  });

  it('probes a backend that lost every comparison once its figure is out of date', () => {
    const p2c = createBalancer('p2c-ewma', seeded(3));
    const [fast, slow] = backends(1, 1);
    slow.observe(10, 0);
    fast.observe(1, 1000);
    fast.outstanding = 1;
    expect(p2c.pick([fast, slow])).to.equal(fast); // 1 s later: 1 * 2 < ~9.1
    fast.observe(1, 30_000);
    expect(p2c.pick([fast, slow])).to.equal(slow); // 30 s later: faded to ~1.4 * 1 < 1 * 2
  });

  it('spreads a lone client\'s statements (one at a time) over equal replicas, and lets a once-slow one earn traffic back within 16 picks', () => {
    const p2c = createBalancer('p2c-ewma', seeded(7));
    const [a, b] = backends(1, 1);
    // Equal servers, figures a hair apart: one statement at a time, 10 ms apart.
    a.observe(0.50, 0);
    b.observe(0.52, 0);
    const n = { a: 0, b: 0 };
    let now = 0;
    for (let i = 0; i < 400; i++) {
      now += 10;
      const pick = p2c.pick([a, b])!;
      n[pick.id as 'a' | 'b']++;
      pick.observe(pick === a ? 0.5 + (i % 3) * 0.01 : 0.52 - (i % 2) * 0.01, now);
    }
    expect(n.a).to.be.within(120, 280);
    expect(n.b).to.be.within(120, 280);
    // b's first statement was slow (a cold cache): 10x. After a few seconds of a alone, b is picked again.
    const [c, d] = backends(1, 1);
    c.observe(0.5, 0);
    d.observe(5, 0);
    let firstD = -1;
    for (let t = 10; t <= 20_000 && firstD < 0; t += 10) {
      const pick = p2c.pick([c, d])!;
      if (pick === d) firstD = t;
      else c.observe(0.5, t);
    }
    // Passed over for more than 8 picks per candidate (16 here, 10 ms apart): d's figure is forgotten and it is probed.
    expect(firstD, 'the once-slow replica gets a statement again').to.equal(180);
  });

  it('lets a new, unmeasured backend compete on load alone', () => {
    const p2c = createBalancer('p2c-ewma', seeded(4));
    const [old, fresh] = backends(1, 1);
    old.observe(50, 100);
    const idle = counts(p2c, [old, fresh], 400); // a tie on cost: the random draw decides
    expect(idle.a).to.be.within(150, 250);
    old.outstanding = 1;
    expect(p2c.pick([old, fresh])).to.equal(fresh);
    fresh.outstanding = 3;
    expect(p2c.pick([old, fresh])).to.equal(old);
  });

  it('spreads an idle, unmeasured cluster across all backends', () => {
    const n = counts(createBalancer('p2c-ewma', seeded(5)), backends(1, 1, 1, 1), 4000);
    for (const id of ['a', 'b', 'c', 'd']) expect(n[id]).to.be.within(850, 1150);
  });

  it('respects weights roughly under load', () => {
    const [w1, w2, w3] = simulate('p2c-ewma', backends(1, 2, 3), [2, 2, 2], 10, 2000);
    expect(w1).to.be.below(w2);
    expect(w2).to.be.below(w3);
    expect(w3 / w1).to.be.within(2, 5);
  });

  it('never draws a weight-0 backend while another can take it', () => {
    const p2c = createBalancer('p2c-ewma', seeded(6));
    const c = backends(0, 1, 1);
    expect(counts(p2c, c, 500).a).to.equal(undefined);
    expect(p2c.pick(backends(0, 3))!.id).to.equal('b');
  });
});

describe('routing/balancer (all kinds)', () => {
  const weight = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constantFrom(-1, Number.NaN, Infinity, 0.5));
  const load = fc.record({
    id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
    weight,
    outstanding: fc.nat(50),
    ewma: fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 5000, noNaN: true })),
    sampledAt: fc.nat(100_000),
  });
  const sets = fc.array(fc.array(load, { maxLength: 8 }), { minLength: 1, maxLength: 20 });
  const randoms = fc.array(fc.oneof(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.constantFrom(1, Number.NaN)), { minLength: 1, maxLength: 16 });

  for (const kind of BALANCER_KINDS) {
    it(`${kind} never returns a backend outside the candidates`, () => {
      fc.assert(
        fc.property(sets, randoms, (rounds, rs) => {
          let r = 0;
          const bal = createBalancer(kind, () => rs[r++ % rs.length]);
          for (const round of rounds) {
            const c = round.map((l) => {
              const b = new BackendLoad(l.id, l.weight);
              b.outstanding = l.outstanding;
              b.ewmaMs = l.ewma;
              b.sampledAt = l.sampledAt;
              return b;
            });
            for (let i = 0; i < 3; i++) {
              const p = bal.pick(c);
              if (c.length === 0) expect(p).to.equal(null);
              else expect(c).to.include(p);
            }
          }
        }),
        { numRuns: 300 },
      );
    });
  }

  it('refuses an unknown kind when built, not when picking', () => {
    expect(() => createBalancer('random' as BalancerKind)).to.throw(/unknown balancer kind/);
  });
});
