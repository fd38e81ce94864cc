/**
 * A client session's side of a hand-off between workers (hot upgrade, memory watchdog):
 * freezing it at a command boundary into a SessionSnapshot (with its client socket and the
 * backend connection it holds, if any), and resuming a session from such a snapshot.
 *
 * The transport (descriptors through the master, matching the two parts) is handoff.ts; this
 * module only knows the session. Kept out of session.ts because it runs once per moved
 * session, never per statement. The functions take the session and use its internal members
 * (see ClientSession); ClientSession.adopt and detachForHandoff call them.
 */
import type net from 'node:net';
import type { UserConfig } from '../config/types.js';
import type { SessionSnapshot } from '../ipc/messages.js';
import type { BackendConn } from '../pool/backend-conn.js';
import { classify } from '../sql/classifier.js';
import { take } from './session-lease.js';
import { forgetStatements } from './session-statements.js';
import { Phase, type ClientSession } from './session.js';

/** What another worker needs to continue a session. */
export interface DetachedSession {
  snapshot: SessionSnapshot;
  client: net.Socket;
  backend: net.Socket | null;
}

/** Resume a session moved here from another worker (with its pinned connection, if it had one). */
export function adoptSnapshot(s: ClientSession, snap: SessionSnapshot, user: UserConfig, conn: BackendConn | null): void {
  s.scramble = Buffer.from(snap.scramble, 'base64');
  s.connectAttrs = snap.connectAttrs === null ? null : Buffer.from(snap.connectAttrs, 'base64');
  s.setLogin(user, snap.capabilities, snap.mariadbCapabilities, snap.charset);
  s.state.import(snap.state, classify);
  s.statusFlags = snap.statusFlags;
  s.readOnlyTransaction = snap.readOnlyTransaction;
  const pools = s.host.pools;
  for (const st of s.state.statements.values()) pools.useStatement(user.cluster, st.key);
  if (conn !== null) {
    const pool = pools.pool(user.cluster, conn.backendId);
    pool?.adopt(conn);
    take(s, conn, pool);
    // The connection's cache was shared in the old worker: close what nobody here uses.
    for (const [key] of conn.exportStatements()) if (!pools.statementInUse(user.cluster, key)) conn.dropStatement(key);
  }
  s.phase = Phase.Commands;
  const pending = Buffer.from(snap.pending, 'base64');
  if (pending.length > 0) s.inbound.push(pending);
  s.pump();
}

/**
 * At a command boundary, stop the session here and return what another worker needs to
 * continue it: the snapshot, the client socket, and the backend connection when the session
 * holds one (pinned or in a transaction). Returns null when the session is busy.
 */
export function detachSession(s: ClientSession): DetachedSession | null {
  if (!s.idle || s.packetWaiter || s.user === null) return null;
  const client = s.client;
  // Stop reading at the descriptor (an onread socket's pause() is a readStop): bytes still in
  // the kernel travel with the descriptor; bytes already read are in the assembler (owned).
  s.clientInput.handler = () => {};
  client.pause();
  const conn = s.lease;
  const snapshot: SessionSnapshot = {
    id: s.id, user: s.user.name, capabilities: s.capabilities, mariadbCapabilities: s.mariadbCapabilities, charset: s.charset,
    statusFlags: s.statusFlags, scramble: s.scramble.toString('base64'),
    connectAttrs: s.connectAttrs ? s.connectAttrs.toString('base64') : null,
    backendThreadId: conn?.threadId ?? 0, backendId: conn?.backendId ?? '',
    pending: s.inbound.bufferedBytes > 0 ? s.inbound.drain().toString('base64') : '', startedAt: s.startedAt,
    frozenAt: Date.now(), state: s.state.export(), readOnlyTransaction: s.readOnlyTransaction,
    conn: conn === null ? null : {
      schema: conn.schema, stateKey: conn.stateKey, needsReset: conn.needsReset, statusFlags: conn.statusFlags,
      capabilities: conn.capabilities, statements: conn.exportStatements(), tracking: !conn.trackingPending,
    },
  };
  let backend: net.Socket | null = null;
  if (conn !== null) {
    s.lease = null;
    s.leasePool?.forget(conn);
    s.leasePool = null;
    conn.owner = null;
    conn.detach();
    backend = conn.socket;
    backend.pause();
  }
  client.removeAllListeners('close').removeAllListeners('drain').removeAllListeners('error');
  client.on('error', () => {});
  forgetStatements(s); // they live on in the snapshot; here, the last user closes them
  s.journal?.clear(); // a moved transaction is not replayable (see TxJournal): give its text back
  s.phase = Phase.Closed;
  s.host.sessionMoved(s);
  return { snapshot, client, backend };
}
