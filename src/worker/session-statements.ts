/**
 * Prepared statements of a client session: COM_STMT_PREPARE, EXECUTE, FETCH, SEND_LONG_DATA,
 * RESET and CLOSE.
 *
 * The session owns its statements (ids it gave the client, text, facts: SessionState); each
 * backend connection keeps its own prepared copies under its own ids (a bounded cache shared
 * by the sessions that borrow it). So every statement command maps the client's id to the
 * connection's, preparing the statement there first when the connection does not have it.
 *
 * Kept out of session.ts so the session reads as protocol handling. These are the session's
 * own steps: each takes the session and uses its internal members (see ClientSession).
 * execute() is on the per-statement hot path: with the statement already prepared on the
 * connection, it allocates nothing beyond the session's usual command callback.
 */
import { DBM_ERR } from '../errors/index.js';
import { CLIENT_DEPRECATE_EOF, COM_STMT_FETCH, COM_STMT_PREPARE, COM_STMT_RESET, MAX_PACKET_PAYLOAD } from '../protocol/constants.js';
import { frame, type Packet } from '../protocol/framing.js';
import { ResponseKind } from '../protocol/response-scanner.js';
import { decodeErr, encodeErr, encodeOk } from '../protocol/responses.js';
import { PrepareResponseCollector, decodePrepareOk, paramTypes, parseExecute, setStatementId, withParamTypes, type ExecuteLayout } from '../protocol/prepared.js';
import { MalformedPacket } from '../protocol/codec.js';
import { classify, type StatementFacts } from '../sql/classifier.js';
import { PIN_BIG_STATEMENT, PIN_CURSOR, PIN_LONG_DATA } from '../sql/pins.js';
import { rewriteSessionFunctions, setsLastInsertId } from '../sql/rewrite-session-fns.js';
import type { BackendConn, CachedStatement } from '../pool/backend-conn.js';
import { ExchangeError, exchange } from '../pool/conn-exchange.js';
import { MAX_SESSION_STATEMENTS, localKill, statementKey, type SessionStatement } from './session-state.js';
import { killById } from './kill-command.js';
import { classifyKill } from '../sql/kill.js';
import { CommandFailed, maybeRelease, withConn } from './session-lease.js';
import { After, Phase, type ClientSession } from './session.js';
import { beginStatement } from './session-insight.js';

/** A prepare response (parameter and column definitions) larger than this is refused. */
const MAX_PREPARE_RESPONSE = 16 * 1024 * 1024;
/** The server's limit on prepared statements (all connections) is reached. */
const ER_MAX_PREPARED_STMT_COUNT_REACHED = 1461;
/** COM_STMT_EXECUTE flag: open a read-only cursor. */
const CURSOR_TYPE_READ_ONLY = 1;
/** Statement text that may read LAST_INSERT_ID(), ROW_COUNT() or CONNECTION_ID() (values of the connection). */
export const SESSION_FN_RE = /last_insert_id|row_count|connection_id/i;

export function prepare(s: ClientSession, p: Packet): void {
  const sql = p.payload.toString('utf8', 1);
  if (s.state.statements.size >= MAX_SESSION_STATEMENTS) {
    s.sendError(DBM_ERR.TOO_MANY_STATEMENTS, 1, [MAX_SESSION_STATEMENTS]);
    return;
  }
  const facts = classify(sql);
  const fw = s.host.firewall;
  if (fw.enabled && s.blockedByFirewall(fw.check(sql, facts.kind, s), sql, facts)) return;
  if (facts.kill && prepareKill(s, sql, facts)) return;
  withConn(s, facts, p.raw, (conn, raw) => {
    s.collectSql = sql;
    s.collectFacts = facts;
    s.collectRetried = false;
    s.collectBig = raw.length - 4 === MAX_PACKET_PAYLOAD;
    sendPrepare(s, conn, raw);
  });
}

/**
 * COM_STMT_PREPARE of a KILL: its id is dbmesh's, so the server must never see it. A lone
 * `KILL [CONNECTION|QUERY] <id>` becomes a statement dbmesh runs itself on execute (the
 * prepare is answered here: no parameters, no columns); any other KILL naming an id gets
 * 1235, as in the text protocol. True when answered.
 */
function prepareKill(s: ClientSession, sql: string, facts: StatementFacts): boolean {
  if (localKill(sql, facts) === null) {
    if (classifyKill(sql).kind !== 'refuse') return false; // KILL USER / QUERY ID: the server's
    s.sendError(DBM_ERR.KILL_NOT_LITERAL, 1);
    return true;
  }
  const st = s.state.addStatement(sql, 0, 0, facts);
  s.host.pools.useStatement(s.user!.cluster, st.key); // as every statement (forgetStatements)
  const ok = Buffer.alloc(12); // OK, statement id, 0 columns, 0 params, filler, 0 warnings
  ok.writeUInt32LE(st.id, 1);
  s.writeToClient(frame(ok, 1).bytes, 1);
  return true;
}

function sendPrepare(s: ClientSession, conn: BackendConn, raw: Buffer): void {
  s.leasePool?.makeRoomForStatement(conn);
  s.collector = new PrepareResponseCollector((conn.capabilities & CLIENT_DEPRECATE_EOF) !== 0, MAX_PREPARE_RESPONSE);
  s.awaiting = true;
  s.scanner.reset();
  s.startCommand(raw);
  conn.commands++;
  s.ownCommand(conn);
  conn.writeCommand(raw);
}

/** The client's prepare response is complete: keep the statement, answer with our id. */
export function finishPrepare(s: ClientSession, c: PrepareResponseCollector): void {
  s.collector = null;
  s.awaiting = false;
  const conn = s.lease!;
  if (c.ok && c.header !== null) {
    const h = c.header;
    const st = s.state.addStatement(s.collectSql, h.params, h.columns, s.collectFacts!);
    s.host.pools.useStatement(s.user!.cluster, st.key);
    // Its text is known only up to 16 MiB (the pieces were streamed): it cannot be prepared
    // on another connection, so the session keeps this one.
    if (s.collectBig) s.state.pins |= PIN_BIG_STATEMENT;
    conn.rememberStatement(st.key, { serverId: h.statementId, params: h.params, columns: h.columns, lastTypes: null }, s.clusterConfig!.pool.maxPreparedPerConnection);
    s.client.write(c.encodeFor(st.id, 1));
  } else {
    const err = c.errPayload ?? encodeErr(1105, 'HY000', 'prepare failed');
    if (!s.collectRetried && !s.collectBig && madeRoomAfterLimit(s, conn, err)) {
      // Statements this worker cached but nobody is executing now were closed: try again.
      s.collectRetried = true;
      return sendPrepare(s, conn, frame(Buffer.concat([Buffer.from([COM_STMT_PREPARE]), Buffer.from(s.collectSql, 'utf8')]), 0).bytes);
    }
    s.client.write(frame(err, 1).bytes);
  }
  s.collectFacts = null;
  s.endOfCommand();
}

/**
 * `err` is the server's ERR 1461 (max_prepared_stmt_count reached, server-wide): free what
 * this worker holds on that backend beyond its needs. True when something was closed, so a
 * retry may succeed; the client sees 1461 only when the server is full of others' statements.
 */
function madeRoomAfterLimit(s: ClientSession, conn: BackendConn, err: Buffer): boolean {
  if (err.length < 3 || err.readUInt16LE(1) !== ER_MAX_PREPARED_STMT_COUNT_REACHED || s.leasePool === null) return false;
  const closed = s.leasePool.onPreparedLimit(decodeErr(err).message, conn, s.config.workers);
  s.host.log.warn('backend refused a prepare: max_prepared_stmt_count reached; closed cached statements and retried', {
    conn_id: s.id, backend: conn.backendId, closed,
  });
  return closed > 0;
}

/** Prepare a session statement on a connection that does not have it yet (answer swallowed). */
async function prepareOn(s: ClientSession, conn: BackendConn, st: SessionStatement, v: { key: string; sql: string } = st): Promise<void> {
  const payload = Buffer.concat([Buffer.from([COM_STMT_PREPARE]), Buffer.from(v.sql, 'utf8')]);
  // Only the first 16 MiB of an oversized statement's text are known: never prepare that.
  if (payload.length >= MAX_PACKET_PAYLOAD) throw new CommandFailed(DBM_ERR.STATEMENT_CHANGED, [st.id]);
  s.leasePool?.makeRoomForStatement(conn);
  let r;
  try {
    r = await exchange(conn, payload, ResponseKind.Prepare, s.config.limits.connectTimeoutMs);
  } catch (err) {
    if (!(err instanceof ExchangeError) || !madeRoomAfterLimit(s, conn, err.errPayload)) throw err;
    r = await exchange(conn, payload, ResponseKind.Prepare, s.config.limits.connectTimeoutMs);
  }
  s.ownCommand(conn);
  const h = decodePrepareOk(r.packets[0]!.payload);
  conn.rememberStatement(v.key, { serverId: h.statementId, params: h.params, columns: h.columns, lastTypes: null }, s.clusterConfig!.pool.maxPreparedPerConnection);
  // The table changed shape since the client prepared: the client must prepare again.
  if (h.params !== st.params || h.columns !== st.columns) throw new CommandFailed(DBM_ERR.STATEMENT_CHANGED, [st.id]);
}

/**
 * The statement a COM_STMT_* command names, or null after answering as the server does:
 * 1243 for an id the session does not have (or a packet too short to hold one). `quiet`:
 * the command has no answer (SEND_LONG_DATA: the server stays silent, the execute reports).
 */
function statementOf(s: ClientSession, raw: Buffer, at: number, command: string, quiet = false): SessionStatement | null {
  const id = raw.length >= at + 5 ? raw.readUInt32LE(at + 1) : 0;
  const st = raw.length >= at + 5 ? s.state.statements.get(id) : undefined;
  if (st === undefined && !quiet) s.sendError(DBM_ERR.UNKNOWN_STMT_HANDLER, 1, [id, command]);
  return st ?? null;
}

/** command(1) + statement_id(4) + flags(1) + iteration_count(4): MariaDB checks this length first (1835). */
const EXECUTE_HEAD = 10;

/**
 * COM_STMT_EXECUTE: map the id to the connection's own, binding types it has not seen. A
 * statement reading LAST_INSERT_ID()/ROW_COUNT() on a connection the session did not use
 * last runs as a variant prepared with the session's values in the text.
 */
export function execute(s: ClientSession, raw: Buffer, at: number): void {
  if (raw.length - at < EXECUTE_HEAD) return s.sendError(DBM_ERR.MALFORMED_PACKET, 1);
  const st = statementOf(s, raw, at, 'mysqld_stmt_execute');
  if (st === null) return;
  if (st.kill !== null) return killById(s, s.host, st.kill.id, st.kill.scope, st.kill.modifier);
  beginStatement(s, st.sql, st.facts, st);
  s.after = After.Execute;
  s.afterFacts = st.facts;
  s.afterStatement = st;
  s.afterAssign = null;
  s.afterSchema = null;
  s.afterCursor = raw.length > at + 5 && (raw[at + 5]! & CURSOR_TYPE_READ_ONLY) !== 0;
  withConn(s, st.facts, raw, (conn, packet) => {
    const v = variantFor(s, conn, st);
    if (conn.statement(v.key) !== undefined) return sendExecute(s, conn, st, v.key, packet, at);
    const kept = Buffer.from(packet); // the read buffer is reused while the prepare runs
    s.localTask = true;
    prepareOn(s, conn, st, v).then(() => {
      s.localTask = false;
      if (s.phase === Phase.Closed) return;
      sendExecute(s, conn, st, v.key, kept, at);
      s.pump(); // the rest of a >16 MiB execute may be waiting in the assembler
    }, (err: unknown) => {
      s.localTask = false;
      if (s.phase === Phase.Closed) return;
      s.failUnsent(s.asFailure(err), kept);
      s.continueAfterLocal();
    }).catch((err: unknown) => s.internalError(err, 'execute after prepare'));
  });
}

/** The text to run for `st` on `conn`: its own, or with the session's LAST_INSERT_ID()/ROW_COUNT()/CONNECTION_ID(). */
function variantFor(s: ClientSession, conn: BackendConn, st: SessionStatement): { key: string; sql: string } {
  if (!SESSION_FN_RE.test(st.sql)) return st;
  if (setsLastInsertId(st.sql)) conn.insertIdSession = s.id;
  const sql = rewriteSessionFunctions(st.sql, s.sessionValues(conn));
  return sql === null ? st : { key: statementKey(st.schema, sql), sql };
}

function sendExecute(s: ClientSession, conn: BackendConn, st: SessionStatement, key: string, raw: Buffer, at: number): void {
  s.send(executePacket(st, conn.statement(key)!, raw, at), s.afterCursor ? ResponseKind.CursorResult : ResponseKind.Result);
  // A variant (this session's LAST_INSERT_ID()/ROW_COUNT() written in) serves one execute:
  // its close goes out before the connection's next command.
  if (key !== st.key) conn.dropStatement(key);
}

/** The client's execute under the connection's statement id, binding types it has not seen. */
function executePacket(st: SessionStatement, cached: CachedStatement, raw: Buffer, at: number): Buffer {
  const payload = raw.subarray(at);
  // A malformed execute goes to the server as sent (under the connection's statement id):
  // the server's own answer (1835 malformed packet, 1210 wrong arguments) is the right one.
  const layout = st.params > 0 ? executeLayout(payload, st.params) : null;
  if (layout !== null) {
    if (layout.newParamsBound) {
      const types = paramTypes(payload, layout);
      if (st.types === null || !types.equals(st.types)) st.types = types;
    } else if (st.types !== null && cached.lastTypes !== st.types) {
      cached.lastTypes = st.types;
      return frame(withParamTypes(payload, layout, st.types, cached.serverId), 0).bytes;
    }
    cached.lastTypes = st.types;
  }
  setStatementId(raw, at + 1, cached.serverId);
  return raw;
}

/** The layout of a COM_STMT_EXECUTE, or null when it is malformed (the server will say so). */
function executeLayout(payload: Buffer, params: number): ExecuteLayout | null {
  try {
    return parseExecute(payload, params);
  } catch (err) {
    if (err instanceof MalformedPacket) return null;
    throw err;
  }
}

/** FETCH, SEND_LONG_DATA, RESET: need the statement on the connection that will run it. */
export function onStatementCommand(s: ClientSession, p: Packet, kind: ResponseKind | null): void {
  const cmd = p.payload[0];
  const name = cmd === COM_STMT_FETCH ? 'mysqld_stmt_fetch' : cmd === COM_STMT_RESET ? 'mysqld_stmt_reset' : 'mysqld_stmt_send_long_data';
  // SEND_LONG_DATA (kind null) has no response: an unknown id is the execute's to report.
  const st = statementOf(s, p.raw, 4, name, kind === null);
  if (st === null) return;
  if (cmd === COM_STMT_FETCH) {
    const cached = s.lease?.statement(st.key);
    if (!(s.state.pins & PIN_CURSOR) || s.state.cursorStatement !== st.id || cached === undefined) {
      s.sendError(DBM_ERR.NO_OPEN_CURSOR, 1, [st.id]);
      return;
    }
    s.after = After.Fetch;
    setStatementId(p.raw, 5, cached.serverId);
    return s.send(p.raw, kind);
  }
  if (cmd === COM_STMT_RESET) {
    if (s.state.cursorStatement === st.id) {
      s.state.pins &= ~PIN_CURSOR;
      s.state.cursorStatement = 0;
    }
    const cached = s.lease?.statement(st.key);
    if (cached === undefined) {
      // Nothing of it lives on a connection (no long data, no cursor): a reset is a no-op.
      s.state.pins &= ~PIN_LONG_DATA;
      s.writeToClient(frame(encodeOk({ affectedRows: 0, lastInsertId: 0, statusFlags: s.statusFlags, warnings: 0 }), 1).bytes, 1);
      maybeRelease(s);
      return;
    }
    s.state.pins &= ~PIN_LONG_DATA;
    s.after = After.Nothing;
    setStatementId(p.raw, 5, cached.serverId);
    return s.send(p.raw, kind);
  }
  // SEND_LONG_DATA: the data stays on this connection until the execute.
  s.state.pins |= PIN_LONG_DATA;
  withConn(s, st.facts, p.raw, (conn, raw) => {
    const cached = conn.statement(st.key);
    if (cached !== undefined) {
      setStatementId(raw, 5, cached.serverId);
      return s.send(raw, null);
    }
    const kept = Buffer.from(raw); // the read buffer is reused while the prepare runs
    s.localTask = true;
    prepareOn(s, conn, st).then(() => {
      s.localTask = false;
      if (s.phase === Phase.Closed) return;
      setStatementId(kept, 5, conn.statement(st.key)!.serverId);
      s.send(kept, null);
      s.continueAfterLocal();
    }, () => {
      s.localTask = false;
      s.continueAfterLocal(); // the execute will report the problem
    }).catch((err: unknown) => s.internalError(err, 'long data after prepare'));
  });
}

/** COM_STMT_CLOSE: no response; the statement leaves the session (and the servers, if it was the last user). */
export function closeStatement(s: ClientSession, p: Packet): void {
  const id = p.payload.length >= 5 ? p.payload.readUInt32LE(1) : 0;
  const st = s.state.statements.get(id);
  if (st !== undefined) {
    s.state.statements.delete(id);
    s.host.pools.unuseStatement(s.user!.cluster, st.key);
  }
  if (s.state.cursorStatement === id) {
    // Close the server-side cursor with the statement's reset.
    s.state.pins &= ~PIN_CURSOR;
    s.state.cursorStatement = 0;
    if (s.lease !== null) s.lease.needsReset = true;
  }
  maybeRelease(s);
}

/** The session gives up every statement it holds (reset, change user, close, hand-off). */
export function forgetStatements(s: ClientSession): void {
  const cluster = s.user?.cluster;
  if (cluster === undefined) return;
  for (const st of s.state.statements.values()) s.host.pools.unuseStatement(cluster, st.key);
  s.state.statements.clear();
}
