/**
 * The session's side of the statement observers (src/insight/): it fills its one statement
 * record when a statement arrives and when it goes out, and hands it over when the response
 * has ended (or the statement failed without reaching a server). Only COM_QUERY and
 * COM_STMT_EXECUTE are statements here; a prepared statement counts per execute, under its
 * own text.
 *
 * Kept out of session.ts so the session reads as protocol handling (the session's own steps,
 * taking it as their first argument, like session-lease.ts).
 */
import type { StatementFacts } from '../sql/classifier.js';
import { fingerprint } from '../sql/fingerprint.js';
import type { BackendConn } from '../pool/backend-conn.js';
import type { ClientSession } from './session.js';
import type { SessionStatement } from './session-state.js';

/** A statement arrived (before any wait for a connection: the client's wait counts). */
export function beginStatement(s: ClientSession, sql: string, facts: StatementFacts, prepared: SessionStatement | null): void {
  if (s.internal) return;
  const r = s.stmt;
  r.active = true;
  r.startMs = performance.now();
  r.sql = sql;
  r.kind = facts.kind;
  r.prepared = prepared !== null;
  r.fingerprint = prepared === null ? null : (prepared.fingerprint ??= s.host.insight.wantsFingerprint ? fingerprint(sql) : null);
  r.sessionId = s.id;
  r.user = s.user!.name;
  r.cluster = s.user!.cluster;
  r.schema = s.state.schema;
  r.client = s.clientAddress;
  r.inTransaction = s.inTransaction;
  r.route = facts.hint !== null ? 'hint' : 'primary';
  r.backend = '';
  r.firewall = null;
}

/** The statement goes out on `conn`: where it ran. */
export function statementSent(s: ClientSession, conn: BackendConn): void {
  const r = s.stmt;
  r.backend = conn.backendId;
  if (r.route !== 'hint' && s.leasePool !== null) r.route = s.host.pools.isPrimary(s.user!.cluster, s.leasePool) ? 'primary' : 'replica';
}

/** The statement's response ended (errno 0: it succeeded), or it failed before or without one. */
export function endStatement(s: ClientSession, errno: number, rowsSent: number, rowsAffected: number): void {
  const r = s.stmt;
  if (!r.active) return;
  r.active = false;
  r.durationMs = performance.now() - r.startMs;
  r.endedAt = Date.now();
  r.errno = errno;
  r.rowsSent = rowsSent;
  r.rowsAffected = rowsAffected;
  s.host.insight.record(r);
}
