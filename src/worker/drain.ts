/**
 * Draining a worker: stop accepting, then move every session (hand-off) or close it, each at
 * a command boundary, within a deadline.
 *
 * When a session moves matters to its client: while its descriptors travel (a few IPC hops
 * through the master) the session is frozen, and a command the client sends then waits. So a
 * session moves right after it finished a command (its client is busy reading the answer), or
 * once it has been quiet for QUIET_MS (an idle pooled connection). Moves are throttled
 * (MAX_IN_FLIGHT): node passes one descriptor per IPC message and waits for the peer's ack
 * before the next, so freezing many sessions at once would leave the last frozen for the whole
 * queue.
 */
import type { IpcChannel } from '../ipc/channel.js';
import type { Logger } from '../observability/logger.js';
import { CloseReason } from '../observability/close-reasons.js';
import { sendSession } from './handoff.js';
import type { ProxyServer } from './server.js';
import type { ClientSession } from './session.js';

const QUIET_MS = 300;
/**
 * A session holding a backend connection (in a transaction, or pinned) must take it along,
 * which costs a second descriptor hop and freezes it mid-transaction. For this long it waits
 * for a boundary where it holds none (a transaction's end); after it, it moves as it is.
 * Measured with scripts/upgrade-soak: moving transactions mid-way clustered the slowest
 * statements of an upgrade.
 */
const HOLDING_GRACE_MS = 1000;
const SWEEP_MS = 50;
/**
 * Moves in flight at once. Measured (scripts/upgrade-soak, 64 connections): at 500 statements/s
 * one at a time keeps p99 within 2x (1.6x-1.9x) and 4 does not (2.1x); on a saturated machine
 * neither does (3.6x-9x), the hops waiting for busy event loops either way.
 */
const MAX_IN_FLIGHT = 1;

export interface DrainResult {
  readonly moved: number;
  readonly closedAtTimeout: number;
  /** Settles when every descriptor has left this process. */
  readonly sent: Promise<unknown>;
}

export async function drainWorker(srv: ProxyServer, channel: IpcChannel, log: Logger, timeoutMs: number, handOff: boolean): Promise<DrainResult> {
  srv.stopAccepting();
  let moved = 0;
  const sends: Promise<boolean>[] = [];
  const queue: ClientSession[] = [];
  let inFlight = 0;

  const drainStarted = Date.now();
  const moveQueued = (): void => {
    while (inFlight < MAX_IN_FLIGHT) {
      const s = queue.shift();
      if (s === undefined) return;
      if (s.holdsBackend && Date.now() - drainStarted < HOLDING_GRACE_MS) continue; // back at a later boundary
      const sent = sendSession(s, channel, log);
      if (sent === null) continue; // busy again: it comes back at its next boundary
      moved++;
      inFlight++;
      sends.push(sent);
      void sent.then(() => {
        inFlight--;
        moveQueued();
      });
    }
  };
  const enqueue = (s: ClientSession, first: boolean): void => {
    if (queue.includes(s)) return;
    if (first) queue.unshift(s);
    else queue.push(s);
    moveQueued();
  };
  const sweep = (): void => {
    const now = Date.now();
    for (const s of srv.allSessions()) if (s.idle && now - s.lastBoundaryAt >= QUIET_MS) enqueue(s, false);
  };

  srv.onBoundary = (s) => {
    if (handOff) enqueue(s, true);
    else if (!s.inTransaction) s.close(CloseReason.DRAINED);
  };
  let sweeper: NodeJS.Timeout | undefined;
  if (handOff) {
    sweep();
    sweeper = setInterval(sweep, SWEEP_MS);
  } else {
    for (const s of [...srv.allSessions()]) if (s.idle && !s.inTransaction) s.close(CloseReason.DRAINED);
  }

  let timer: NodeJS.Timeout | undefined;
  await Promise.race([srv.whenEmpty(), new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); })]);
  clearTimeout(timer);
  clearInterval(sweeper);
  const left = srv.connectionCount;
  if (left > 0) log.warn('drain timeout: closing remaining sessions', { sessions: left, timeout_ms: timeoutMs });
  await srv.close(1000);
  return { moved, closedAtTimeout: left, sent: Promise.all(sends) };
}
