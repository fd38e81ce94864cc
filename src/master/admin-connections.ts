/**
 * Who may hold a connection to the admin API. Anyone who reaches the port can open
 * connections, token or not, and each one is a descriptor of the master, which also accepts
 * every MySQL client connection (see fd-budget.ts). So:
 *  - at most `cap` connections are open at once. A new one over the cap closes the oldest
 *    connection that has no request in progress (one that never sent a request, or an idle
 *    keep-alive), so a flood of idle connections cannot lock operators out; when every
 *    connection has a request in progress, the new one is closed at once;
 *  - a silent connection is closed after the idle timeout, unless the master is still working
 *    on its request (a reload waiting for workers answers nothing until it is done). Once an
 *    answer has started, silence means a client that does not read: it is closed too.
 * node:http's own headers, request and keep-alive timeouts apply on top (admin-api.ts).
 */
import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../observability/logger.js';

/** Connections closed over the cap are logged at most this often. */
const DROP_LOG_INTERVAL_MS = 10_000;

export class AdminConnections {
  /** Insertion order is age order: the first idle one is the oldest. */
  private readonly open = new Set<Socket>();
  private readonly inFlight = new WeakMap<Socket, ServerResponse>();
  private dropped = 0;
  private lastLog = 0;

  constructor(server: Server, public cap: number, private readonly log: Logger) {
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('timeout', (socket: Socket) => {
      if (this.inFlight.get(socket)?.headersSent !== false) socket.destroy();
    });
  }

  get count(): number {
    return this.open.size;
  }

  /** A request arrived on `socket`; it is in progress until its response closes. */
  started(socket: Socket, res: ServerResponse): void {
    this.inFlight.set(socket, res);
    res.once('close', () => this.inFlight.delete(socket));
  }

  private admit(socket: Socket): void {
    if (this.open.size >= this.cap && !this.closeOldestIdle()) {
      socket.destroy();
      this.noteDrop();
      return;
    }
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
  }

  private closeOldestIdle(): boolean {
    for (const s of this.open) {
      if (this.inFlight.has(s)) continue;
      this.open.delete(s);
      s.destroy();
      this.noteDrop();
      return true;
    }
    return false;
  }

  private noteDrop(): void {
    this.dropped++;
    const now = Date.now();
    if (now - this.lastLog < DROP_LOG_INTERVAL_MS) return;
    this.log.warn('admin api connection limit reached: closing connections', { max_connections: this.cap, closed_since_last_report: this.dropped });
    this.lastLog = now;
    this.dropped = 0;
  }
}
