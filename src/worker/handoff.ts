/**
 * Moving client sessions between workers (hot upgrade, memory watchdog).
 *
 * Sender (a draining worker): at a command boundary, a session is frozen and its client socket
 * travels through the master to a new worker as a raw handle, with the session snapshot
 * (schema, replayed variables, prepared statements: what any pooled connection can be given
 * again). A session that holds a backend connection (in a transaction, or pinned by state the
 * server keeps: temporary tables, user variables, locks) sends that connection first, so the
 * server-side state moves as it is and nothing is replayed. Bytes the client sent but the old
 * worker had not processed travel in the snapshot; bytes still in the kernel stay with the
 * socket.
 *
 * Receiver: collects both parts by token, rebuilds the sockets and resumes the session.
 * Raw handles (not net.Socket objects) are used so the master, which forwards them, never
 * starts reading client bytes.
 */
import net from 'node:net';
import type { IpcChannel } from '../ipc/channel.js';
import type { AdoptMsg, SessionSnapshot } from '../ipc/messages.js';
import { SocketInput } from '../pool/socket-input.js';
import type { Logger } from '../observability/logger.js';
import { ClientSession } from './session.js';
import { BackendConn } from '../pool/backend-conn.js';
import { fromHandle } from './client-socket.js';
import type { ProxyServer } from './server.js';

/** How long the receiver waits for the second part of a session. */
const PART_TIMEOUT_MS = 10000;

type RawHandle = { close(cb?: () => void): void };

function rawHandle(s: net.Socket): RawHandle {
  return (s as unknown as { _handle: RawHandle })._handle;
}

/**
 * Send one session to the master for adoption elsewhere. Returns null when the session is not
 * at a boundary, else a promise that settles once both descriptors have left this process
 * (node queues handle messages until the peer acknowledges the previous one: a worker must
 * not exit before its queue is empty).
 */
export function sendSession(session: ClientSession, channel: IpcChannel, log: Logger): Promise<boolean> | null {
  const parts = session.detachForHandoff();
  if (parts === null) return null;
  const token = `${process.pid}-${session.id}-${Date.now()}`;
  const send = (part: 'backend' | 'client', s: net.Socket, snapshot: unknown): Promise<boolean> => new Promise((resolve) => {
    const posted = channel.post('handoff', { token, part, snapshot }, rawHandle(s), (err) => {
      if (err) log.warn('session handoff send failed', { conn_id: session.id, part, error: err.message });
      s.destroy(); // our copy of the descriptor; the receiver holds its own
      resolve(err === null);
    });
    if (!posted) {
      s.destroy();
      resolve(false);
    }
  });
  if (parts.backend === null) return send('client', parts.client, parts.snapshot);
  return Promise.all([
    send('backend', parts.backend, null),
    send('client', parts.client, parts.snapshot),
  ]).then(([a, b]) => a && b);
}

interface PartialSession {
  backend?: unknown;
  client?: unknown;
  snapshot?: SessionSnapshot;
  timer: NodeJS.Timeout;
}

/** Receives moved sessions in a new worker. */
export class SessionReceiver {
  private readonly partial = new Map<string, PartialSession>();
  adopted = 0;
  handoffMsTotal = 0;
  handoffMsMax = 0;

  constructor(private readonly server: ProxyServer, private readonly channel: IpcChannel, private readonly log: Logger) {}

  receive(msg: AdoptMsg, handle: unknown): void {
    let p = this.partial.get(msg.token);
    if (!p) {
      p = { timer: setTimeout(() => this.abandon(msg.token, 'second part never arrived'), PART_TIMEOUT_MS) };
      this.partial.set(msg.token, p);
    }
    if (msg.part === 'backend') p.backend = handle;
    else {
      p.client = handle;
      p.snapshot = msg.snapshot ?? undefined;
    }
    if (p.client && p.snapshot && (p.backend || p.snapshot.conn === null)) {
      clearTimeout(p.timer);
      this.partial.delete(msg.token);
      this.adopt(msg.token, p.snapshot, p.client, p.backend ?? null);
    }
  }

  private adopt(token: string, snap: SessionSnapshot, clientHandle: unknown, backendHandle: unknown): void {
    let backend: net.Socket | null = null;
    let input: SocketInput | null = null;
    if (backendHandle !== null) {
      input = new SocketInput();
      backend = new net.Socket({ handle: backendHandle as never, readable: true, writable: true, onread: input.onread } as net.SocketConstructorOpts);
    }
    const { socket: client, input: clientInput } = fromHandle(clientHandle);
    const user = this.server.config.users.find((u) => u.name === snap.user);
    if (!user) {
      // The user was removed by a reload while the session moved: end it as the server would.
      backend?.destroy();
      client.destroy();
      this.channel.post('adopted', { token, ok: false, error: `user ${snap.user} no longer configured` });
      return;
    }
    const session = new ClientSession(snap.id, client, clientInput, this.server);
    session.startedAt = snap.startedAt;
    this.server.adoptSession(session, user);
    let conn: BackendConn | null = null;
    if (backend !== null && input !== null && snap.conn !== null) {
      const m = snap.conn;
      conn = new BackendConn(backend, input, snap.backendId, snap.backendThreadId, session.shapeFor(user, snap), m.capabilities, m.schema, m.statusFlags);
      conn.stateKey = m.stateKey;
      conn.needsReset = m.needsReset;
      if (m.tracking === true) conn.trackingPending = false;
      conn.importStatements(m.statements);
    }
    session.adopt(snap, user, conn);
    this.adopted++;
    this.handoffMsTotal += Date.now() - snap.frozenAt;
    this.handoffMsMax = Math.max(this.handoffMsMax, Date.now() - snap.frozenAt);
    this.log.debug('session adopted', { conn_id: snap.id, handoff_ms: Date.now() - snap.frozenAt });
    this.channel.post('adopted', { token, ok: true });
  }

  private abandon(token: string, why: string): void {
    const p = this.partial.get(token);
    if (!p) return;
    this.partial.delete(token);
    for (const h of [p.backend, p.client]) if (h) (h as RawHandle).close();
    this.log.warn('moved session abandoned', { token, reason: why });
    this.channel.post('adopted', { token, ok: false, error: why });
  }
}
