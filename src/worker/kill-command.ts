/**
 * KILL of a dbmesh connection id (COM_QUERY `KILL ...`, alone or inside a multi-statement, or
 * COM_PROCESS_KILL). dbmesh allows exactly what the server would: the server itself decides,
 * with the caller's own backend account, and nothing happens to the target before it has.
 *
 * - The target runs a statement (it holds a backend thread): the translated KILL of that
 *   thread runs as the caller on the target's backend. The server refuses (1095) or kills.
 *   The thread's connection is never handed to anyone else afterwards, so a KILL that arrives
 *   after the target finished cannot hit another session.
 * - The target is idle (nothing of it runs on a server): a user may always end its own
 *   user's sessions (the server's rule: same user name). Otherwise the caller must hold the
 *   privilege, and the server is asked by example: a pooled connection of the target's user
 *   is borrowed and the caller KILLs that one; the answer is the server's (the connection is
 *   discarded either way).
 * - Across workers, the target's worker is asked where it is (no side effect), and told to
 *   end it only after the server allowed the kill.
 *
 * Error texts carry the id the client used, not a backend thread id. In a multi-statement,
 * each KILL is translated in place and the batch runs as one statement on the backend of
 * the threads it names; the server's answers are relayed as they come there.
 */
import type { UserConfig } from '../config/types.js';
import { DBM_ERR, formatMessage } from '../errors/index.js';
import { CLIENT_MULTI_STATEMENTS, COM_QUERY } from '../protocol/constants.js';
import { frame } from '../protocol/framing.js';
import { ResponseKind } from '../protocol/response-scanner.js';
import { encodeErr, encodeOk } from '../protocol/responses.js';
import { CloseReason } from '../observability/close-reasons.js';
import { classifyKill, formatKill, killsInBatch, type KillStatement } from '../sql/kill.js';
import { classify, type StatementFacts } from '../sql/classifier.js';
import { PIN_SET_OPTION } from '../sql/pins.js';
import { loginShape, type BackendConn } from '../pool/backend-conn.js';
import { ExchangeError, exchange } from '../pool/conn-exchange.js';
import type { BackendPool } from '../pool/backend-pool.js';
import type { ClientSession } from './session.js';
import type { SessionHost } from './session-host.js';

const ER_NO_SUCH_THREAD = 1094;
const ER_KILL_DENIED_ERROR = 1095;

/** Where a KILL's target is, as far as the KILL needs to know. */
interface Target {
  readonly id: number;
  /** Backend thread serving it now; 0 when it holds none. */
  readonly threadId: number;
  readonly backendId: string;
  /** Its configured user (the backend account it runs as); undefined when unknown. */
  readonly user: UserConfig | undefined;
  /** The session, when this worker holds it. */
  readonly local: ClientSession | null;
}

/** A COM_QUERY payload (command byte at 0) that may be a single KILL; true when it was handled. */
export function handleKillQuery(session: ClientSession, host: SessionHost, payload: Buffer): boolean {
  const sql = payload.toString('utf8', 1);
  const batch = killsInBatch(sql);
  if (batch !== 'refuse' && batch.statements > 1) return false; // a multi-statement: killBatch
  const v = classifyKill(sql);
  if (v.kind === 'pass') return false;
  if (v.kind === 'refuse') session.sendError(DBM_ERR.KILL_NOT_LITERAL, 1);
  else killById(session, host, v.stmt.id, v.stmt.scope, v.stmt.modifier);
  return true;
}

/** COM_PROCESS_KILL, or a lone `KILL [CONNECTION|QUERY] <id>`. */
export function killById(session: ClientSession, host: SessionHost, targetId: number, scope: 'connection' | 'query', modifier: string): void {
  session.runLocally(killOne(session, host, { scope, modifier, id: targetId }));
}

async function killOne(session: ClientSession, host: SessionHost, k: KillStatement): Promise<void> {
  const t = await locate(host, k.id);
  if (t === null) return session.sendError(DBM_ERR.NO_SUCH_THREAD, 1, [k.id]);
  const refusal = await serverVerdict(session, host, t, k);
  if (refusal !== null) return session.writeToClient(frame(refusal, 1).bytes, 1);
  if (k.scope === 'connection') await endTarget(host, t);
  session.writeToClient(frame(encodeOk({ affectedRows: 0, lastInsertId: 0, statusFlags: session.statusFlags, warnings: 0 }), 1).bytes, 1);
}

async function locate(host: SessionHost, id: number): Promise<Target | null> {
  const s = host.findSession(id);
  if (s !== undefined) return { id, threadId: s.backendThreadId, backendId: s.backendId, user: s.user ?? undefined, local: s };
  const r = await host.lookupRemoteSession(id, false);
  if (r === null) return null;
  return { id, threadId: r.threadId, backendId: r.backendId, user: host.config.users.find((u) => u.name === r.user), local: null };
}

/** The kill was allowed: end the target (idle now: at once; busy: when its statement ends or its thread dies). */
async function endTarget(host: SessionHost, t: Target): Promise<void> {
  if (t.local === null) {
    await host.lookupRemoteSession(t.id, true);
    return;
  }
  if (t.local.backendThreadId === 0) t.local.close(CloseReason.KILLED);
  else t.local.markKilled();
}

/**
 * Run the KILL on the server as the caller. Null when the server allowed it (and did it),
 * else the ERR payload to answer with.
 */
async function serverVerdict(session: ClientSession, host: SessionHost, t: Target, k: KillStatement): Promise<Buffer | null> {
  if (t.threadId !== 0) {
    doom(t);
    const pool = host.pools.pool(t.user?.cluster ?? session.user!.cluster, t.backendId) ?? host.pools.primary(session.user!.cluster);
    return pool === null ? noBackend(session, t.backendId) : runAsCaller(session, pool, formatKill(k, t.threadId), k.id);
  }
  if (t.user === undefined) return killDenied(k.id);
  if (t.user.backendUser === session.user!.backendUser) return null; // the server lets a user end its own sessions
  const pool = host.pools.primary(t.user.cluster);
  if (pool === null) return noBackend(session, 'primary');
  let probe: BackendConn;
  try {
    probe = await pool.acquire(loginShape(t.user, session.capabilities, session.mariadbCapabilities, session.charset, null, session.shape!.capabilities), null);
  } catch {
    return killDenied(k.id); // the target's account cannot even log in there
  }
  try {
    return await runAsCaller(session, pool, formatKill(k, probe.threadId), k.id);
  } finally {
    pool.discard(probe); // killed, or left with a kill flag: never reused
  }
}

/** The target's backend connection, whatever happens next, goes to no other session. */
function doom(t: Target): void {
  const conn = t.local?.lease;
  if (conn) conn.doomed = true;
}

/**
 * users[].limits.statementTimeoutMs: stop the statement running on `threadId` with KILL QUERY
 * from another connection of the session's own login. Null when done; else the ERR payload.
 */
export function killQueryAsCaller(session: ClientSession, pool: BackendPool, threadId: number): Promise<Buffer | null> {
  return runAsCaller(session, pool, `KILL QUERY ${threadId}`, session.id);
}

/** One statement on a fresh connection of the caller's own login, answer collected. */
async function runAsCaller(session: ClientSession, pool: BackendPool, sql: string, clientId: number): Promise<Buffer | null> {
  let conn: BackendConn;
  try {
    conn = await pool.acquire(session.shape!, null);
  } catch (err) {
    return session.asFailurePayload(err);
  }
  try {
    await exchange(conn, Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(sql, 'utf8')]), ResponseKind.Result, session.config.limits.connectTimeoutMs);
    pool.release(conn);
    return null;
  } catch (err) {
    if (!(err instanceof ExchangeError)) {
      pool.discard(conn);
      return session.asFailurePayload(err);
    }
    pool.release(conn);
    if (err.err.errno === ER_KILL_DENIED_ERROR) return killDenied(clientId);
    if (err.err.errno === ER_NO_SUCH_THREAD) return encodeErr(DBM_ERR.NO_SUCH_THREAD.errno, DBM_ERR.NO_SUCH_THREAD.sqlState, formatMessage(DBM_ERR.NO_SUCH_THREAD, [clientId]));
    return err.errPayload;
  }
}

function killDenied(id: number): Buffer {
  return encodeErr(DBM_ERR.KILL_DENIED.errno, DBM_ERR.KILL_DENIED.sqlState, formatMessage(DBM_ERR.KILL_DENIED, [id]));
}

function noBackend(session: ClientSession, backendId: string): Buffer {
  return encodeErr(DBM_ERR.NO_BACKEND.errno, DBM_ERR.NO_BACKEND.sqlState, formatMessage(DBM_ERR.NO_BACKEND, [session.user!.cluster, `backend ${backendId} is gone`]));
}

// ------------------------------------------------------------------ KILL inside a multi-statement

/**
 * A COM_QUERY text with a KILL among several statements. Each KILL is translated in place
 * (the thread its target runs on, or for an idle target `DO 0` when the server would allow
 * it, or a probe connection of the target's user) and the batch runs as one statement on the
 * backend those threads live on. True when handled; false leaves the text to the caller (no
 * KILL of a connection id in it, or a client that cannot send several statements: the server
 * refuses the text itself).
 */
export function killBatch(session: ClientSession, host: SessionHost, sql: string): boolean {
  const batch = killsInBatch(sql);
  if (batch === 'refuse') {
    session.sendError(DBM_ERR.KILL_NOT_LITERAL, 1);
    return true;
  }
  if (batch.kills.length === 0) return false;
  const multi = (session.capabilities & CLIENT_MULTI_STATEMENTS) !== 0 || (session.state.pins & PIN_SET_OPTION) !== 0;
  if (!multi) return false;
  session.localTask = true;
  void translateBatch(session, host, sql, batch.kills).then((plan) => {
    session.localTask = false;
    if (plan === null) return session.continueAfterLocal();
    session.runBatch(plan.sql, plan.facts, (ran, failed) => plan.after(ran, failed));
  }).catch((err: unknown) => session.internalError(err, 'KILL in a multi-statement'));
  return true;
}

interface BatchPlan {
  readonly sql: string;
  readonly facts: StatementFacts;
  /** After the response, before the client sees its end: `ran` statements were run, the last of them `failed`. */
  after(ran: number, failed: boolean): Promise<void>;
}

async function translateBatch(session: ClientSession, host: SessionHost, sql: string,
  kills: readonly { stmt: KillStatement; start: number; end: number; index: number }[]): Promise<BatchPlan | null> {
  const targets = await Promise.all(kills.map((k) => locate(host, k.stmt.id)));
  // One backend for the whole batch: the one its busy targets run on, else the one the
  // session holds, else its cluster's primary.
  const busy = new Set(targets.filter((t): t is Target => t !== null && t.threadId !== 0).map((t) => t.backendId));
  if (session.lease !== null) busy.add(session.lease.backendId);
  if (busy.size > 1) {
    session.sendError(DBM_ERR.KILL_ACROSS_BACKENDS, 1);
    return null;
  }
  const pool = busy.size === 1 ? host.pools.pool(session.user!.cluster, [...busy][0]!) : host.pools.primary(session.user!.cluster);
  if (pool === null) {
    session.sendError(DBM_ERR.NO_BACKEND, 1, [session.user!.cluster, 'no backend for the KILL']);
    return null;
  }
  const probes: BackendConn[] = [];
  const onSuccess: { index: number; target: Target }[] = [];
  let out = '';
  let copied = 0;
  for (let i = 0; i < kills.length; i++) {
    const k = kills[i]!;
    const t = targets[i]!;
    let text: string;
    if (t === null) text = formatKill(k.stmt, 0); // the server answers "Unknown thread id"
    else if (t.threadId !== 0) {
      doom(t);
      text = formatKill(k.stmt, t.threadId);
      if (k.stmt.scope === 'connection') onSuccess.push({ index: k.index, target: t });
    } else if (t.user !== undefined && t.user.backendUser === session.user!.backendUser) {
      text = 'DO 0'; // nothing runs on a server; the server would allow it
      if (k.stmt.scope === 'connection') onSuccess.push({ index: k.index, target: t });
    } else {
      const probe = t.user === undefined ? null
        : await pool.acquire(loginShape(t.user, session.capabilities, session.mariadbCapabilities, session.charset, null, session.shape!.capabilities), null).catch(() => null);
      if (probe === null) text = formatKill(k.stmt, 0);
      else {
        probes.push(probe);
        text = formatKill(k.stmt, probe.threadId);
        if (k.stmt.scope === 'connection') onSuccess.push({ index: k.index, target: t });
      }
    }
    out += sql.slice(copied, k.start) + text;
    copied = k.end;
  }
  out += sql.slice(copied);
  const facts = classify(out);
  facts.hint = { target: 'backend', id: pool.id };
  return {
    sql: out,
    facts,
    async after(ran: number, failed: boolean): Promise<void> {
      for (const p of probes) pool.discard(p);
      // A statement succeeded when a later one ran, or it ran last without failing.
      const ended = onSuccess.filter((s) => s.index < ran - 1 || (s.index === ran - 1 && !failed));
      await Promise.all(ended.map((s) => endTarget(host, s.target)));
    },
  };
}
