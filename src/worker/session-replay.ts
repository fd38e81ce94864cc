/**
 * Transaction replay (clusters[].transactionReplay): the backend connection of an open
 * transaction died. Re-run the transaction's statements on a connection to the primary (the
 * new one after a failover: writes wait failover.holdMs for it) and compare each response
 * with the one the client got; if all are identical, send the statement that was in flight
 * (if any) and let the client go on as if nothing happened. Otherwise the client gets 2013
 * and the session ends: its transaction is gone, as it would be from the server.
 */
import { COM_QUERY } from '../protocol/constants.js';
import { frame } from '../protocol/framing.js';
import { ResponseKind } from '../protocol/response-scanner.js';
import { exchange, ExchangeError } from '../pool/conn-exchange.js';
import type { BackendConn } from '../pool/backend-conn.js';
import { DBM_ERR } from '../errors/index.js';
import { CloseReason } from '../observability/close-reasons.js';
import { borrowAnywhere, dropLease, giveBack, primaryPool } from './session-lease.js';
import { sha1, type JournalEntry } from './tx-journal.js';
import { Phase, type ClientSession } from './session.js';

/** Connections a replay may go through before it gives up: each lost one is tried on another. */
const REPLAY_ATTEMPTS = 3;
/** Answers that mean the connection itself is going: ER_CONNECTION_KILLED, ER_SERVER_SHUTDOWN. */
const CONNECTION_GOING = new Set([1927, 1053]);

/** The replay's own connection died (killed with the others, or its server went): try another. */
class ReplayConnectionLost extends Error {}

/** Run one journalled statement again; the SHA-1 of the whole response, as the backend sent it. */
async function rerun(conn: BackendConn, e: JournalEntry, timeoutMs: number): Promise<Buffer> {
  try {
    const r = await exchange(conn, e.raw.subarray(4), ResponseKind.Result, timeoutMs);
    return sha1(r.packets.map((p) => p.raw));
  } catch (err) {
    // An error response is a result too: the original may have failed the same way; but not
    // one that says this connection was killed (an idle pooled connection killed with the
    // transaction's tells so only when first used).
    if (err instanceof ExchangeError && !CONNECTION_GOING.has(err.err.errno) && !conn.dead) return sha1([frame(err.errPayload, 1).bytes]);
    throw new ReplayConnectionLost((err as Error).message);
  }
}

/**
 * Replay the session's transaction. `inFlight`: the statement whose connection died before
 * any of its response reached the client (sent again once the replay matched), or null when
 * the session was between statements.
 */
export function replayTransaction(s: ClientSession, lostBackend: string, inFlight: JournalEntry | null): void {
  const journal = s.journal!;
  const done = journal.entries.filter((e) => e.digest !== null);
  const started = Date.now();
  s.localTask = true;
  const run = async (): Promise<void> => {
    const timeoutMs = s.config.limits.connectTimeoutMs + (s.config.failover.readTimeoutMs || 30_000);
    for (let attempt = 1; ; attempt++) {
      const conn = await borrowAnywhere(s, await primaryPool(s), true);
      try {
        for (let i = 0; i < done.length; i++) {
          const digest = await rerun(conn, done[i]!, timeoutMs);
          if (!digest.equals(done[i]!.digest!)) throw new Error(`statement ${i + 1} of the transaction returned a different result on ${conn.backendId}`);
        }
        break;
      } catch (err) {
        if (!(err instanceof ReplayConnectionLost) || attempt >= REPLAY_ATTEMPTS || s.phase === Phase.Closed) throw err;
        // Nothing of this attempt committed: its transaction died with its connection.
        dropLease(s);
      }
    }
    // The journal now describes the new connection's transaction.
    journal.dropIncomplete();
  };
  run().then(() => {
    s.localTask = false;
    if (s.phase === Phase.Closed) return giveBack(s);
    s.host.log.info('transaction replayed', {
      conn_id: s.id, user: s.user?.name ?? null, lost_backend: lostBackend, backend: s.lease?.backendId ?? null,
      statements: done.length, replay_ms: Date.now() - started,
    });
    if (inFlight !== null) s.send(inFlight.raw, ResponseKind.Result);
    else s.continueAfterLocal();
  }, (err: unknown) => {
    s.localTask = false;
    if (s.phase === Phase.Closed) return;
    const why = `transaction replay failed: ${(err as Error).message}`;
    s.host.log.warn('transaction replay failed; the session ends', { conn_id: s.id, user: s.user?.name ?? null, lost_backend: lostBackend, error: (err as Error).message });
    journal.clear();
    if (inFlight !== null) s.sendError(DBM_ERR.BACKEND_LOST, s.lastCommandSeq + 1, [lostBackend, why]);
    s.closeDetail = why;
    s.awaiting = true; // the held connection (mid-replay) cannot be trusted
    s.close(CloseReason.BACKEND_NETWORK);
  }).catch((err: unknown) => s.internalError(err, 'transaction replay'));
}

/** Whether a packet can be journalled: a text statement in one packet. */
export function journallable(raw: Buffer): boolean {
  return raw.length > 4 && raw[4] === COM_QUERY && raw.length - 4 < 0xffffff;
}
