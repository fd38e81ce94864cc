/**
 * users[].limits in a worker. Connections are admitted by the master (one count over all
 * workers: exact); statements are limited here, with this worker's share of the user's
 * concurrency and rate: the fraction of the user's connections it holds (the master sends it
 * with each admission and whenever the spread changes), so the instance as a whole keeps
 * close to the configured figures wherever the user's sessions land. A statement over a
 * limit waits in FIFO order up to queueMs, or is refused with ERR 1226.
 */
import type { UserConfig, UserLimitsConfig } from '../config/types.js';
import { DBM_ERR } from '../errors/index.js';
import { CommandFailed } from './session-lease.js';

/** One user's limits and their state in this worker. */
export class UserLimitState {
  /** Statements admitted and not finished. */
  busy = 0;
  private tokens: number;
  private refilledAt = performance.now();
  readonly waiters: Waiter[] = [];
  /** Connections of the user this worker holds (admitted here or moved here). */
  connections = 0;
  /** Set when waiters wait for a token: the time one arrives. */
  timer: NodeJS.Timeout | null = null;

  constructor(readonly user: string, public limits: UserLimitsConfig, public share: number) {
    this.tokens = this.capacity;
  }

  /** Statements this worker lets run at once (at least one). */
  get maxBusy(): number {
    const n = this.limits.maxConcurrentStatements;
    return n === undefined ? Infinity : Math.max(1, Math.round(n * this.share));
  }

  /** Tokens per second here (0: no rate limit). */
  get rate(): number {
    const r = this.limits.statementsPerSecond;
    return r === undefined ? 0 : r * this.share;
  }

  /** A second's worth of tokens, at least one. */
  private get capacity(): number {
    return Math.max(1, this.rate);
  }

  private refill(now: number): void {
    const rate = this.rate;
    if (rate === 0) return;
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.refilledAt) * rate) / 1000);
    this.refilledAt = now;
  }

  /** Take a slot and a token if both are there. */
  tryTake(): boolean {
    if (this.busy >= this.maxBusy) return false;
    if (this.rate > 0) {
      this.refill(performance.now());
      if (this.tokens < 1) return false;
      this.tokens -= 1;
    }
    this.busy++;
    return true;
  }

  /** Milliseconds until the next token (0 when one is there or there is no rate). */
  tokenWaitMs(): number {
    const rate = this.rate;
    if (rate === 0) return 0;
    this.refill(performance.now());
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / rate);
  }

  /** Why a statement cannot run now (the ERR 1226 it gets when it may not wait). */
  refusal(waitedMs: number): CommandFailed {
    const byConcurrency = this.busy >= this.maxBusy;
    const resource = byConcurrency ? 'maxConcurrentStatements' : 'statementsPerSecond';
    const current = byConcurrency ? String(this.busy) : String(this.limits.statementsPerSecond);
    const queue = this.limits.queueMs ?? 0;
    const how = queue === 0 ? '; set users[].limits.queueMs to let statements wait their turn' : `; waited ${waitedMs} ms (users[].limits.queueMs = ${queue})`;
    return new CommandFailed(DBM_ERR.USER_LIMIT, [this.user, resource, current, ` (dbmesh: users[].limits.${resource}${how})`]);
  }
}

interface Waiter {
  readonly since: number;
  readonly resolve: (refused: CommandFailed | null) => void;
  timer: NodeJS.Timeout | null;
}

export class UserLimits {
  private byUser = new Map<string, UserLimitState>();
  /** This worker's share of a user's limits before the master says (1 / workers). */
  private defaultShare = 1;

  configure(users: readonly UserConfig[], workers: number): void {
    this.defaultShare = 1 / Math.max(1, workers);
    const next = new Map<string, UserLimitState>();
    for (const u of users) {
      if (u.limits === undefined) continue;
      const old = this.byUser.get(u.name);
      if (old !== undefined) {
        old.limits = u.limits;
        next.set(u.name, old);
      } else {
        next.set(u.name, new UserLimitState(u.name, u.limits, this.defaultShare));
      }
    }
    // A user whose limits were removed: its waiters go at once.
    for (const [name, st] of this.byUser) if (!next.has(name)) for (const w of st.waiters.splice(0)) settle(w, null);
    this.byUser = next;
  }

  /** The state a session of `user` keeps (null: no limits, nothing to check). */
  stateOf(user: UserConfig): UserLimitState | null {
    return this.byUser.get(user.name) ?? null;
  }

  stateByName(name: string): UserLimitState | null {
    return this.byUser.get(name) ?? null;
  }

  /** The master's word on this worker's share of each user's limits. */
  setShares(shares: Record<string, number>): void {
    for (const [name, share] of Object.entries(shares)) {
      const st = this.byUser.get(name);
      if (st !== undefined && typeof share === 'number' && share > 0 && share <= 1) {
        st.share = share;
        this.serve(st);
      }
    }
  }

  /**
   * A statement wants to run: null when it may (a slot is taken: call leave when it ends), a
   * refusal, or a promise that settles when its turn came (null, slot taken) or its wait ran out.
   */
  enter(st: UserLimitState): null | CommandFailed | Promise<CommandFailed | null> {
    if (st.waiters.length === 0 && st.tryTake()) return null;
    const queueMs = st.limits.queueMs ?? 0;
    if (queueMs === 0) return st.refusal(0);
    return new Promise((resolve) => {
      const w: Waiter = { since: Date.now(), resolve, timer: null };
      w.timer = setTimeout(() => {
        const i = st.waiters.indexOf(w);
        if (i >= 0) st.waiters.splice(i, 1);
        w.timer = null;
        resolve(st.refusal(Date.now() - w.since));
      }, queueMs);
      st.waiters.push(w);
      this.serve(st);
    });
  }

  /** A statement admitted by enter() ended. */
  leave(st: UserLimitState): void {
    if (st.busy > 0) st.busy--;
    if (st.waiters.length > 0) this.serve(st);
  }

  /** Let waiters in, in order, while slots and tokens last; wake again when the next token comes. */
  private serve(st: UserLimitState): void {
    while (st.waiters.length > 0 && st.tryTake()) settle(st.waiters.shift()!, null);
    if (st.waiters.length === 0 || st.timer !== null || st.busy >= st.maxBusy) return;
    const wait = st.tokenWaitMs();
    st.timer = setTimeout(() => {
      st.timer = null;
      this.serve(st);
    }, Math.max(1, wait));
  }
}

function settle(w: Waiter, refused: CommandFailed | null): void {
  if (w.timer !== null) clearTimeout(w.timer);
  w.timer = null;
  w.resolve(refused);
}
