/**
 * One pooled backend connection and what dbmesh knows of its server-side state: the default
 * schema, the replayed session variables (as one comparable key), the last status flags and
 * the statements prepared on it. A client session borrows it for a statement or a
 * transaction; while borrowed, the socket's bytes go to the borrower (`owner`).
 */
import type net from 'node:net';
import type { SocketInput } from './socket-input.js';
import type { BackendSession } from './backend-connect.js';
import { CLIENT_CONNECT_ATTRS, CLIENT_CONNECT_WITH_DB, CLIENT_SESSION_TRACK, COM_STMT_CLOSE } from '../protocol/constants.js';
import type { UserConfig } from '../config/types.js';

/** Whoever holds the connection now: receives its bytes and its end. */
export interface ConnOwner {
  onBackendData(chunk: Buffer): void;
  onBackendDrain(): void;
  onBackendLost(conn: BackendConn): void;
}

/** A statement prepared on this connection (server id and shape). */
export interface CachedStatement {
  readonly serverId: number;
  readonly params: number;
  readonly columns: number;
  /** The parameter types block the server last saw for it (identity-compared). */
  lastTypes: Buffer | null;
}

/** What identifies interchangeable connections: backend user and login shape. */
export interface LoginShape {
  /** user \0 capabilities \0 MariaDB capabilities \0 charset */
  readonly key: string;
  readonly user: string;
  readonly password: string;
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  readonly charset: number;
  readonly connectAttrs: Buffer | null;
}

/** A COM_STMT_CLOSE packet: header (4) + command (1) + statement id (4). */
const STMT_CLOSE_PACKET = 9;

/** Capabilities that only matter at login; connections differing in them are interchangeable. */
const LOGIN_ONLY_CAPS = CLIENT_CONNECT_WITH_DB | CLIENT_CONNECT_ATTRS;

/**
 * The login shape of a client of `user` that logged in with these capabilities and charset.
 * `serverCapabilities` (the backend's greeting): backend connections ask for
 * CLIENT_SESSION_TRACK whenever the server offers it, whether the client did or not, because
 * dbmesh learns each connection's state from it; the session rewrites OK packets for clients
 * without it. Clients that differ only in it share connections.
 */
export function loginShape(user: Pick<UserConfig, 'backendUser' | 'backendPassword'>, capabilities: number, mariadbCapabilities: number, charset: number, connectAttrs: Buffer | null, serverCapabilities = 0): LoginShape {
  const caps = ((capabilities & ~LOGIN_ONLY_CAPS) | (serverCapabilities & CLIENT_SESSION_TRACK)) >>> 0;
  return {
    key: `${user.backendUser}\0${user.backendPassword}\0${caps}\0${mariadbCapabilities}\0${charset}`,
    user: user.backendUser, password: user.backendPassword,
    capabilities: caps | CLIENT_CONNECT_WITH_DB | (connectAttrs !== null ? capabilities & CLIENT_CONNECT_ATTRS : 0),
    mariadbCapabilities, charset, connectAttrs,
  };
}

let nextConnSerial = 1;

export class BackendConn {
  owner: ConnOwner | null = null;
  /** Default database on the server side (null: none selected). */
  schema: string | null;
  /** Replayed session variables ('' = the login defaults). */
  stateKey = '';
  /** Set when a session left state that has no key (temporary tables, user variables...). */
  needsReset = false;
  /** A KILL may be on its way to this connection's thread: it is closed, never handed on. */
  doomed = false;
  /** `last_gtid` is in the tracked variables (causal reads), or cannot be (no session tracking). */
  gtidTracking = false;
  /**
   * The server can report state changes (CLIENT_SESSION_TRACK) but dbmesh has not yet asked
   * it to (after login or a reset): no session may use the connection before it does.
   */
  trackingPending: boolean;
  statusFlags: number;
  readonly serial = nextConnSerial++;
  readonly createdAt = Date.now();
  lastUsedAt = Date.now();
  /** The session that used it last. */
  lastSession = 0;
  /**
   * The session whose LAST_INSERT_ID() the server holds on this connection (it inserted an
   * auto-increment row or called LAST_INSERT_ID(expr) here); 0: none since it opened or was
   * reset, so the server's value is 0.
   */
  insertIdSession = 0;
  /**
   * A reset left the schema selected but its character set and collation
   * (character_set_database, collation_database) at the server's defaults: select it again
   * before a session uses it.
   */
  schemaStale = false;
  /**
   * Commands sent on it so far: a session whose previous statement ran here knows the
   * connection's LAST_INSERT_ID()/ROW_COUNT() are still its own when nothing ran since.
   */
  commands = 0;
  dead = false;
  /** Prepared statements, least recently used first (Map order; re-inserted on use). */
  private readonly statements = new Map<string, CachedStatement>();
  /**
   * Server statement ids to close (COM_STMT_CLOSE, which has no response) before the next
   * command: written at once when the connection is idle in its pool, otherwise just before
   * its borrower's next command, never in the middle of a command or a response.
   */
  private pendingCloses: number[] | null = null;

  constructor(
    readonly socket: net.Socket,
    readonly input: SocketInput,
    readonly backendId: string,
    readonly threadId: number,
    readonly shape: LoginShape,
    readonly capabilities: number,
    schema: string | null,
    statusFlags: number,
  ) {
    this.schema = schema;
    this.statusFlags = statusFlags;
    this.trackingPending = (capabilities & CLIENT_SESSION_TRACK) !== 0;
    input.handler = (c) => {
      if (this.owner !== null) this.owner.onBackendData(c);
      else this.kill('bytes from an idle backend connection');
    };
    socket.on('drain', () => this.owner?.onBackendDrain());
    // Armed by watchAnswer() while a statement waits (failover.readTimeoutMs).
    socket.on('timeout', () => {
      if (this.owner !== null) this.kill(`no answer within failover.readTimeoutMs (${this.socket.timeout} ms)`);
    });
    socket.on('error', () => this.lost());
    socket.on('close', () => this.lost());
  }

  static fromSession(s: BackendSession, backendId: string, shape: LoginShape, schema: string | null): BackendConn {
    return new BackendConn(s.socket, s.input, backendId, s.greeting.connectionId, shape, s.capabilities, schema, s.statusFlags);
  }

  /** Called by the pool when the socket goes: tells the owner once. */
  onGone: ((c: BackendConn) => void) | null = null;

  private lost(): void {
    if (this.dead) return;
    this.dead = true;
    const owner = this.owner;
    this.owner = null;
    owner?.onBackendLost(this);
    this.onGone?.(this);
  }

  /** The socket moves to another process: stop reacting to it here. */
  detach(): void {
    this.dead = true;
    this.onGone = null;
    this.owner = null;
    this.input.handler = () => {};
    this.socket.removeAllListeners('drain').removeAllListeners('close').removeAllListeners('error').on('error', () => {});
  }

  /** Why dbmesh closed it (shown to the client whose statement it cut); null when the server or network did. */
  closedWhy: string | null = null;

  kill(why: string): void {
    this.closedWhy ??= why;
    this.socket.destroy();
    this.lost();
  }

  /** Drop the connection if the server sends nothing for `ms` while a statement waits (0: stop watching). */
  watchAnswer(ms: number): void {
    if (this.socket.timeout !== ms && !(ms === 0 && this.socket.timeout === undefined)) this.socket.setTimeout(ms);
  }

  statement(key: string): CachedStatement | undefined {
    const s = this.statements.get(key);
    if (s !== undefined) {
      this.statements.delete(key);
      this.statements.set(key, s);
    }
    return s;
  }

  /**
   * Remember a statement; the server copy it replaces (the same text prepared again) and the
   * least recently used ones over `max` are closed on the server.
   */
  rememberStatement(key: string, st: CachedStatement, max: number): void {
    const replaced = this.statements.get(key);
    if (replaced !== undefined && replaced.serverId !== st.serverId) this.queueClose(replaced.serverId);
    this.statements.delete(key);
    this.statements.set(key, st);
    this.evictTo(max);
  }

  /** Close the least recently used statements until at most `max` remain; returns how many went. */
  evictTo(max: number): number {
    let n = 0;
    while (this.statements.size > max) {
      const [oldKey, old] = this.statements.entries().next().value as [string, CachedStatement];
      this.statements.delete(oldKey);
      this.queueClose(old.serverId);
      n++;
    }
    return n;
  }

  /** No session needs this statement any more: close it on the server. */
  dropStatement(key: string): void {
    const st = this.statements.get(key);
    if (st === undefined) return;
    this.statements.delete(key);
    this.queueClose(st.serverId);
  }

  private queueClose(serverId: number): void {
    (this.pendingCloses ??= []).push(serverId);
    if (this.owner === null) this.flushCloses();
  }

  /** Write the queued COM_STMT_CLOSEs. Only at a command boundary (they have no response). */
  flushCloses(): void {
    const ids = this.pendingCloses;
    if (ids === null) return;
    this.pendingCloses = null;
    if (this.dead || !this.socket.writable) return;
    const out = Buffer.allocUnsafe(ids.length * STMT_CLOSE_PACKET);
    for (let i = 0; i < ids.length; i++) {
      const at = i * STMT_CLOSE_PACKET;
      out.writeUIntLE(5, at, 3);
      out[at + 3] = 0;
      out[at + 4] = COM_STMT_CLOSE;
      out.writeUInt32LE(ids[i]! >>> 0, at + 5);
    }
    this.socket.write(out);
  }

  /** Write a command (seq 0 onwards), after the statement closes queued for this boundary. */
  writeCommand(raw: Buffer): boolean {
    if (this.pendingCloses !== null) this.flushCloses();
    return this.socket.write(raw);
  }

  get preparedCount(): number {
    return this.statements.size;
  }

  /** After COM_RESET_CONNECTION: statements closed, variables and tracking back to defaults. */
  afterReset(): void {
    this.pendingCloses = null;
    this.trackingPending = (this.capabilities & CLIENT_SESSION_TRACK) !== 0;
    this.statements.clear();
    this.stateKey = '';
    this.needsReset = false;
    this.gtidTracking = false;
    this.insertIdSession = 0;
    this.schemaStale = this.schema !== null;
  }

  /** For hand-off: the statement cache as plain data. */
  exportStatements(): [string, number, number, number][] {
    return [...this.statements].map(([k, s]) => [k, s.serverId, s.params, s.columns]);
  }

  importStatements(list: readonly [string, number, number, number][]): void {
    for (const [k, serverId, params, columns] of list) this.statements.set(k, { serverId, params, columns, lastTypes: null });
  }
}
