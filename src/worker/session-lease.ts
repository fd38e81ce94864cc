/**
 * The backend connection a client session holds: which pool a statement runs on (the
 * router's decision), borrowing a connection and bringing it to the session's state (reset,
 * schema, replayed session variables, GTID tracking), causal-read waits on replicas, and
 * giving the connection back when nothing pins it.
 *
 * Kept out of session.ts so the session reads as protocol handling. These are the session's
 * own steps: each takes the session and uses its internal members (see ClientSession).
 * withConn's synchronous path (the held connection, or an idle one that already fits) is on
 * the per-statement hot path: it allocates nothing and never awaits.
 */
import { DBM_ERR, formatMessage, type ErrorSpec } from '../errors/index.js';
import { CLIENT_SESSION_TRACK, COM_INIT_DB, COM_RESET_CONNECTION } from '../protocol/constants.js';
import { ResponseKind } from '../protocol/response-scanner.js';
import type { StatementFacts } from '../sql/classifier.js';
import { decideRoute } from '../routing/read-write.js';
import type { BackendConn } from '../pool/backend-conn.js';
import { PoolExhausted, type BackendPool } from '../pool/backend-pool.js';
import { command, enableTracking, exchange, ExchangeError, queryScalar } from '../pool/conn-exchange.js';
import { Phase, type ClientSession } from './session.js';

/** Reads up to this size are kept for a retry on another backend (failover.retryReads). */
const MAX_RETRY_COPY = 64 * 1024;

/** Thrown to the client as an ERR packet (the router or pool could not serve the command). */
export class CommandFailed extends Error {
  constructor(readonly spec: ErrorSpec | null, readonly args: (string | number)[], readonly payload: Buffer | null = null) {
    super(spec ? formatMessage(spec, args) : 'server error');
  }
}

/**
 * Where writes go. With no writable backend serving (a primary died, is being promoted or
 * drained), wait for the monitor to name one, up to `failover.holdMs`: a failover then costs
 * the application latency, not errors. `deadline` (ms since epoch) bounds the whole wait
 * when a caller retries.
 */
export async function primaryPool(s: ClientSession, deadline = Date.now() + s.config.failover.holdMs): Promise<BackendPool> {
  const cluster = s.user!.cluster;
  for (;;) {
    const pool = s.host.pools.primary(cluster);
    if (pool !== null) return pool;
    const outage = s.host.directory.outage(cluster);
    if (outage !== null) throw new CommandFailed(DBM_ERR.NO_BACKEND, [cluster, outage]);
    const left = deadline - Date.now();
    if (left <= 0 || s.phase === Phase.Closed) break;
    await s.host.directory.nextChange(left);
  }
  throw new CommandFailed(DBM_ERR.NO_BACKEND, [cluster, `no writable backend appeared within failover.holdMs (${s.config.failover.holdMs} ms)`]);
}

/**
 * Where a new login is checked: the primary, or while there is none a serving replica (the
 * accounts are replicated), so reads keep flowing while writes wait for a promotion.
 */
export function loginPool(s: ClientSession): Promise<BackendPool> {
  const cluster = s.user!.cluster;
  return Promise.resolve(s.host.pools.primary(cluster) ?? s.host.pools.read(cluster, true) ?? primaryPool(s));
}

/** The backend could not be reached (refused, timed out, closed before answering): nothing of the statement ran. */
function unreachable(err: unknown): boolean {
  if (err instanceof CommandFailed || err instanceof PoolExhausted || err instanceof ExchangeError) return false;
  return (err as { errPayload?: Buffer }).errPayload === undefined;
}

/**
 * Borrow from `first`; when its backend cannot be reached, nothing was sent: leave it out
 * (the monitor is told) and go elsewhere. A write waits for a primary (failover.holdMs); a
 * read goes to another readable backend, or the primary.
 */
export async function borrowAnywhere(s: ClientSession, first: BackendPool, write: boolean): Promise<BackendConn> {
  const cluster = s.user!.cluster;
  const deadline = Date.now() + s.config.failover.holdMs;
  let pool = first;
  for (let attempt = 0; ; attempt++) {
    try {
      // A read can go elsewhere if its backend leaves the rotation while it waits for a login.
      return await borrow(s, pool, !write);
    } catch (err) {
      if (!unreachable(err) || s.phase === Phase.Closed) throw err;
      dropLease(s);
      s.host.directory.suspect(cluster, pool.id);
      const next = write ? null : s.host.pools.read(cluster, true);
      if (next !== null && next !== pool && attempt < 2) {
        pool = next;
        continue;
      }
      if (Date.now() >= deadline) throw err;
      pool = await primaryPool(s, deadline);
    }
  }
}

/** The pool a statement runs on, or null when only the (unknown) primary would do. */
function route(s: ClientSession, facts: StatementFacts): BackendPool | null | CommandFailed {
  const user = s.user!;
  const pools = s.host.pools;
  const d = decideRoute(facts, s, user);
  if (d.role === 'backend') {
    return pools.named(user.cluster, d.backendId!) ?? new CommandFailed(DBM_ERR.NO_BACKEND, [user.cluster, `backend '${d.backendId}' (from a routing hint) is unknown or down`]);
  }
  if (d.role === 'replica' && facts.pins === 0) {
    const pool = pools.read(user.cluster, user.readFrom === 'any');
    if (pool !== null) return pool;
  }
  return pools.primary(user.cluster);
}

/** Whether the statement went to a read pool (it may then go to another readable backend). */
function readRoute(s: ClientSession, facts: StatementFacts | null, pool: BackendPool): boolean {
  return facts !== null && !s.inTransaction && facts.pins === 0 && !s.host.pools.isPrimary(s.user!.cluster, pool);
}

/** Whether a connection can run this session's next statement as it is. */
function fits(s: ClientSession, conn: BackendConn): boolean {
  return !conn.needsReset && !conn.trackingPending && conn.stateKey === s.state.stateKey && (!s.causal || conn.gtidTracking) &&
    conn.schema === s.state.schema && !conn.schemaStale;
}

export function take(s: ClientSession, conn: BackendConn, pool: BackendPool | null): void {
  s.lease = conn;
  s.leasePool = pool;
  s.leaseLoad = pool ? s.host.pools.load(s.user!.cluster, pool.id) : null;
  conn.owner = s;
}

/** Borrow a connection from `pool` and bring it to the session's state. */
export async function borrow(s: ClientSession, pool: BackendPool, abandonIfDropped = false): Promise<BackendConn> {
  let conn: BackendConn;
  try {
    const acquiring = pool.acquire(s.shape!, s.state.schema, true);
    conn = abandonIfDropped ? await unlessDropped(s, pool, acquiring) : await acquiring;
  } catch (err) {
    if (err instanceof PoolExhausted) {
      throw new CommandFailed(DBM_ERR.POOL_EXHAUSTED, [s.user!.cluster, err.backendId, err.limit, err.waitedMs]);
    }
    throw err;
  }
  take(s, conn, pool);
  await restore(s, conn);
  return conn;
}

/** The router stopped offering a backend while a statement waited for a connection to it. */
class BackendDropped extends Error {}

/** Whether the router still sends this session's statements (reads or writes) to `backendId`. */
function offered(s: ClientSession, backendId: string): boolean {
  const cluster = s.user!.cluster;
  const d = s.host.directory;
  return d.primary(cluster)?.id === backendId || d.readable(cluster).some((b) => b.config.id === backendId);
}

/**
 * A connection from `acquiring`, unless the monitor (or a session) drops the backend from
 * routing first: a login to a hung server would otherwise wait the whole connect timeout.
 * The statement then goes elsewhere; a connection that arrives later goes to the pool.
 */
function unlessDropped(s: ClientSession, pool: BackendPool, acquiring: Promise<BackendConn>): Promise<BackendConn> {
  return new Promise((resolve, reject) => {
    let done = false;
    // Registered only while the acquire is pending; gone with it (no timer, nothing per statement left behind).
    const stop = s.host.directory.watch(() => {
      if (done || offered(s, pool.id)) return;
      done = true;
      stop();
      reject(new BackendDropped(`backend ${pool.id} left the rotation while a connection to it was opening`));
    });
    acquiring.then((c) => {
      if (done) return pool.release(c);
      done = true;
      stop();
      resolve(c);
    }, (err: unknown) => {
      if (done) return;
      done = true;
      stop();
      reject(err);
    });
  });
}

/** Reset and replay where the connection's state differs from the session's. */
async function restore(s: ClientSession, conn: BackendConn): Promise<void> {
  const t = s.config.limits.connectTimeoutMs;
  const st = s.state;
  if (conn.needsReset || (conn.stateKey !== '' && conn.stateKey !== st.stateKey)) {
    await exchange(conn, Buffer.from([COM_RESET_CONNECTION]), ResponseKind.Single, t);
    conn.afterReset();
  }
  if (conn.trackingPending) await enableTracking(conn, t);
  if (st.schema !== null && (conn.schema !== st.schema || conn.schemaStale)) {
    await exchange(conn, Buffer.concat([Buffer.from([COM_INIT_DB]), Buffer.from(st.schema, 'utf8')]), ResponseKind.Single, t);
    conn.schema = st.schema;
    conn.schemaStale = false;
  }
  if (conn.stateKey !== st.stateKey) {
    for (const sql of st.replay()) await command(conn, sql, t);
    conn.stateKey = st.stateKey;
  }
  if (s.causal && !conn.gtidTracking) {
    // Have OK packets report the GTID of each commit (read by the scanner).
    if ((conn.capabilities & CLIENT_SESSION_TRACK) !== 0) {
      await command(conn, s.mariadb
        ? "SET @@SESSION.session_track_system_variables = CONCAT(@@SESSION.session_track_system_variables, ',last_gtid')"
        : 'SET @@SESSION.session_track_gtids = OWN_GTID', t);
    }
    conn.gtidTracking = true;
  }
}

/**
 * Causal read: make the replica wait until it has applied the session's last write. False
 * when it did not within the timeout (the read then goes to the primary).
 */
async function replicaCaughtUp(s: ClientSession, conn: BackendConn): Promise<boolean> {
  const st = s.state;
  const gtid = st.lastGtid;
  if (gtid === null || st.gtidReached.has(conn.backendId)) return true;
  const timeoutMs = s.clusterConfig?.causalReadTimeoutMs ?? 500;
  const fn = s.mariadb ? 'MASTER_GTID_WAIT' : 'WAIT_FOR_EXECUTED_GTID_SET';
  const r = await queryScalar(conn, `SELECT ${fn}('${gtid}', ${(timeoutMs / 1000).toFixed(3)})`, timeoutMs + s.config.limits.connectTimeoutMs);
  if (r !== '0') return false;
  st.gtidReached.add(conn.backendId);
  return true;
}

/**
 * Run `then` with a connection for the command: the one held, an idle one in the right
 * state at once, or (asynchronously) one borrowed and prepared. `raw` is the client packet;
 * it may point into the reused read buffer, so it is copied before any wait.
 */
export function withConn(s: ClientSession, facts: StatementFacts | null, raw: Buffer, then: (conn: BackendConn, raw: Buffer) => void): void {
  s.retryRaw = null;
  if (s.lease !== null) return then(s.lease, raw);
  const routed = facts === null ? s.host.pools.primary(s.user!.cluster) : route(s, facts);
  if (routed instanceof CommandFailed) return s.failUnsent(routed, raw);
  if (routed !== null && facts !== null && raw.length <= MAX_RETRY_COPY && s.config.failover.retryReads && readRoute(s, facts, routed)) {
    s.retryRaw = Buffer.from(raw);
    s.retryFacts = facts;
    s.retryThen = then;
  }
  const wait = s.causal && s.state.lastGtid !== null && routed !== null && !s.state.gtidReached.has(routed.id) &&
    routed !== s.host.pools.primary(s.user!.cluster);
  if (routed !== null && !wait) {
    const c = routed.tryAcquire(s.shape!, s.state.schema === null);
    if (c !== null) {
      take(s, c, routed);
      if (fits(s, c)) return then(c, raw);
    }
  }
  const copy = Buffer.from(raw);
  s.localTask = true;
  let ready = s.lease !== null
    ? restore(s, s.lease).then(() => s.lease!)
    : (routed !== null ? Promise.resolve(routed) : primaryPool(s)).then((p) => borrowAnywhere(s, p, !readRoute(s, facts, p)));
  if (wait) ready = ready.then(async (conn) => {
    if (await replicaCaughtUp(s, conn)) return conn;
    giveBack(s);
    return borrowAnywhere(s, await primaryPool(s), true);
  });
  ready.then((conn) => {
    s.localTask = false;
    if (s.phase === Phase.Closed) return;
    then(conn, copy);
    // Either way the client may have sent more while we waited: the rest of a >16 MiB
    // command (streamed now that it was sent) or its next command.
    if (!s.awaiting) s.continueAfterLocal();
    else s.pump();
  }, (err: unknown) => {
    s.localTask = false;
    if (s.phase === Phase.Closed) return;
    giveBack(s);
    s.failUnsent(s.asFailure(err), copy);
    s.continueAfterLocal();
  }).catch((err: unknown) => s.internalError(err, 'command after connection wait'));
}

/** Throw away the held connection (it failed before the statement was sent, or mid-replay). */
export function dropLease(s: ClientSession): void {
  const conn = s.lease;
  if (conn === null) return;
  s.lease = null;
  if (s.leasePool !== null) s.leasePool.discard(conn);
  else conn.kill('failed before use');
  s.leasePool = null;
  s.leaseLoad = null;
}

/** A read whose backend died unanswered runs again elsewhere (once: no copy is kept this time). */
export function retryElsewhere(s: ClientSession, facts: StatementFacts, raw: Buffer, then: (conn: BackendConn, raw: Buffer) => void): void {
  withConn(s, facts, raw, then);
  s.retryRaw = null;
}

/** Give the held connection back to its pool unless the session must keep it. */
export function maybeRelease(s: ClientSession): void {
  const conn = s.lease;
  if (conn === null) return;
  const cluster = s.clusterConfig;
  if (s.state.pins !== 0 || s.inTransaction || cluster === undefined) return;
  // Without multiplexing a session keeps its connection, unless an operator drains that backend.
  if (!cluster.pool.multiplex && !s.host.directory.leaving(cluster.name, conn.backendId)) return;
  giveBack(s);
}

/**
 * Return the held connection. State a pin or an open transaction left on it (locks,
 * temporary tables, user variables) is reset first, so nothing outlives the session's claim.
 */
export function giveBack(s: ClientSession): void {
  const conn = s.lease;
  if (conn === null) return;
  s.lease = null;
  conn.lastSession = s.id;
  const pool = s.leasePool;
  s.leasePool = null;
  s.leaseLoad = null;
  if (pool === null) conn.kill('no pool for this backend any more');
  else if (conn.doomed) pool.discard(conn);
  else if (s.state.pins !== 0 || s.inTransaction || conn.needsReset) pool.recycle(conn);
  else pool.release(conn);
}
