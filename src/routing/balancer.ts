/**
 * Balancers pick one backend among candidates: the replicas for a read, or every backend
 * of a `tidb` cluster. Pure and synchronous. The pool and session keep the live numbers
 * in one long-lived BackendLoad per backend; a balancer only reads them.
 *
 * p2c-ewma is the default, and this is why:
 * - It adapts. A replica that turns slow (catching up on lag, running a heavy report,
 *   a noisy neighbour) gets a higher latency EWMA and more statements in flight, so it
 *   loses most comparisons within a few statements. Round robin keeps sending it a full
 *   share.
 * - It does not herd. Each worker decides alone from its own numbers. "Always the best
 *   backend" (least-outstanding, or the lowest EWMA) sends every worker to the same
 *   backend at the same moment. With two random choices, the best backend only
 *   takes part in about 2/n of the comparisons, so load spreads while the worst backend
 *   is still avoided (Mitzenmacher, "The Power of Two Choices"; Finagle and Linkerd use
 *   P2C with EWMA for this reason).
 * - Its decision is O(1). It reads the live numbers of two backends, not all of them.
 *   The weighted draw is one pass of additions over a handful of weights.
 * round-robin gives exact shares when latency is not a useful signal. least-outstanding
 * suits a single worker with long statements.
 *
 * Hot path: pick() allocates nothing. Round robin allocates one small state object the
 * first time it sees an id. Nothing throws for odd live numbers: a weight that is not a
 * positive finite number counts as 0, meaning "no new traffic while another candidate
 * can take it". If every weight is 0, all count as equal.
 */

export type BalancerKind = 'p2c-ewma' | 'round-robin' | 'least-outstanding';
export const BALANCER_KINDS: readonly BalancerKind[] = Object.freeze(['p2c-ewma', 'round-robin', 'least-outstanding']);
export const DEFAULT_BALANCER: BalancerKind = 'p2c-ewma';

/** EWMA decay constant: a sample's weight grows with the time since the previous sample. */
export const EWMA_TAU_MS = 10_000;
/** The first samples are plainly averaged, so one odd first statement does not stick for tau. */
const WARMUP_SAMPLES = 8;
/** No MySQL round trip is faster. This floor keeps a measured figure from reading as 0 ("unknown"). */
const MIN_SAMPLE_MS = 0.01;
/** Figure used when neither of the two compared backends is measured. It cancels out of the comparison. */
const UNKNOWN_EWMA_MS = 1;
/**
 * How fast a figure nobody refreshes fades toward its fresher peer's (time constant). Shorter
 * than EWMA_TAU_MS: a backend that lost every comparison (say, its first statement was slow)
 * competes again within seconds, not tens of seconds, however little traffic there is.
 */
const FADE_TAU_MS = 2_000;
/**
 * Costs within this fraction of each other are a tie, won by the first (random) draw: equal
 * backends share even a lone client's statements instead of the one with a hair's lower
 * figure taking them all.
 */
const TIE_BAND = 0.25;
/**
 * And costs within this many ms are a tie too: sub-millisecond statements on equal servers
 * differ by more than 25% from one sample to the next, and without it whichever replica
 * measured a hair faster would take a lone client's reads. A 10x slower replica still loses.
 */
const TIE_MS = 0.5;
/**
 * A backend not picked in this many p2c picks per candidate has its figure forgotten (back to
 * unknown: it then competes on load alone until its own samples speak). Time-based fading
 * cannot help a lone fast client (60 statements pass in a few ms); counting picks can, and a
 * truly slow backend pays for it with about one statement in this many times the candidates.
 */
const FORGET_AFTER_PICKS = 8;
/** p2c picks made in this worker: the clock the forgetting above runs on. */
let pickSeq = 0;
/** Round robin forgets old ids once it holds this many. Ids only change on reload. */
const MAX_RR_STATES = 1024;

/** Live per-backend numbers that the pool and session update. One object per backend, long-lived. */
export class BackendLoad {
  /** Statements in flight on this backend from this worker. */
  outstanding = 0;
  /** Latency EWMA in ms. 0 means unknown; setting it back to 0 restarts the warm-up. */
  ewmaMs = 0;
  /** Time of the newest sample (ms, same clock as observe's `now`). p2c ages stale figures by it. */
  sampledAt = 0;
  /** The p2c pick (pickSeq) that last chose this backend. */
  lastPick = 0;
  private samples = 0;

  constructor(readonly id: string, public weight: number) {}

  /**
   * Record one statement's latency. The sample counts with weight 1 - exp(-dt/tau), so the
   * figure is a time average: after a long idle spell a new sample replaces the old figure,
   * and samples from the same millisecond add nothing (one per ms is plenty). Use a
   * monotonic clock (performance.now()); if the clock goes backwards, the sample is ignored
   * after warm-up.
   */
  observe(latencyMs: number, now: number): void {
    if (!(latencyMs >= 0 && latencyMs < Infinity)) return;
    const x = latencyMs > MIN_SAMPLE_MS ? latencyMs : MIN_SAMPLE_MS;
    if (this.ewmaMs === 0) this.samples = 0;
    const dt = now - this.sampledAt;
    let alpha = dt > 0 ? 1 - Math.exp(-dt / EWMA_TAU_MS) : 0;
    if (this.samples < WARMUP_SAMPLES) alpha = Math.max(alpha, 1 / ++this.samples);
    this.ewmaMs += (x - this.ewmaMs) * alpha;
    if (now > this.sampledAt) this.sampledAt = now;
  }

  begin(): void {
    this.outstanding++;
  }

  /** Never goes below 0: a double end() must not make the backend look better than idle. */
  end(): void {
    if (this.outstanding > 0) this.outstanding--;
  }
}

export interface Balancer {
  /** Pick one of `candidates`. Returns null only when there are none. */
  pick(candidates: readonly BackendLoad[]): BackendLoad | null;
}

/** One balancer per candidate pool and worker (round robin keeps state per id). */
export function createBalancer(kind: BalancerKind, random: () => number = Math.random): Balancer {
  switch (kind) {
    case 'p2c-ewma': return new PowerOfTwoEwma(random);
    case 'round-robin': return new SmoothRoundRobin();
    case 'least-outstanding': return new LeastOutstanding();
  }
  throw new Error(`unknown balancer kind "${String(kind)}"`);
}

function weightOf(b: BackendLoad): number {
  const w = b.weight;
  return w > 0 && w < Infinity ? w : 0;
}

function totalWeight(c: readonly BackendLoad[]): number {
  let t = 0;
  for (let i = 0; i < c.length; i++) t += weightOf(c[i]);
  return t;
}

class PowerOfTwoEwma implements Balancer {
  constructor(private readonly random: () => number) {}

  pick(c: readonly BackendLoad[]): BackendLoad | null {
    const n = c.length;
    if (n <= 1) return n === 1 ? c[0] : null;
    let total = totalWeight(c);
    const uniform = total === 0;
    if (uniform) total = n;
    const i = draw(c, uniform, total, -1, this.random());
    const rest = total - (uniform ? 1 : weightOf(c[i]));
    if (!(rest > 0)) return c[i];
    const j = n === 2 ? 1 - i : draw(c, uniform, rest, i, this.random());
    const seq = ++pickSeq;
    const a = c[i];
    const b = c[j];
    const stale = FORGET_AFTER_PICKS * n;
    // The clock starts the first time a backend is a candidate.
    if (a.lastPick === 0) a.lastPick = seq;
    if (b.lastPick === 0) b.lastPick = seq;
    if (a.ewmaMs !== 0 && seq - a.lastPick > stale) a.ewmaMs = 0;
    if (b.ewmaMs !== 0 && seq - b.lastPick > stale) b.ewmaMs = 0;
    const w = cheaper(a, b, uniform);
    w.lastPick = seq;
    return w;
  }
}

/** Index of a weighted random candidate other than `skip`; `x` is in [0, 1). */
function draw(c: readonly BackendLoad[], uniform: boolean, total: number, skip: number, x: number): number {
  let r = x * total;
  for (let k = 0; k < c.length; k++) {
    if (k === skip) continue;
    r -= uniform ? 1 : weightOf(c[k]);
    if (r < 0) return k;
  }
  // Reached only through float rounding or a random() that returned 1 (or NaN).
  for (let k = c.length - 1; k >= 0; k--) if (k !== skip && (uniform || weightOf(c[k]) > 0)) return k;
  return skip === 0 ? 1 : 0;
}

/**
 * Lower cost wins, where cost = EWMA × (outstanding + 1) / weight. Compared by cross-multiplying,
 * so weight 0 needs no special case. On a tie (costs within TIE_BAND or TIE_MS) `a` wins; `a` is the
 * first random draw.
 * If one figure is unknown, it takes the peer's figure, so a new backend competes on load
 * alone: it gets no burst and is not starved. The staler figure fades toward the fresher one.
 */
function cheaper(a: BackendLoad, b: BackendLoad, uniform: boolean): BackendLoad {
  const a0 = a.ewmaMs;
  const b0 = b.ewmaMs;
  let ea = a0;
  let eb = b0;
  if (a0 === 0 && b0 === 0) ea = eb = UNKNOWN_EWMA_MS;
  else if (a0 === 0) ea = b0;
  else if (b0 === 0) eb = a0;
  else if (a.sampledAt < b.sampledAt) ea = fade(a0, b0, b.sampledAt - a.sampledAt);
  else if (b.sampledAt < a.sampledAt) eb = fade(b0, a0, a.sampledAt - b.sampledAt);
  const wa = uniform ? 1 : weightOf(a);
  const wb = uniform ? 1 : weightOf(b);
  const costA = ea * (a.outstanding + 1) * wb;
  const costB = eb * (b.outstanding + 1) * wa;
  return costA <= costB * (1 + TIE_BAND) || costA - costB <= TIE_MS * wa * wb ? a : b;
}

/**
 * A backend that loses every comparison gets no new samples, so its figure never changes.
 * Aging that figure toward its fresher peer's means that, once the number has had time to
 * go out of date (a 10x gap closes to 2x in about 4.4 s), any load on the peer sends a
 * probe its way. Unlike aging toward 0, this causes no burst.
 */
function fade(stale: number, fresh: number, ageMs: number): number {
  return fresh + (stale - fresh) * Math.exp(-ageMs / FADE_TAU_MS);
}

interface RrState {
  current: number;
  /** The last pick this id was a candidate in, and its weight then: tell a changed set from a stable one. */
  seen: number;
  weight: number;
}

/** nginx's smooth weighted round robin: add each weight to its current, take the max, subtract the total. */
class SmoothRoundRobin implements Balancer {
  private readonly states = new Map<string, RrState>();
  /** This pick's states, by candidate index. Reused so a pick allocates nothing. */
  private readonly scratch: RrState[] = [];
  private tick = 0;
  private lastN = 0;
  /** Picks since the set last changed, counted up to the set's size. */
  private stable = 0;

  pick(c: readonly BackendLoad[]): BackendLoad | null {
    const n = c.length;
    if (n <= 1) return n === 1 ? c[0] : null;
    const s = this.scratch;
    const prev = this.tick;
    const tick = (this.tick = (prev + 1) & 0x3fffffff);
    let changed = n !== this.lastN;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const st = (s[i] = this.stateOf(c[i].id));
      const w = weightOf(c[i]);
      if (st.seen !== prev || st.weight !== w) changed = true;
      st.seen = tick;
      st.weight = w;
      total += w;
    }
    this.lastN = n;
    const uniform = total === 0;
    if (uniform) total = n;
    if (!changed) {
      if (this.stable < n) this.stable++;
    } else {
      if (this.stable >= n) rebase(s, n, total);
      this.stable = 0;
    }
    let best = 0;
    let bestCurrent = -Infinity;
    for (let i = 0; i < n; i++) {
      const w = uniform ? 1 : weightOf(c[i]);
      if (w === 0) continue;
      const cur = (s[i].current += w);
      if (cur > bestCurrent) {
        bestCurrent = cur;
        best = i;
      }
    }
    s[best].current -= total;
    return c[best];
  }

  private stateOf(id: string): RrState {
    let st = this.states.get(id);
    if (st === undefined) {
      if (this.states.size >= MAX_RR_STATES) this.states.clear();
      st = { current: 0, seen: -1, weight: 0 };
      this.states.set(id, st);
    }
    return st;
  }
}

/**
 * Called when a set that was stable for a round changes: a backend leaves or comes back, an
 * id is new, or a weight changes on reload. The algorithm relies on the set's `current` values summing to 0, and their
 * spread still reflects the old set. After a weight-1000 backend leaves, two weight-1
 * backends can be ~1000 apart, which means 500 picks in a row for one of them. So each lead
 * or debt is capped at one round of the new set (±total), and the sum is spread back to 0 in
 * whole steps (integer weights stay exact).
 * A set that flaps pick by pick (callers filtering per session) is not rebased. With plain
 * nginx arithmetic, a backend that is never picked keeps gaining until it wins; capping
 * every pick could starve it. Shares across interleaved sets are approximate either way.
 */
function rebase(s: RrState[], n: number, total: number): void {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const cur = s[i].current;
    const capped = cur > total ? total : cur < -total ? -total : cur;
    s[i].current = capped;
    sum += capped;
  }
  const q = Math.trunc(sum / n);
  let r = sum - q * n;
  for (let i = 0; i < n; i++) {
    let d = q;
    if (r >= 1) { d++; r--; } else if (r <= -1) { d--; r++; } else if (r !== 0) { d += r; r = 0; }
    s[i].current -= d;
  }
}

/** Fewest statements in flight per unit of weight. Ties take turns, so an idle cluster still spreads. */
class LeastOutstanding implements Balancer {
  private turn = 0;

  pick(c: readonly BackendLoad[]): BackendLoad | null {
    const n = c.length;
    if (n <= 1) return n === 1 ? c[0] : null;
    const uniform = totalWeight(c) === 0;
    let bestOut = 0;
    let bestW = 0;
    let ties = 0;
    for (let i = 0; i < n; i++) {
      const w = uniform ? 1 : weightOf(c[i]);
      if (w === 0) continue;
      const o = c[i].outstanding;
      if (ties === 0 || o * bestW < bestOut * w) {
        bestOut = o;
        bestW = w;
        ties = 1;
      } else if (o * bestW === bestOut * w) ties++;
    }
    let k = this.turn % ties;
    this.turn = (this.turn + 1) & 0x3fffffff;
    for (let i = 0; i < n; i++) {
      const w = uniform ? 1 : weightOf(c[i]);
      if (w !== 0 && c[i].outstanding * bestW === bestOut * w && k-- === 0) return c[i];
    }
    return c[0]; // only reachable when outstanding is NaN
  }
}
