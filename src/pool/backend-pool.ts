/**
 * The connections one worker keeps to one backend: idle connections per login shape (LIFO,
 * so a hot connection is reused and cold ones age out), a per-backend limit with a FIFO wait
 * queue, idle timeout, maximum lifetime, keep-alive pings and warm-up to `minIdle`.
 *
 * The limit counts every connection to the backend, whatever its shape: when the backend is
 * full and a waiter needs a shape no idle connection has, an idle connection of another
 * shape is closed to make room.
 */
import type { BackendConfig, PoolConfig } from '../config/types.js';
import { CLIENT_DEPRECATE_EOF, CLIENT_MULTI_RESULTS, CLIENT_PROTOCOL_41, CLIENT_PS_MULTI_RESULTS, CLIENT_SESSION_TRACK, COM_PING, COM_QUIT, COM_RESET_CONNECTION } from '../protocol/constants.js';
import { frame } from '../protocol/framing.js';
import { ResponseKind } from '../protocol/response-scanner.js';
import { BackendLoginError, connectBackend, type BackendSession } from './backend-connect.js';
import { BackendConn, type LoginShape } from './backend-conn.js';
import { enableTracking, exchange } from './conn-exchange.js';

/** Capabilities that change the shape of responses: the server must grant all the client asked. */
const SHAPE_CAPS = CLIENT_DEPRECATE_EOF | CLIENT_PROTOCOL_41 | CLIENT_SESSION_TRACK | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS;

/** Connections a warm-up opens at once. */
const WARM_UP_LANES = 2;

/**
 * Logins in flight at once (per pool and worker) for statements that found no idle
 * connection; the others wait for one. A short statement ends long before a new login does,
 * so a burst of 2,000 statements is served by the connections that free up while the pool
 * grows a few at a time, instead of opening one per statement.
 */
const MAX_OPENING = 4;
/** A connection closed to make room that the server has not closed this long after COM_QUIT is dropped. */
const QUIT_CLOSE_TIMEOUT_MS = 2000;
/** After the server's "Too many connections" the pool stays at the size it had for this long. */
const LEARNED_LIMIT_MS = 60_000;
const ER_CON_COUNT_ERROR = 1040;

/** The backend is at its limit and no connection came free in time. */
export class PoolExhausted extends Error {
  constructor(readonly backendId: string, readonly limit: number, readonly waitedMs: number) {
    super(`backend ${backendId} is at maxConnections=${limit}; waited ${waitedMs} ms`);
  }
}

/** The server refused or does not speak what the client asked (message for the client). */
export class ShapeMismatch extends Error {}

interface Waiter {
  readonly shape: LoginShape;
  readonly schema: string | null;
  /** Only a connection with no database selected will do. */
  readonly noSchema: boolean;
  readonly since: number;
  readonly resolve: (c: BackendConn) => void;
  readonly reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

export interface PoolStats {
  readonly backend: string;
  readonly open: number;
  readonly idle: number;
  readonly waiting: number;
  readonly opened: number;
  readonly acquireTimeouts: number;
  /** Acquires that waited for a connection, and their total wait in ms (since the worker started). */
  readonly waits?: number;
  readonly waitMs?: number;
}

/** How long a prepared-statement budget learnt from a 1461 holds. */
const PREPARED_BUDGET_MEMORY_MS = 10 * 60 * 1000;

export class BackendPool {
  /** See setAutoLimit and limit. */
  private autoLimit = 0;
  /** The pool's size when the server last answered 1040 to a new login (0: none), and until when it holds. */
  private learnedLimit = 0;
  private learnedUntil = 0;
  /** Logins in flight (MAX_OPENING). */
  private opening = 0;
  /** Drained or disabled: connections close when released (see setLeaving). */
  private leaving = false;
  private readonly idle = new Map<string, BackendConn[]>();
  private readonly shapes = new Map<string, { shape: LoginShape; schema: string | null }>();
  private readonly waiters: Waiter[] = [];
  /** Every open connection counted here, idle or borrowed (statement housekeeping). */
  private readonly live = new Set<BackendConn>();
  /**
   * Statements this worker may keep prepared on this backend, over all its connections; 0 =
   * unknown. Learnt from the server's own answer when it refuses a prepare (1461 names its
   * max_prepared_stmt_count): a fair share of it, so dbmesh never takes the whole server-wide
   * allowance from the applications that share the server.
   */
  private preparedBudget = 0;
  /** The budget is forgotten then (ms since epoch): the server's limit may have been raised. */
  private preparedBudgetUntil = 0;
  /** Open connections per login shape (what a successor worker should warm up). */
  private readonly openByShape = new Map<string, number>();
  /** Open connections plus those being opened. */
  private open = 0;
  private idleCount = 0;
  private opened = 0;
  private acquireTimeouts = 0;
  /** Acquires that had to wait for a connection, and their total wait (ms). */
  private waits = 0;
  private waitMs = 0;
  private closed = false;

  constructor(
    public backend: BackendConfig,
    public settings: PoolConfig,
    private readonly connectTimeoutMs: number,
    private readonly onWarning: (msg: string, fields: Record<string, unknown>) => void,
  ) {}

  get id(): string {
    return this.backend.id;
  }

  /**
   * Connections this pool may hold: the backend's `maxConnections` when set; otherwise this
   * worker's share of the server's own max_connections (setAutoLimit); and for a while after
   * the server refused a login with 1040, no more than the pool held then. 0: no limit.
   */
  get limit(): number {
    let limit = this.backend.maxConnections || this.autoLimit;
    if (this.learnedLimit > 0) {
      if (Date.now() > this.learnedUntil) this.learnedLimit = 0;
      else limit = limit === 0 ? this.learnedLimit : Math.min(limit, this.learnedLimit);
    }
    return limit;
  }

  /** This worker's share of the server's max_connections (0: unknown); used when the config sets no maxConnections. */
  setAutoLimit(n: number): void {
    if (n === this.autoLimit) return;
    this.autoLimit = n;
    this.serveWaiters();
  }

  /**
   * An idle connection of this shape, at once, or null. `noSchema`: only one with no database
   * selected (a session without one must not run on a connection that has one: no command
   * unselects a database, and unqualified names would resolve there).
   */
  tryAcquire(shape: LoginShape, noSchema = false): BackendConn | null {
    const stack = this.idle.get(shape.key);
    if (stack === undefined) return null;
    if (noSchema) return this.takeWithoutSchema(stack);
    while (stack.length > 0) {
      const c = stack.pop()!;
      this.idleCount--;
      if (!c.dead) return c;
    }
    return null;
  }

  private takeWithoutSchema(stack: BackendConn[]): BackendConn | null {
    for (let i = stack.length - 1; i >= 0; i--) {
      const c = stack[i]!;
      if (c.dead || c.schema !== null) continue;
      stack.splice(i, 1);
      this.idleCount--;
      return c;
    }
    return null;
  }

  /** A connection of this shape; with `exactSchema` and no schema, one without a database selected. */
  acquire(shape: LoginShape, schema: string | null, exactSchema = false): Promise<BackendConn> {
    const c = this.tryAcquire(shape, exactSchema && schema === null);
    if (c !== null) return Promise.resolve(c);
    if (this.closed) return Promise.reject(new Error(`backend ${this.id} was removed from the configuration`));
    if (!this.shapes.has(shape.key)) this.shapes.set(shape.key, { shape, schema });
    const noSchema = exactSchema && schema === null;
    if (this.canOpen()) return this.openFor(shape, schema, noSchema);
    if (!this.hasRoom()) {
      const other = this.takeAnyIdle();
      if (other !== null) return this.replace(other, shape, schema, noSchema);
    }
    return this.wait(shape, schema, noSchema);
  }

  /**
   * Close `conn` to make room for a login of another shape. The login starts once the server
   * has closed `conn` (it answers COM_QUIT by closing), and its slot is held until then, so
   * the server never sees more connections than the limit, not even for a moment.
   */
  private async replace(conn: BackendConn, shape: LoginShape, schema: string | null, noSchema: boolean): Promise<BackendConn> {
    const socket = conn.socket;
    const closed = socket.destroyed ? Promise.resolve() : new Promise<void>((resolve) => {
      const stuck = setTimeout(() => socket.destroy(), QUIT_CLOSE_TIMEOUT_MS).unref();
      socket.once('close', () => {
        clearTimeout(stuck);
        resolve();
      });
    });
    this.open++; // the slot stays taken until the close
    this.retire(conn);
    // Read to the end: a socket paused for backpressure would never see the close.
    conn.input.handler = () => {};
    socket.resume();
    await closed;
    this.open--;
    return this.openFor(shape, schema, noSchema);
  }

  /**
   * Open a connection for a statement. When the server answers 1040 (too many connections)
   * while this pool holds others, the pool keeps its present size as its limit for a while and
   * the statement waits for one of them (acquireTimeoutMs) instead of failing.
   */
  private openFor(shape: LoginShape, schema: string | null, noSchema: boolean): Promise<BackendConn> {
    return this.openConn(shape, schema).catch((err: unknown) => {
      if (!tooManyConnections(err) || this.open === 0 || this.closed) throw err;
      this.learnLimit();
      return this.wait(shape, schema, noSchema);
    });
  }

  /** The server refused a login with 1040: stay at the size we have for a while (logged once per episode). */
  private learnLimit(): void {
    const fresh = this.learnedLimit === 0 || Date.now() > this.learnedUntil;
    this.learnedLimit = Math.max(1, this.open);
    this.learnedUntil = Date.now() + LEARNED_LIMIT_MS;
    if (fresh) {
      this.onWarning('backend refused a new connection: too many connections; statements wait for a pooled one', {
        backend: this.id, connections: this.open, for_ms: LEARNED_LIMIT_MS,
        hint: `raise the server's max_connections, or set maxConnections for backend ${this.id}`,
      });
    }
  }

  /** Queue for the next connection that comes free (FIFO), at most acquireTimeoutMs. */
  private wait(shape: LoginShape, schema: string | null, noSchema: boolean): Promise<BackendConn> {
    return new Promise((resolve, reject) => {
      const since = Date.now();
      const done = (): void => {
        this.waits++;
        this.waitMs += Date.now() - since;
      };
      const w: Waiter = {
        shape, schema, noSchema, since,
        resolve: (c) => { done(); resolve(c); }, reject: (e) => { done(); reject(e); }, timer: null,
      };
      w.timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        done();
        this.acquireTimeouts++;
        reject(new PoolExhausted(this.id, this.limit, Date.now() - w.since));
      }, this.settings.acquireTimeoutMs);
      this.waiters.push(w);
    });
  }

  /** A borrower gives the connection back. */
  release(conn: BackendConn): void {
    conn.owner = null;
    conn.lastUsedAt = Date.now();
    if (conn.dead) return;
    conn.flushCloses();
    if (this.closed || this.leaving || this.expired(conn, conn.lastUsedAt)) return this.retire(conn);
    const w = this.waiters.shift();
    if (w !== undefined) {
      if (w.timer) clearTimeout(w.timer);
      if (w.shape.key === conn.shape.key && (!w.noSchema || conn.schema === null)) return w.resolve(conn);
      this.replace(conn, w.shape, w.schema, w.noSchema).then(w.resolve, w.reject);
      return;
    }
    let stack = this.idle.get(conn.shape.key);
    if (stack === undefined) this.idle.set(conn.shape.key, stack = []);
    stack.push(conn);
    this.idleCount++;
  }

  /**
   * Reset a connection a session left state on (locks, temporary tables, an open
   * transaction) before it goes back, so nothing it holds outlives the session.
   */
  recycle(conn: BackendConn): void {
    conn.owner = null;
    if (conn.dead) return;
    exchange(conn, Buffer.from([COM_RESET_CONNECTION]), ResponseKind.Single, this.connectTimeoutMs).then(() => {
      conn.afterReset();
      return enableTracking(conn, this.connectTimeoutMs);
    }).then(() => this.release(conn), () => this.discard(conn));
  }

  /** A connection that arrived with a session moved from another worker now counts here. */
  adopt(conn: BackendConn): void {
    this.open++;
    this.counted(conn);
  }

  private counted(conn: BackendConn): void {
    conn.onGone = () => this.gone(conn);
    this.live.add(conn);
    this.openByShape.set(conn.shape.key, (this.openByShape.get(conn.shape.key) ?? 0) + 1);
  }

  private uncounted(conn: BackendConn): void {
    conn.onGone = null;
    this.live.delete(conn);
    this.open--;
    const n = (this.openByShape.get(conn.shape.key) ?? 1) - 1;
    if (n > 0) this.openByShape.set(conn.shape.key, n);
    else this.openByShape.delete(conn.shape.key);
  }

  /** The connection leaves this worker with its session (hand-off): no longer counted here. */
  forget(conn: BackendConn): void {
    if (conn.onGone === null) return;
    this.uncounted(conn);
    this.serveWaiters();
  }

  /** A borrower found the connection unusable (mid-response loss, protocol trouble). */
  discard(conn: BackendConn): void {
    conn.owner = null;
    if (!conn.dead) conn.kill('discarded');
  }

  // ------------------------------------------------------------------ prepared statements

  /** No session of this worker uses the statement any more: close it on every connection. */
  dropStatement(key: string): void {
    for (const c of this.live) c.dropStatement(key);
  }

  /**
   * The server refused a prepare with 1461 (max_prepared_stmt_count reached, server-wide):
   * learn the limit from its message, and close the statements cached on connections nobody
   * is using now (they are prepared again when next needed). `keep` is the connection that
   * will retry. Returns how many statements were closed.
   */
  onPreparedLimit(errMessage: string, keep: BackendConn, workers: number): number {
    const m = /current value: (\d+)/.exec(errMessage);
    if (m !== null) {
      this.preparedBudget = Math.max(1, Math.floor(Number(m[1]) / (2 * Math.max(1, workers))));
      this.preparedBudgetUntil = Date.now() + PREPARED_BUDGET_MEMORY_MS;
    }
    let closed = keep.evictTo(0);
    for (const stack of this.idle.values()) for (const c of stack) closed += c.evictTo(0);
    return closed;
  }

  /**
   * Keep this worker's statements on the backend within its budget once one is known: the
   * connection about to prepare gives up its least recently used ones first, then idle ones.
   */
  makeRoomForStatement(conn: BackendConn): void {
    if (this.preparedBudget === 0) return;
    if (Date.now() > this.preparedBudgetUntil) {
      this.preparedBudget = 0;
      return;
    }
    let need = this.preparedCount + 1 - this.preparedBudget;
    if (need <= 0) return;
    need -= conn.evictTo(Math.max(0, conn.preparedCount - need));
    for (const stack of this.idle.values()) {
      for (const c of stack) {
        if (need <= 0) return;
        need -= c.evictTo(Math.max(0, c.preparedCount - need));
      }
    }
  }

  /** Statements this worker has prepared on the backend (all connections). */
  get preparedCount(): number {
    let n = 0;
    for (const c of this.live) n += c.preparedCount;
    return n;
  }

  /** Idle housekeeping: timeouts, lifetime, keep-alive, minIdle. Called about once a second. */
  maintain(now: number): void {
    const s = this.settings;
    for (const stack of this.idle.values()) {
      for (let i = stack.length - 1; i >= 0; i--) {
        const c = stack[i]!;
        const idleFor = now - c.lastUsedAt;
        const surplus = this.idleCount > s.minIdle;
        if (c.dead || this.expired(c, now) || (surplus && idleFor > s.idleTimeoutMs)) {
          stack.splice(i, 1);
          this.idleCount--;
          if (!c.dead) this.retire(c);
        } else if (s.keepAliveMs > 0 && idleFor > s.keepAliveMs) {
          stack.splice(i, 1);
          this.idleCount--;
          this.ping(c);
        }
      }
    }
    this.warm();
  }

  /** Shapes in use here with their open connection counts and first schema. */
  shapesInUse(): { shape: LoginShape; schema: string | null; open: number }[] {
    const out: { shape: LoginShape; schema: string | null; open: number }[] = [];
    for (const [key, open] of this.openByShape) {
      const seen = this.shapes.get(key);
      if (seen !== undefined && open > 0) out.push({ shape: seen.shape, schema: seen.schema, open });
    }
    return out;
  }

  /**
   * Open connections of `shape` until `count` are open (a new worker taking over a load).
   * A few at a time: a burst of logins costs the server CPU that live traffic is using.
   */
  async warmTo(shape: LoginShape, schema: string | null, count: number): Promise<void> {
    if (!this.shapes.has(shape.key)) this.shapes.set(shape.key, { shape, schema });
    const lane = async (): Promise<void> => {
      while ((this.openByShape.get(shape.key) ?? 0) < count && this.hasRoom() && !this.closed) {
        try {
          this.release(await this.openConn(shape, schema));
        } catch (err) {
          this.onWarning('pool warm-up failed', { backend: this.id, error: (err as Error).message });
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: WARM_UP_LANES }, lane));
  }

  /** Open connections until each shape seen (or given) has `minIdle` idle ones. */
  warm(shape?: LoginShape, schema: string | null = null): void {
    if (shape !== undefined && !this.shapes.has(shape.key)) this.shapes.set(shape.key, { shape, schema });
    const want = this.settings.minIdle;
    if (want === 0 || this.closed) return;
    for (const { shape: sh, schema: db } of this.shapes.values()) {
      let have = this.idle.get(sh.key)?.length ?? 0;
      while (have < want && this.hasRoom()) {
        have++;
        this.openConn(sh, db).then((c) => this.release(c), (err: Error) => {
          this.onWarning('pool warm-up failed', { backend: this.id, error: err.message });
        });
      }
    }
  }

  /**
   * The backend is drained or disabled by an operator: idle connections close now, busy ones
   * when released, until it is enabled again (routing sends it nothing new meanwhile).
   */
  setLeaving(leaving: boolean): void {
    if (leaving === this.leaving) return;
    this.leaving = leaving;
    if (!leaving) return;
    for (const stack of this.idle.values()) for (const c of stack.splice(0)) this.retire(c);
    this.idleCount = 0;
  }

  /** Backend removed from the config: close idle connections now, busy ones when released. */
  close(): void {
    this.closed = true;
    for (const stack of this.idle.values()) for (const c of stack.splice(0)) this.retire(c);
    this.idleCount = 0;
    for (const w of this.waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(new Error(`backend ${this.id} was removed from the configuration`));
    }
  }

  stats(): PoolStats {
    return {
      backend: this.id, open: this.open, idle: this.idleCount, waiting: this.waiters.length, opened: this.opened,
      acquireTimeouts: this.acquireTimeouts, waits: this.waits, waitMs: this.waitMs,
    };
  }

  // ------------------------------------------------------------------------------------------

  /** Room, and fewer than MAX_OPENING logins in flight. */
  private canOpen(): boolean {
    return this.opening < MAX_OPENING && this.hasRoom();
  }

  private hasRoom(): boolean {
    return this.limit === 0 || this.open < this.limit;
  }

  private expired(c: BackendConn, now: number): boolean {
    return this.settings.maxLifetimeMs > 0 && now - c.createdAt > this.settings.maxLifetimeMs;
  }

  private takeAnyIdle(): BackendConn | null {
    for (const stack of this.idle.values()) {
      while (stack.length > 0) {
        const c = stack.shift()!; // the coldest
        this.idleCount--;
        if (!c.dead) return c;
      }
    }
    return null;
  }

  private async openConn(shape: LoginShape, schema: string | null): Promise<BackendConn> {
    this.open++;
    this.opening++;
    let s: BackendSession;
    try {
      s = await connectBackend({
        host: this.backend.host, port: this.backend.port, user: shape.user, password: shape.password,
        database: schema, capabilities: shape.capabilities, mariadbCapabilities: shape.mariadbCapabilities,
        charset: shape.charset, connectAttrs: shape.connectAttrs, timeoutMs: this.connectTimeoutMs,
      });
    } catch (err) {
      this.open--;
      this.opening--;
      this.serveWaiters();
      throw err;
    }
    this.opening--;
    this.serveWaiters(); // a login slot is free: the queue may grow the pool by one more
    this.opened++;
    const conn = BackendConn.fromSession(s, this.id, shape, schema);
    this.counted(conn);
    if ((s.capabilities & SHAPE_CAPS) !== (shape.capabilities & SHAPE_CAPS) || s.mariadbCapabilities !== shape.mariadbCapabilities) {
      this.retire(conn);
      throw new ShapeMismatch(`backend ${this.id} does not support the client's protocol capabilities`);
    }
    if (this.closed) {
      this.retire(conn);
      throw new Error(`backend ${this.id} was removed from the configuration`);
    }
    try {
      await enableTracking(conn, this.connectTimeoutMs);
    } catch (err) {
      this.discard(conn);
      throw err;
    }
    return conn;
  }

  private gone(conn: BackendConn): void {
    this.uncounted(conn);
    const stack = this.idle.get(conn.shape.key);
    const i = stack?.indexOf(conn) ?? -1;
    if (i >= 0) {
      stack!.splice(i, 1);
      this.idleCount--;
    }
    this.serveWaiters();
  }

  /** Close a connection politely and free its slot. */
  private retire(conn: BackendConn): void {
    if (conn.onGone === null) return; // already counted out
    this.uncounted(conn);
    conn.owner = null;
    conn.dead = true;
    if (conn.socket.writable) conn.socket.end(frame(Buffer.from([COM_QUIT]), 0).bytes);
    else conn.socket.destroy();
    this.serveWaiters();
  }

  private serveWaiters(): void {
    while (this.waiters.length > 0 && this.canOpen() && !this.closed) {
      const w = this.waiters.shift()!;
      if (w.timer) clearTimeout(w.timer);
      this.openFor(w.shape, w.schema, w.noSchema).then(w.resolve, w.reject);
    }
  }

  private ping(c: BackendConn): void {
    exchange(c, Buffer.from([COM_PING]), ResponseKind.Single, this.connectTimeoutMs).then(
      () => this.release(c),
      () => this.discard(c),
    );
  }
}

function tooManyConnections(err: unknown): boolean {
  return err instanceof BackendLoginError && err.err.errno === ER_CON_COUNT_ERROR;
}
