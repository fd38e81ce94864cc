/**
 * One client connection, from greeting to close.
 *
 * Phases: handshake (dbmesh authenticates the client itself) -> connecting (a backend
 * connection of the client's login shape is borrowed from the primary's pool, which checks
 * the schema and the backend credentials) -> commands.
 *
 * Command phase, per command: the client's packet is read whole (one physical packet, at most
 * 16 MiB; bigger logical packets are streamed piece by piece and never joined), checked
 * (sequence id, max_allowed_packet, command byte) and classified; the router picks a backend
 * (primary, a replica, or a named one) and the session borrows a connection from that
 * backend's pool, restoring its own state on it where it differs (schema, session
 * variables, prepared statements). The backend's response is relayed chunk by chunk while the
 * ResponseScanner finds its end and the status flags. Then the connection goes back to the
 * pool, unless the session is pinned to it (transaction, temporary tables, locks, user
 * variables...: see sql/pins.ts) or multiplexing is off.
 *
 * Backpressure: when the client socket cannot take more, the backend socket is paused until
 * 'drain', and vice versa. Memory per session is bounded by one physical packet plus socket
 * high-water marks, whatever the result size.
 */
import type net from 'node:net';
import type { ClusterConfig, Config, UserConfig } from '../config/types.js';
import { DBM_ERR, formatMessage, type ErrorSpec } from '../errors/index.js';
import {
  CLIENT_DEPRECATE_EOF, CLIENT_SESSION_TRACK, COM_CHANGE_USER, COM_DEBUG,
  COM_FIELD_LIST, COM_INIT_DB, COM_PING, COM_PROCESS_KILL, COM_QUERY, COM_QUIT, COM_REFRESH,
  COM_RESET_CONNECTION, COM_SET_OPTION, COM_STATISTICS, COM_STMT_CLOSE, COM_STMT_EXECUTE,
  COM_STMT_FETCH, COM_STMT_PREPARE, COM_STMT_RESET, COM_STMT_SEND_LONG_DATA, MAX_PACKET_PAYLOAD,
  SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_CURSOR_EXISTS, SERVER_STATUS_IN_TRANS,
} from '../protocol/constants.js';
import { PacketAssembler, frame, setSeq, type Packet } from '../protocol/framing.js';
import { ResponseKind, ResponseScanner } from '../protocol/response-scanner.js';
import { encodeErr, encodeOk } from '../protocol/responses.js';
import { PrepareResponseCollector, decodePrepareOk, paramTypes, parseExecute, setStatementId, withParamTypes } from '../protocol/prepared.js';
import { classify, type StatementFacts } from '../sql/classifier.js';
import { PIN_CURSOR, PIN_FOUND_ROWS, PIN_LOCK_TABLES, PIN_LONG_DATA, PIN_SET_OPTION } from '../sql/pins.js';
import { sessionAssignments, type SessionAssignment } from '../sql/session-assignments.js';
import { rewriteSessionFunctions } from '../sql/rewrite-session-fns.js';
import { useTarget } from '../sql/use-statement.js';
import { decideRoute, type RouteSession } from '../routing/read-write.js';
import type { BackendLoad } from '../routing/balancer.js';
import { ClientAuth, type AuthOutcome } from './client-auth.js';
import { CloseReason } from '../observability/close-reasons.js';
import { mayBeKill } from '../sql/kill.js';
import { handleKillQuery, killById } from './kill-command.js';
import { changeUser } from './change-user.js';
import type { SessionHost } from './session-host.js';
import type { SocketInput } from '../pool/socket-input.js';
import type { SessionSnapshot } from '../ipc/messages.js';
import { loginShape, type BackendConn, type ConnOwner, type LoginShape } from '../pool/backend-conn.js';
import { PoolExhausted, type BackendPool } from '../pool/backend-pool.js';
import { ExchangeError, exchange, command, queryScalar } from '../pool/conn-exchange.js';
import { MAX_SESSION_STATEMENTS, SessionState, statementKey, type SessionStatement } from './session-state.js';

const enum Phase { Handshake, Connecting, Commands, Closed }

/** What the command in flight changes once its response is in. */
const enum After { Nothing, Statement, Execute, InitDb, Fetch, Reset }

/** Pipelined client bytes held while a response is in flight before the socket is paused. */
const HOLD_LIMIT = 1 << 20;
/** Largest packet accepted before authentication. */
const HANDSHAKE_PACKET_LIMIT = 64 * 1024;
/** A prepare response (parameter and column definitions) larger than this is refused. */
const MAX_PREPARE_RESPONSE = 16 * 1024 * 1024;
/** COM_STMT_EXECUTE flag: open a read-only cursor. */
const CURSOR_TYPE_READ_ONLY = 1;
const SESSION_FN_RE = /last_insert_id|row_count/i;

/** Thrown to the client as an ERR packet (the router or pool could not serve the command). */
class CommandFailed extends Error {
  constructor(readonly spec: ErrorSpec | null, readonly args: (string | number)[], readonly payload: Buffer | null = null) {
    super(spec ? formatMessage(spec, args) : 'server error');
  }
}

export class ClientSession implements ConnOwner, RouteSession {
  private phase = Phase.Handshake;
  private readonly inbound = new PacketAssembler();
  private auth: ClientAuth | null;
  private handshakeTimer: NodeJS.Timeout | null;
  /** The backend connection this session holds now (for a statement, a transaction, or pinned). */
  private lease: BackendConn | null = null;
  private leasePool: BackendPool | null = null;
  private leaseLoad: BackendLoad | null = null;
  private scanner: ResponseScanner;
  private awaiting = false;
  /** dbmesh is answering a command itself, or preparing a connection for it. */
  private localTask = false;
  private bigCommand = false;
  private bigCommandBytes = 0;
  private lastCommandSeq = 0;
  private clientPaused = false;
  private backendDrainWait = false;
  private closeAfterResponse: CloseReason | null = null;
  /** Set while dbmesh itself converses with the client (auth switch during change user). */
  private packetWaiter: ((p: Packet) => void) | null = null;
  /** A client COM_STMT_PREPARE in flight: its response is collected, renumbered, then sent. */
  private collector: PrepareResponseCollector | null = null;
  private collectSql = '';
  private collectFacts: StatementFacts | null = null;
  // What the command in flight changes afterwards.
  private after = After.Nothing;
  private afterFacts: StatementFacts | null = null;
  private afterAssign: SessionAssignment[] | null = null;
  private afterSchema: string | null = null;
  private afterStatement: SessionStatement | null = null;
  private afterCursor = false;
  private startedAtMs = 0;
  /** The connection that ran this session's previous statement, and its command count then. */
  private lastConn: BackendConn | null = null;
  private lastConnCommands = 0;
  /** After this write, read its GTID (causal reads without session tracking). */
  private fetchGtid = false;
  /** Causal reads are on (the cluster asks for them and its servers are MariaDB). */
  private causal = false;
  readonly state = new SessionState();
  /** The greeting's scramble: COM_CHANGE_USER answers are computed against it. */
  scramble: Buffer = Buffer.alloc(0);
  /** Connect attributes from the handshake, reused when the backend connection is reopened. */
  connectAttrs: Buffer | null = null;
  charset = 0;
  capabilities = 0;
  mariadbCapabilities = 0;
  user: UserConfig | null = null;
  shape: LoginShape | null = null;
  statusFlags = SERVER_STATUS_AUTOCOMMIT;
  startedAt = Date.now();
  /** When the session last finished a command (ms since epoch): how long its client has been quiet. */
  lastBoundaryAt = Date.now();
  /** What exactly ended the session, when more is known than the reason (logged). */
  closeDetail: string | null = null;
  /** Started `START TRANSACTION READ ONLY` on a replica: the whole transaction stays there. */
  readOnlyTransaction = false;

  constructor(
    readonly id: number,
    private readonly client: net.Socket,
    /** The client's reused read buffer; chunks from it are valid only during onClientData. */
    private readonly clientInput: SocketInput,
    private readonly host: SessionHost,
  ) {
    this.scanner = new ResponseScanner(false);
    this.auth = null;
    this.handshakeTimer = null;
    client.setNoDelay(true);
    clientInput.handler = (c: Buffer) => this.onClientData(c);
    client.on('error', (err: NodeJS.ErrnoException) => {
      this.closeDetail = `client socket: ${err.code ?? err.message}`;
      this.close(CloseReason.CLIENT_NETWORK);
    });
    client.on('close', () => this.close(CloseReason.CLIENT_NETWORK));
    client.on('drain', () => this.lease?.socket.resume());
  }

  /** A new connection: send the greeting and start the handshake clock. */
  greet(): void {
    const host = this.host;
    this.handshakeTimer = setTimeout(() => this.close(CloseReason.HANDSHAKE_TIMEOUT), host.config.limits.handshakeTimeoutMs);
    const greeting = host.directory.greeting(host.defaultCluster());
    this.auth = new ClientAuth(this.client, host.config, host.offeredCapabilities(greeting), this.remoteHost);
    this.auth.greet(this.id, greeting);
  }

  // ---------------------------------------------------------------- identity and state

  get remoteHost(): string {
    return this.client.remoteAddress?.replace(/^::ffff:/, '') ?? 'unknown';
  }

  get config(): Config {
    return this.host.config;
  }

  get inTransaction(): boolean {
    return (this.statusFlags & SERVER_STATUS_IN_TRANS) !== 0;
  }

  get autocommit(): boolean {
    return (this.statusFlags & SERVER_STATUS_AUTOCOMMIT) !== 0;
  }

  get readYourWritesUntil(): number {
    return this.state.readYourWritesUntil;
  }

  get now(): number {
    return Date.now();
  }

  get idle(): boolean {
    return this.phase === Phase.Commands && !this.awaiting && !this.bigCommand && !this.localTask;
  }

  /** Backend thread serving this session right now (KILL translation); 0 when none. */
  get backendThreadId(): number {
    return this.lease?.threadId ?? 0;
  }

  get backendId(): string {
    return this.lease?.backendId ?? '';
  }

  /** The session holds a backend connection between commands (transaction or pins). */
  get holdsBackend(): boolean {
    return this.lease !== null;
  }

  get pins(): number {
    return this.state.pins;
  }

  private get clusterConfig(): ClusterConfig | undefined {
    return this.user ? this.host.pools.cluster(this.user.cluster) : undefined;
  }

  /** The login shape a moved session will have (for the connection that moves with it). */
  shapeFor(user: UserConfig, snap: SessionSnapshot): LoginShape {
    this.connectAttrs = snap.connectAttrs === null ? null : Buffer.from(snap.connectAttrs, 'base64');
    this.setLogin(user, snap.capabilities, snap.mariadbCapabilities, snap.charset);
    return this.shape!;
  }

  /** The login shape: connections of equal shape are interchangeable for this session. */
  private setLogin(user: UserConfig, capabilities: number, mariadbCapabilities: number, charset: number): void {
    this.user = user;
    this.capabilities = capabilities;
    this.mariadbCapabilities = mariadbCapabilities;
    this.charset = charset;
    this.shape = loginShape(user, capabilities, mariadbCapabilities, charset, this.connectAttrs);
    this.scanner.setDeprecateEof((capabilities & CLIENT_DEPRECATE_EOF) !== 0);
    const cluster = this.host.pools.cluster(user.cluster);
    // MASTER_GTID_WAIT and last_gtid are MariaDB's; MySQL servers keep the read-your-writes window.
    this.causal = cluster?.causalReads === true && /mariadb/i.test(this.host.directory.greeting(user.cluster)?.serverVersion ?? '');
  }

  // ---------------------------------------------------------------- hand-off

  /** A session moved here from another worker (with its pinned connection, if it had one). */
  adopt(snap: SessionSnapshot, user: UserConfig, conn: BackendConn | null): void {
    this.scramble = Buffer.from(snap.scramble, 'base64');
    this.connectAttrs = snap.connectAttrs === null ? null : Buffer.from(snap.connectAttrs, 'base64');
    this.setLogin(user, snap.capabilities, snap.mariadbCapabilities, snap.charset);
    this.state.import(snap.state, classify);
    this.statusFlags = snap.statusFlags;
    this.readOnlyTransaction = snap.readOnlyTransaction;
    if (conn !== null) {
      const pool = this.host.pools.pool(user.cluster, conn.backendId);
      pool?.adopt(conn);
      this.take(conn, pool);
    }
    this.phase = Phase.Commands;
    const pending = Buffer.from(snap.pending, 'base64');
    if (pending.length > 0) this.inbound.push(pending);
    this.pump();
  }

  /**
   * At a command boundary, stop this session here and return what another worker needs to
   * continue it: the snapshot, the client socket, and the backend connection when the session
   * holds one (pinned or in a transaction). Returns null when the session is busy.
   */
  detachForHandoff(): { snapshot: SessionSnapshot; client: net.Socket; backend: net.Socket | null } | null {
    if (!this.idle || this.packetWaiter || this.user === null) return null;
    const client = this.client;
    // Stop reading at the descriptor (an onread socket's pause() is a readStop): bytes still in
    // the kernel travel with the descriptor; bytes already read are in the assembler (owned).
    this.clientInput.handler = () => {};
    client.pause();
    const conn = this.lease;
    const snapshot: SessionSnapshot = {
      id: this.id, user: this.user.name, capabilities: this.capabilities, mariadbCapabilities: this.mariadbCapabilities, charset: this.charset,
      statusFlags: this.statusFlags, scramble: this.scramble.toString('base64'),
      connectAttrs: this.connectAttrs ? this.connectAttrs.toString('base64') : null,
      backendThreadId: conn?.threadId ?? 0, backendId: conn?.backendId ?? '',
      pending: this.inbound.bufferedBytes > 0 ? this.inbound.drain().toString('base64') : '', startedAt: this.startedAt,
      frozenAt: Date.now(), state: this.state.export(), readOnlyTransaction: this.readOnlyTransaction,
      conn: conn === null ? null : {
        schema: conn.schema, stateKey: conn.stateKey, needsReset: conn.needsReset, statusFlags: conn.statusFlags,
        capabilities: conn.capabilities, statements: conn.exportStatements(),
      },
    };
    let backend: net.Socket | null = null;
    if (conn !== null) {
      this.lease = null;
      this.leasePool?.forget(conn);
      this.leasePool = null;
      conn.owner = null;
      conn.detach();
      backend = conn.socket;
      backend.pause();
    }
    client.removeAllListeners('close').removeAllListeners('drain').removeAllListeners('error');
    client.on('error', () => {});
    this.phase = Phase.Closed;
    this.host.sessionMoved(this);
    return { snapshot, client, backend };
  }

  // ---------------------------------------------------------------- client input

  private onClientData(chunk: Buffer): void {
    if (this.phase === Phase.Closed) return;
    if (this.tryFastCommand(chunk)) return;
    // Before the command phase packets are parsed into values kept across awaits: copy.
    this.inbound.push(this.phase === Phase.Commands ? chunk : Buffer.from(chunk));
    this.pump();
    // The read buffer is reused for the next read: nothing may keep pointing into it.
    if (this.inbound.bufferedBytes > 0) this.inbound.own();
    if (this.lease !== null && this.lease.socket.writableLength > 0) this.clientInput.retain();
  }

  /**
   * The common case, without the assembler: an idle session receives exactly one small,
   * complete COM_QUERY or COM_STMT_EXECUTE packet. It is routed and forwarded as it was read
   * when a connection in the right state is at hand; every other case (partial or pipelined
   * packets, other commands, KILL, a connection to prepare first) takes the general path.
   */
  private tryFastCommand(chunk: Buffer): boolean {
    if (this.phase !== Phase.Commands || this.awaiting || this.localTask || this.bigCommand || this.packetWaiter !== null ||
      this.inbound.bufferedBytes !== 0 || chunk.length < 5 || chunk[3] !== 0) return false;
    const len = chunk[0]! | (chunk[1]! << 8) | (chunk[2]! << 16);
    if (len + 4 !== chunk.length || len >= MAX_PACKET_PAYLOAD || len > this.host.config.limits.maxAllowedPacket) return false;
    const cmd = chunk[4];
    if (cmd === COM_QUERY) {
      if (mayBeKill(chunk, 4)) return false;
      this.lastCommandSeq = 0;
      this.query(chunk, 4);
      this.afterSend(chunk);
      return true;
    }
    if (cmd === COM_STMT_EXECUTE) {
      this.lastCommandSeq = 0;
      this.execute(chunk, 4);
      this.afterSend(chunk);
      return true;
    }
    return false;
  }

  /** A write the kernel did not take at once still references the client's read buffer. */
  private afterSend(_chunk: Buffer): void {
    if (this.lease !== null && this.lease.socket.writableLength > 0) this.clientInput.retain();
  }

  /** Process as many complete client packets as the current phase allows. */
  private pump(): void {
    while (this.phase !== Phase.Closed) {
      if (this.phase === Phase.Connecting) break;
      const len = this.inbound.peekLength();
      if (len < 0) break;
      if (this.phase === Phase.Handshake) {
        if (len > HANDSHAKE_PACKET_LIMIT) return this.close(CloseReason.MALFORMED);
        const p = this.inbound.next();
        if (p === null) break;
        this.onHandshakePacket(p);
        continue;
      }
      if (this.packetWaiter) {
        const p = this.inbound.next();
        if (p === null) break;
        const w = this.packetWaiter;
        this.packetWaiter = null;
        w(p);
        continue;
      }
      const streaming = this.bigCommand || this.scanner.awaitingInfile;
      if ((this.awaiting || this.localTask) && !streaming) break; // hold pipelined commands
      if (!streaming && len > this.config.limits.maxAllowedPacket) return this.packetTooLarge();
      if (this.bigCommand && this.bigCommandBytes + len > this.config.limits.maxAllowedPacket) return this.packetTooLarge();
      const p = this.inbound.next();
      if (p === null) break;
      if (streaming) this.onStreamedPacket(p);
      else this.onCommand(p);
    }
    this.updateClientFlow();
  }

  private updateClientFlow(): void {
    const hold = this.backendDrainWait || this.phase === Phase.Connecting ||
      ((this.awaiting || this.localTask) && !this.bigCommand && !this.scanner.awaitingInfile && this.inbound.bufferedBytes > HOLD_LIMIT);
    if (hold && !this.clientPaused) {
      this.clientPaused = true;
      this.client.pause();
    } else if (!hold && this.clientPaused) {
      this.clientPaused = false;
      this.client.resume();
    }
  }

  // ---------------------------------------------------------------- handshake

  private onHandshakePacket(p: Packet): void {
    const outcome: AuthOutcome = this.auth!.onPacket(p);
    if (outcome.kind === 'pending') return;
    if (outcome.kind === 'fail') {
      this.host.log.info('client authentication failed', { conn_id: this.id, reason: outcome.message });
      return this.close(outcome.reason === 'malformed' ? CloseReason.MALFORMED : CloseReason.AUTH_FAILED);
    }
    this.clearHandshakeTimer();
    this.scramble = this.auth!.scramble;
    this.auth = null;
    const r = outcome.response;
    this.connectAttrs = r.connectAttrs;
    this.setLogin(outcome.user, r.capabilities, r.mariadbCapabilities ?? 0, r.charset);
    this.state.schema = r.database;
    this.phase = Phase.Connecting;
    this.updateClientFlow();
    void this.login(outcome.nextSeq);
  }

  /** Borrow a primary connection (checks the backend login and the schema), then say OK. */
  private async login(seq: number): Promise<void> {
    try {
      const pool = await this.primaryPool();
      const conn = await this.borrow(pool);
      if (this.phase === Phase.Closed) return this.giveBack();
      this.statusFlags = conn.statusFlags;
      this.client.write(frame(encodeOk({ affectedRows: 0, lastInsertId: 0, statusFlags: this.statusFlags, warnings: 0 }), seq).bytes);
      this.phase = Phase.Commands;
      this.maybeRelease();
      this.pump();
      if (this.idle) {
        this.lastBoundaryAt = Date.now();
        this.host.sessionAtBoundary(this);
      }
    } catch (err) {
      if (this.phase === Phase.Closed) return;
      const e = this.asFailure(err);
      this.host.log.warn('backend connection failed', { conn_id: this.id, user: this.user?.name, error: e.message });
      this.writeFailure(e, seq);
      this.close(e.payload ? CloseReason.BACKEND_AUTH : CloseReason.NO_BACKEND);
    }
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  // ---------------------------------------------------------------- choosing and preparing a connection

  private async primaryPool(): Promise<BackendPool> {
    const cluster = this.user!.cluster;
    let pool = this.host.pools.primary(cluster);
    if (pool === null) {
      await this.host.directory.refresh();
      pool = this.host.pools.primary(cluster);
    }
    if (pool === null) throw new CommandFailed(DBM_ERR.NO_BACKEND, [cluster, 'no writable backend is up']);
    return pool;
  }

  /** The pool a statement runs on, or null when only the (unknown) primary would do. */
  private route(facts: StatementFacts): BackendPool | null | CommandFailed {
    const user = this.user!;
    const pools = this.host.pools;
    const d = decideRoute(facts, this, user);
    if (d.role === 'backend') {
      return pools.named(user.cluster, d.backendId!) ?? new CommandFailed(DBM_ERR.NO_BACKEND, [user.cluster, `backend '${d.backendId}' (from a routing hint) is unknown or down`]);
    }
    if (d.role === 'replica' && facts.pins === 0) {
      const pool = pools.read(user.cluster, user.readFrom === 'any');
      if (pool !== null) return pool;
    }
    return pools.primary(user.cluster);
  }

  /** Whether a connection can run this session's next statement as it is. */
  private fits(conn: BackendConn): boolean {
    return !conn.needsReset && conn.stateKey === this.state.stateKey && (!this.causal || conn.gtidTracking) &&
      (this.state.schema === null || conn.schema === this.state.schema);
  }

  private take(conn: BackendConn, pool: BackendPool | null): void {
    this.lease = conn;
    this.leasePool = pool;
    this.leaseLoad = pool ? this.host.pools.load(this.user!.cluster, pool.id) : null;
    conn.owner = this;
  }

  /** Borrow a connection from `pool` and bring it to this session's state. */
  private async borrow(pool: BackendPool): Promise<BackendConn> {
    let conn: BackendConn;
    try {
      conn = await pool.acquire(this.shape!, this.state.schema);
    } catch (err) {
      if (err instanceof PoolExhausted) {
        throw new CommandFailed(DBM_ERR.POOL_EXHAUSTED, [this.user!.cluster, err.backendId, err.limit, err.waitedMs]);
      }
      throw err;
    }
    this.take(conn, pool);
    await this.restore(conn);
    return conn;
  }

  /** Reset and replay where the connection's state differs from the session's. */
  private async restore(conn: BackendConn): Promise<void> {
    const t = this.config.limits.connectTimeoutMs;
    const st = this.state;
    if (conn.needsReset || (conn.stateKey !== '' && conn.stateKey !== st.stateKey)) {
      await exchange(conn, Buffer.from([COM_RESET_CONNECTION]), ResponseKind.Single, t);
      conn.afterReset();
    }
    if (st.schema !== null && conn.schema !== st.schema) {
      await exchange(conn, Buffer.concat([Buffer.from([COM_INIT_DB]), Buffer.from(st.schema, 'utf8')]), ResponseKind.Single, t);
      conn.schema = st.schema;
    }
    if (conn.stateKey !== st.stateKey) {
      for (const sql of st.replay()) await command(conn, sql, t);
      conn.stateKey = st.stateKey;
    }
    if (this.causal && !conn.gtidTracking) {
      // Have OK packets report the GTID of each commit (read by the scanner).
      if ((conn.capabilities & CLIENT_SESSION_TRACK) !== 0) {
        await command(conn, "SET @@SESSION.session_track_system_variables = CONCAT(@@SESSION.session_track_system_variables, ',last_gtid')", t);
      }
      conn.gtidTracking = true;
    }
  }

  /**
   * Causal read: make the replica wait until it has applied the session's last write. False
   * when it did not within the timeout (the read then goes to the primary).
   */
  private async replicaCaughtUp(conn: BackendConn): Promise<boolean> {
    const st = this.state;
    const gtid = st.lastGtid;
    if (gtid === null || st.gtidReached.has(conn.backendId)) return true;
    const timeoutMs = this.clusterConfig?.causalReadTimeoutMs ?? 500;
    const r = await queryScalar(conn, `SELECT MASTER_GTID_WAIT('${gtid}', ${(timeoutMs / 1000).toFixed(3)})`, timeoutMs + this.config.limits.connectTimeoutMs);
    if (r !== '0') return false;
    st.gtidReached.add(conn.backendId);
    return true;
  }

  /**
   * Run `then` with a connection for the command: the one held, an idle one in the right
   * state at once, or (asynchronously) one borrowed and prepared. `raw` is the client packet;
   * it may point into the reused read buffer, so it is copied before any wait.
   */
  private withConn(facts: StatementFacts | null, raw: Buffer, then: (conn: BackendConn, raw: Buffer) => void): void {
    if (this.lease !== null) return then(this.lease, raw);
    const routed = facts === null ? this.host.pools.primary(this.user!.cluster) : this.route(facts);
    if (routed instanceof CommandFailed) return this.fail(routed, 1);
    const wait = this.causal && this.state.lastGtid !== null && routed !== null && !this.state.gtidReached.has(routed.id) &&
      routed !== this.host.pools.primary(this.user!.cluster);
    if (routed !== null && !wait) {
      const c = routed.tryAcquire(this.shape!);
      if (c !== null) {
        this.take(c, routed);
        if (this.fits(c)) return then(c, raw);
      }
    }
    const copy = Buffer.from(raw);
    this.localTask = true;
    let ready = this.lease !== null
      ? this.restore(this.lease).then(() => this.lease!)
      : (routed !== null ? Promise.resolve(routed) : this.primaryPool()).then((p) => this.borrow(p));
    if (wait) ready = ready.then(async (conn) => {
      if (await this.replicaCaughtUp(conn)) return conn;
      this.giveBack();
      return this.borrow(await this.primaryPool());
    });
    ready.then((conn) => {
      this.localTask = false;
      if (this.phase === Phase.Closed) return;
      then(conn, copy);
      if (!this.awaiting) this.continueAfterLocal();
    }, (err: unknown) => {
      this.localTask = false;
      if (this.phase === Phase.Closed) return;
      this.giveBack();
      this.fail(this.asFailure(err), 1);
      this.continueAfterLocal();
    });
  }

  private continueAfterLocal(): void {
    this.pump();
    if (this.idle) {
      this.lastBoundaryAt = Date.now();
      this.host.sessionAtBoundary(this);
    }
  }

  private asFailure(err: unknown): CommandFailed {
    if (err instanceof CommandFailed) return err;
    if (err instanceof ExchangeError) return new CommandFailed(null, [], err.errPayload);
    const e = err as { errPayload?: Buffer; message?: string };
    if (e.errPayload) return new CommandFailed(null, [], e.errPayload); // backend login refused
    return new CommandFailed(DBM_ERR.NO_BACKEND, [this.user?.cluster ?? '', e.message ?? String(err)]);
  }

  private writeFailure(e: CommandFailed, seq: number): void {
    if (e.payload) this.client.write(frame(e.payload, seq).bytes);
    else this.sendError(e.spec!, seq, e.args);
  }

  /** Answer the command with an error and keep the session. */
  private fail(e: CommandFailed, seq: number): void {
    this.writeFailure(e, seq);
    this.maybeRelease();
  }

  /** Give the held connection back to its pool unless the session must keep it. */
  private maybeRelease(): void {
    const conn = this.lease;
    if (conn === null) return;
    const cluster = this.clusterConfig;
    if (this.state.pins !== 0 || this.inTransaction || cluster === undefined || !cluster.pool.multiplex) return;
    this.giveBack();
  }

  /**
   * Return the held connection. State a pin or an open transaction left on it (locks,
   * temporary tables, user variables) is reset first, so nothing outlives the session's claim.
   */
  private giveBack(): void {
    const conn = this.lease;
    if (conn === null) return;
    this.lease = null;
    conn.lastSession = this.id;
    const pool = this.leasePool;
    this.leasePool = null;
    this.leaseLoad = null;
    if (pool === null) conn.kill('no pool for this backend any more');
    else if (this.state.pins !== 0 || this.inTransaction || conn.needsReset) pool.recycle(conn);
    else pool.release(conn);
  }

  // ---------------------------------------------------------------- commands

  private onCommand(p: Packet): void {
    if (p.seq !== 0) {
      this.sendError(DBM_ERR.PACKETS_OUT_OF_ORDER, p.seq + 1);
      return this.close(CloseReason.OUT_OF_ORDER);
    }
    this.lastCommandSeq = 0;
    if (p.payload.length === 0) {
      this.sendError(DBM_ERR.UNKNOWN_COM, 1);
      return;
    }
    const cmd = p.payload[0]!;
    switch (cmd) {
      case COM_QUERY:
        if (mayBeKill(p.payload) && handleKillQuery(this, this.host, p.payload)) return;
        return this.query(p.raw, 4);
      case COM_STMT_EXECUTE: return this.execute(p.raw, 4);
      case COM_STMT_PREPARE: return this.prepare(p);
      case COM_STMT_FETCH: return this.onStatementCommand(p, ResponseKind.Fetch);
      case COM_STMT_SEND_LONG_DATA: return this.onStatementCommand(p, null);
      case COM_STMT_RESET: return this.onStatementCommand(p, ResponseKind.Single);
      case COM_STMT_CLOSE: return this.closeStatement(p);
      case COM_INIT_DB:
        this.after = After.InitDb;
        this.afterSchema = p.payload.toString('utf8', 1);
        return this.withConn(null, p.raw, (_c, raw) => this.send(raw, ResponseKind.Single));
      case COM_SET_OPTION:
        this.state.pins |= PIN_SET_OPTION;
        return this.withConn(null, p.raw, (_c, raw) => this.send(raw, ResponseKind.Single));
      case COM_FIELD_LIST: return this.withConn(null, p.raw, (_c, raw) => this.send(raw, ResponseKind.FieldList));
      case COM_PING: case COM_STATISTICS: case COM_REFRESH: case COM_DEBUG:
        return this.withConn(null, p.raw, (_c, raw) => this.send(raw, ResponseKind.Single));
      case COM_RESET_CONNECTION: return this.resetConnection(p);
      case COM_PROCESS_KILL:
        return killById(this, this.host, p.payload.length >= 5 ? p.payload.readUInt32LE(1) : 0, 'connection', '');
      case COM_QUIT:
        return this.close(CloseReason.CLIENT_QUIT);
      case COM_CHANGE_USER:
        return this.onChangeUser(p);
    }
    this.sendError(DBM_ERR.UNKNOWN_COM, 1);
  }

  /** COM_QUERY: classify, route, run. `raw` is the whole packet; the payload starts at `at`. */
  private query(raw: Buffer, at: number): void {
    const sql = raw.toString('utf8', at + 1);
    const facts = classify(sql);
    this.after = After.Statement;
    this.afterFacts = facts;
    this.afterAssign = facts.kind === 'session-set' && facts.pins === 0 ? sessionAssignments(sql) : null;
    this.afterSchema = facts.kind === 'use' ? useTarget(sql) : null;
    this.withConn(facts, raw, (conn, packet) => {
      if (this.readOnlyStart(facts, conn)) this.readOnlyTransaction = true;
      // LAST_INSERT_ID() / ROW_COUNT() belong to the connection: on another one, use ours.
      if (!this.ranLastOn(conn) && SESSION_FN_RE.test(sql)) {
        const rewritten = rewriteSessionFunctions(sql, this.state.lastInsertId, this.state.rowCount);
        if (rewritten !== null) {
          const payload = Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(rewritten, 'utf8')]);
          if (payload.length < MAX_PACKET_PAYLOAD) packet = frame(payload, 0).bytes;
        }
      }
      this.send(packet, ResponseKind.Result);
    });
  }

  /** The connection ran this session's previous statement and nothing else since. */
  private ranLastOn(conn: BackendConn): boolean {
    return conn === this.lastConn && conn.commands === this.lastConnCommands;
  }

  private readOnlyStart(facts: StatementFacts, conn: BackendConn): boolean {
    return facts.kind === 'transaction-begin-read-only' && !this.inTransaction && conn !== null &&
      this.host.pools.primary(this.user!.cluster)?.id !== conn.backendId;
  }

  /** Send a client packet on the held connection; `kind` null means no response comes. */
  private send(raw: Buffer, kind: ResponseKind | null): void {
    const conn = this.lease!;
    if (raw.length - 4 === MAX_PACKET_PAYLOAD) {
      this.bigCommand = true;
      this.bigCommandBytes = MAX_PACKET_PAYLOAD;
    }
    if (kind !== null) {
      this.awaiting = true;
      this.scanner.begin(kind);
      this.scanner.trackGtid = this.causal;
      this.startedAtMs = performance.now();
      this.leaseLoad?.begin();
    }
    conn.commands++;
    if (!conn.socket.write(raw)) {
      this.backendDrainWait = true;
      this.updateClientFlow();
    }
  }

  // ---------------------------------------------------------------- prepared statements

  private prepare(p: Packet): void {
    const sql = p.payload.toString('utf8', 1);
    if (this.state.statements.size >= MAX_SESSION_STATEMENTS) {
      this.sendError(DBM_ERR.TOO_MANY_STATEMENTS, 1, [MAX_SESSION_STATEMENTS]);
      return;
    }
    const facts = classify(sql);
    this.withConn(facts, p.raw, (conn, raw) => {
      this.collector = new PrepareResponseCollector((conn.capabilities & CLIENT_DEPRECATE_EOF) !== 0, MAX_PREPARE_RESPONSE);
      this.collectSql = sql;
      this.collectFacts = facts;
      this.awaiting = true;
      this.scanner.reset();
      conn.commands++;
      conn.socket.write(raw);
    });
  }

  /** The client's prepare response is complete: keep the statement, answer with our id. */
  private finishPrepare(c: PrepareResponseCollector): void {
    this.collector = null;
    this.awaiting = false;
    const conn = this.lease!;
    if (c.ok && c.header !== null) {
      const h = c.header;
      const st = this.state.addStatement(this.collectSql, h.params, h.columns, this.collectFacts!);
      conn.rememberStatement(st.key, { serverId: h.statementId, params: h.params, columns: h.columns, lastTypes: null }, this.clusterConfig!.pool.maxPreparedPerConnection);
      this.client.write(c.encodeFor(st.id, 1));
    } else {
      this.client.write(frame(c.errPayload ?? encodeErr(1105, 'HY000', 'prepare failed'), 1).bytes);
    }
    this.collectFacts = null;
    this.endOfCommand();
  }

  /** Prepare a session statement on a connection that does not have it yet (answer swallowed). */
  private async prepareOn(conn: BackendConn, st: SessionStatement, v: { key: string; sql: string } = st): Promise<void> {
    const payload = Buffer.concat([Buffer.from([COM_STMT_PREPARE]), Buffer.from(v.sql, 'utf8')]);
    const r = await exchange(conn, payload, ResponseKind.Prepare, this.config.limits.connectTimeoutMs);
    const h = decodePrepareOk(r.packets[0]!.payload);
    if (h.params !== st.params || h.columns !== st.columns) {
      // The table changed shape since the client prepared: the client must prepare again.
      conn.rememberStatement(v.key, { serverId: h.statementId, params: h.params, columns: h.columns, lastTypes: null }, this.clusterConfig!.pool.maxPreparedPerConnection);
      throw new CommandFailed(DBM_ERR.STATEMENT_CHANGED, [st.id]);
    }
    conn.rememberStatement(v.key, { serverId: h.statementId, params: h.params, columns: h.columns, lastTypes: null }, this.clusterConfig!.pool.maxPreparedPerConnection);
  }

  private statementOf(raw: Buffer, at: number, command: string): SessionStatement | null {
    const id = raw.length >= at + 5 ? raw.readUInt32LE(at + 1) : 0;
    const st = this.state.statements.get(id);
    if (st === undefined) this.sendError(DBM_ERR.UNKNOWN_STMT_HANDLER, 1, [id, command]);
    return st ?? null;
  }

  /**
   * COM_STMT_EXECUTE: map the id to the connection's own, binding types it has not seen. A
   * statement reading LAST_INSERT_ID()/ROW_COUNT() on a connection the session did not use
   * last runs as a variant prepared with the session's values in the text.
   */
  private execute(raw: Buffer, at: number): void {
    const st = this.statementOf(raw, at, 'mysqld_stmt_execute');
    if (st === null) return;
    this.after = After.Execute;
    this.afterFacts = st.facts;
    this.afterStatement = st;
    this.afterAssign = null;
    this.afterSchema = null;
    this.afterCursor = raw.length > at + 5 && (raw[at + 5]! & CURSOR_TYPE_READ_ONLY) !== 0;
    this.withConn(st.facts, raw, (conn, packet) => {
      const v = this.variantFor(conn, st);
      if (conn.statement(v.key) !== undefined) return this.sendExecute(conn, st, v.key, packet, at);
      const kept = Buffer.from(packet); // the read buffer is reused while the prepare runs
      this.localTask = true;
      this.prepareOn(conn, st, v).then(() => {
        this.localTask = false;
        if (this.phase === Phase.Closed) return;
        this.sendExecute(conn, st, v.key, kept, at);
      }, (err: unknown) => {
        this.localTask = false;
        if (this.phase === Phase.Closed) return;
        this.fail(this.asFailure(err), 1);
        this.continueAfterLocal();
      });
    });
  }

  /** The text to run for `st` on `conn`: its own, or with the session's LAST_INSERT_ID()/ROW_COUNT(). */
  private variantFor(conn: BackendConn, st: SessionStatement): { key: string; sql: string } {
    if (this.ranLastOn(conn) || !SESSION_FN_RE.test(st.sql)) return st;
    const sql = rewriteSessionFunctions(st.sql, this.state.lastInsertId, this.state.rowCount);
    return sql === null ? st : { key: statementKey(st.schema, sql), sql };
  }

  private sendExecute(conn: BackendConn, st: SessionStatement, key: string, raw: Buffer, at: number): void {
    const cached = conn.statement(key)!;
    const payload = raw.subarray(at);
    if (st.params > 0) {
      const layout = parseExecute(payload, st.params);
      if (layout.newParamsBound) {
        const types = paramTypes(payload, layout);
        if (st.types === null || !types.equals(st.types)) st.types = types;
      } else if (st.types !== null && cached.lastTypes !== st.types) {
        raw = frame(withParamTypes(payload, layout, st.types, cached.serverId), 0).bytes;
        cached.lastTypes = st.types;
        return this.send(raw, ResponseKind.Result);
      }
      cached.lastTypes = st.types;
    }
    setStatementId(raw, at + 1, cached.serverId);
    this.send(raw, ResponseKind.Result);
  }

  /** FETCH, SEND_LONG_DATA, RESET: need the statement on the connection that will run it. */
  private onStatementCommand(p: Packet, kind: ResponseKind | null): void {
    const cmd = p.payload[0];
    const name = cmd === COM_STMT_FETCH ? 'mysqld_stmt_fetch' : cmd === COM_STMT_RESET ? 'mysqld_stmt_reset' : 'mysqld_stmt_send_long_data';
    const st = this.statementOf(p.raw, 4, name);
    if (st === null) {
      if (kind === null) return; // SEND_LONG_DATA has no response; the execute reports it
      return;
    }
    if (cmd === COM_STMT_FETCH) {
      const cached = this.lease?.statement(st.key);
      if (!(this.state.pins & PIN_CURSOR) || this.state.cursorStatement !== st.id || cached === undefined) {
        this.sendError(DBM_ERR.NO_OPEN_CURSOR, 1, [st.id]);
        return;
      }
      this.after = After.Fetch;
      setStatementId(p.raw, 5, cached.serverId);
      return this.send(p.raw, kind);
    }
    if (cmd === COM_STMT_RESET) {
      if (this.state.cursorStatement === st.id) {
        this.state.pins &= ~PIN_CURSOR;
        this.state.cursorStatement = 0;
      }
      const cached = this.lease?.statement(st.key);
      if (cached === undefined) {
        // Nothing of it lives on a connection (no long data, no cursor): a reset is a no-op.
        this.state.pins &= ~PIN_LONG_DATA;
        this.writeToClient(frame(encodeOk({ affectedRows: 0, lastInsertId: 0, statusFlags: this.statusFlags, warnings: 0 }), 1).bytes, 1);
        this.maybeRelease();
        return;
      }
      this.state.pins &= ~PIN_LONG_DATA;
      this.after = After.Nothing;
      setStatementId(p.raw, 5, cached.serverId);
      return this.send(p.raw, kind);
    }
    // SEND_LONG_DATA: the data stays on this connection until the execute.
    this.state.pins |= PIN_LONG_DATA;
    this.withConn(st.facts, p.raw, (conn, raw) => {
      const cached = conn.statement(st.key);
      if (cached !== undefined) {
        setStatementId(raw, 5, cached.serverId);
        return this.send(raw, null);
      }
      const kept = Buffer.from(raw); // the read buffer is reused while the prepare runs
      this.localTask = true;
      this.prepareOn(conn, st).then(() => {
        this.localTask = false;
        if (this.phase === Phase.Closed) return;
        setStatementId(kept, 5, conn.statement(st.key)!.serverId);
        this.send(kept, null);
        this.continueAfterLocal();
      }, () => {
        this.localTask = false;
        this.continueAfterLocal(); // the execute will report the problem
      });
    });
  }

  private closeStatement(p: Packet): void {
    const id = p.payload.length >= 5 ? p.payload.readUInt32LE(1) : 0;
    this.state.statements.delete(id); // the connections keep it prepared (bounded cache, shared)
    if (this.state.cursorStatement === id) {
      // Close the server-side cursor with the statement's reset.
      this.state.pins &= ~PIN_CURSOR;
      this.state.cursorStatement = 0;
      const st = this.lease;
      if (st !== null) st.needsReset = true;
    }
    this.maybeRelease();
  }

  // ---------------------------------------------------------------- commands dbmesh answers

  /** COM_RESET_CONNECTION: the session starts afresh; a held connection is reset too. */
  private resetConnection(p: Packet): void {
    this.state.reset();
    this.readOnlyTransaction = false;
    this.after = After.Reset;
    if (this.lease !== null) return this.send(p.raw, ResponseKind.Single);
    this.statusFlags = SERVER_STATUS_AUTOCOMMIT;
    this.writeToClient(frame(encodeOk({ affectedRows: 0, lastInsertId: 0, statusFlags: this.statusFlags, warnings: 0 }), 1).bytes, 1);
  }

  /**
   * Run a conversation dbmesh itself holds for this session (KILL lookup, change user): the
   * client's further commands wait until it is over.
   */
  runLocally(task: Promise<unknown>): void {
    this.localTask = true;
    this.scanner.reset();
    void task.catch(() => undefined).then(() => {
      this.localTask = false;
      if (this.phase !== Phase.Commands) return;
      this.continueAfterLocal();
    });
  }

  /** Send a statement dbmesh wrote (a translated KILL) to one backend and relay its answer. */
  forwardTo(backendId: string, sql: string): void {
    const payload = Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(sql, 'utf8')]);
    const raw = frame(payload, 0).bytes;
    this.after = After.Nothing;
    const held = this.lease;
    if (held !== null && held.backendId === backendId) return this.send(raw, ResponseKind.Result);
    // '' comes from a worker of an older release: its sessions ran on the primary.
    const pool = backendId === '' ? this.host.pools.primary(this.user!.cluster) : this.host.pools.pool(this.user!.cluster, backendId);
    if (pool === null) {
      this.sendError(DBM_ERR.NO_BACKEND, 1, [this.user!.cluster, `backend ${backendId} is gone`]);
      return;
    }
    // On a connection of its own, so a pinned session keeps its connection as it is.
    this.runLocally(pool.acquire(this.shape!, null).then(async (conn) => {
      try {
        const r = await exchange(conn, payload, ResponseKind.Result, this.config.limits.connectTimeoutMs);
        let seq = 1;
        for (const pk of r.packets) this.writeToClient(pk.raw, seq++);
        pool.release(conn);
      } catch (err) {
        if (err instanceof ExchangeError) {
          this.writeToClient(frame(err.errPayload, 1).bytes, 1);
          pool.release(conn);
        } else {
          pool.discard(conn);
          this.fail(this.asFailure(err), 1);
        }
      }
    }, (err: unknown) => this.fail(this.asFailure(err), 1)));
  }

  /** The backend thread was killed on a client's request: close when it goes. */
  markKilled(): void {
    this.closeAfterResponse = CloseReason.KILLED;
  }

  // ---------------------------------------------------------------- COM_CHANGE_USER

  private onChangeUser(p: Packet): void {
    this.runLocally(changeUser(this, this.host, p).then((ok: boolean) => {
      if (!ok) this.close(CloseReason.AUTH_FAILED);
    }));
  }

  /**
   * After a successful change user: a fresh session state as the new user. The held
   * connection goes back (reset before reuse); a connection for the new identity is borrowed
   * to check the backend login and schema. Resolves with the status flags for the OK.
   */
  async becomeUser(u: UserConfig, charset: number, schema: string | null, connectAttrs: Buffer | null): Promise<number> {
    if (this.lease !== null) {
      this.lease.needsReset = true;
      this.giveBack();
    }
    this.state.reset();
    this.readOnlyTransaction = false;
    this.connectAttrs = connectAttrs;
    this.setLogin(u, this.capabilities, this.mariadbCapabilities, charset);
    this.state.schema = schema;
    const conn = await this.borrow(await this.primaryPool());
    this.statusFlags = conn.statusFlags;
    this.maybeRelease();
    return this.statusFlags;
  }

  /** The failure from becomeUser as the packet to send (server ERR or dbmesh error). */
  failurePacket(err: unknown, seq: number): Buffer {
    const e = this.asFailure(err);
    return e.payload ? frame(e.payload, seq).bytes : frame(encodeErr(e.spec!.errno, e.spec!.sqlState, formatMessage(e.spec!, e.args)), seq).bytes;
  }

  /** The client's next packet, whatever the phase (dbmesh is talking to the client itself). */
  // (copied: the caller keeps it across awaits)
  nextClientPacket(): Promise<Packet> {
    return new Promise((resolve) => {
      this.packetWaiter = (p) => resolve({ seq: p.seq, payload: Buffer.from(p.payload), raw: Buffer.from(p.raw) });
      this.pump();
    });
  }

  // ---------------------------------------------------------------- backend output (ConnOwner)

  onBackendData(chunk: Buffer): void {
    if (this.phase === Phase.Closed) return;
    const c = this.collector;
    if (c !== null) {
      let complete: boolean;
      try {
        complete = c.push(chunk);
      } catch {
        this.closeDetail = 'prepare response too large';
        return this.close(CloseReason.BACKEND_NETWORK);
      }
      if (complete) this.finishPrepare(c);
      return;
    }
    let ended = -1;
    if (this.awaiting) ended = this.scanner.scan(chunk);
    const conn = this.lease!;
    if (!this.client.write(chunk)) conn.socket.pause(); // resumed on client 'drain'
    // A write the kernel did not take at once still references the shared read buffer.
    if (this.client.writableLength > 0) conn.input.retain();
    if (ended < 0) return;
    if (this.scanner.awaitingInfile) return this.pump(); // client sends the file next
    this.awaiting = false;
    if (this.scanner.statusFlags >= 0) this.statusFlags = conn.statusFlags = this.scanner.statusFlags;
    if (this.leaseLoad !== null) {
      this.leaseLoad.end();
      const now = performance.now();
      this.leaseLoad.observe(now - this.startedAtMs, now);
    }
    this.applyEffects(conn);
    if (this.closeAfterResponse) return this.close(this.closeAfterResponse);
    if (this.fetchGtid) return this.fetchLastGtid(conn);
    this.endOfCommand();
  }

  /** Causal reads for a client without session tracking: ask the server for the GTID. */
  private fetchLastGtid(conn: BackendConn): void {
    this.fetchGtid = false;
    this.localTask = true;
    queryScalar(conn, 'SELECT @@last_gtid', this.config.limits.connectTimeoutMs).then((g) => {
      if (g) this.state.noteGtid(g);
    }, () => undefined).then(() => {
      this.localTask = false;
      if (this.phase !== Phase.Closed) this.endOfCommand();
    });
  }

  private endOfCommand(): void {
    this.maybeRelease();
    this.pump();
    if (this.idle) {
      this.lastBoundaryAt = Date.now();
      this.host.sessionAtBoundary(this);
    }
  }

  /** What the finished command changed in the session (and on its connection). */
  private applyEffects(conn: BackendConn): void {
    const st = this.state;
    const sc = this.scanner;
    conn.lastSession = this.id;
    this.lastConn = conn;
    this.lastConnCommands = conn.commands;
    if (!this.inTransaction) this.readOnlyTransaction = false;
    switch (this.after) {
      case After.Statement:
      case After.Execute: {
        const facts = this.afterFacts!;
        // SQL_CALC_FOUND_ROWS pins for one more statement (the one reading FOUND_ROWS()).
        if ((st.pins & PIN_FOUND_ROWS) !== 0 && (facts.pins & PIN_FOUND_ROWS) === 0) st.pins &= ~PIN_FOUND_ROWS;
        st.pins |= facts.pins;
        if (facts.kind === 'lock' && (facts.pins & PIN_LOCK_TABLES) === 0) st.pins &= ~PIN_LOCK_TABLES; // UNLOCK TABLES
        if (!sc.failed) {
          if (this.afterAssign !== null) {
            st.assign(this.afterAssign);
            conn.stateKey = st.stateKey;
          }
          if (this.afterSchema !== null) st.schema = conn.schema = this.afterSchema;
        }
        if (sc.insertId > 0) st.lastInsertId = sc.insertId;
        if (sc.lastGtid !== null) st.noteGtid(sc.lastGtid);
        st.rowCount = sc.failed || sc.resultSet ? -1 : sc.affectedRows;
        if (facts.kind !== 'read' && facts.kind !== 'show' && facts.kind !== 'transaction-begin-read-only' && facts.mustUsePrimary) {
          const ms = this.clusterConfig?.readYourWritesMs ?? 0;
          // Causal reads replace the time window where the GTID can be known.
          if (this.causal && (conn.capabilities & CLIENT_SESSION_TRACK) === 0) this.fetchGtid = true;
          else if (!this.causal && ms > 0) st.readYourWritesUntil = Date.now() + ms;
        }
        if (this.after === After.Execute) {
          st.pins &= ~PIN_LONG_DATA;
          if (this.afterCursor && (this.statusFlags & SERVER_STATUS_CURSOR_EXISTS) !== 0) {
            st.pins |= PIN_CURSOR;
            st.cursorStatement = this.afterStatement!.id;
          }
        }
        break;
      }
      case After.InitDb:
        if (!sc.failed) st.schema = conn.schema = this.afterSchema;
        break;
      case After.Reset:
        if (!sc.failed) conn.afterReset();
        break;
      default:
        break;
    }
    this.after = After.Nothing;
    this.afterFacts = null;
    this.afterAssign = null;
    this.afterStatement = null;
  }

  onBackendDrain(): void {
    this.backendDrainWait = false;
    this.updateClientFlow();
  }

  onBackendLost(conn: BackendConn): void {
    if (this.phase === Phase.Closed || conn !== this.lease) return;
    const reason = this.closeAfterResponse ?? CloseReason.BACKEND_NETWORK;
    if ((this.awaiting || this.collector !== null) && this.scanner.packets === 0 && reason !== CloseReason.KILLED) {
      this.sendError(DBM_ERR.BACKEND_LOST, this.lastCommandSeq + 1, [conn.backendId, 'connection lost']);
    }
    this.lease = null;
    this.leasePool = null;
    this.close(reason);
  }

  // ---------------------------------------------------------------- streamed input

  /** Continuation pieces of a >16 MiB command, or LOCAL INFILE data: relayed unchanged. */
  private onStreamedPacket(p: Packet): void {
    const len = p.raw.length - 4;
    if (this.bigCommand) {
      this.bigCommandBytes += len;
      if (len < MAX_PACKET_PAYLOAD) this.bigCommand = false;
    } else if (len === 0) {
      this.scanner.infileSent();
    }
    this.lastCommandSeq = p.seq;
    if (this.lease && !this.lease.socket.write(p.raw)) this.backendDrainWait = true;
  }

  private packetTooLarge(): void {
    const seq = (this.inbound.bufferedBytes >= 4 ? this.peekSeq() : this.lastCommandSeq) + 1;
    this.sendError(DBM_ERR.PACKET_TOO_LARGE, seq);
    this.close(CloseReason.PACKET_TOO_LARGE);
  }

  private peekSeq(): number {
    const b = this.inbound.drain();
    return b[3] ?? 0;
  }

  // ---------------------------------------------------------------- errors and close

  sendError(spec: ErrorSpec, seq: number, args: (string | number)[] = []): void {
    if (this.client.writable) this.client.write(frame(encodeErr(spec.errno, spec.sqlState, formatMessage(spec, args)), seq).bytes);
  }

  /** Relay a raw packet to the client with a new sequence id. */
  writeToClient(raw: Buffer, seq: number): void {
    this.client.write(setSeq(raw, seq));
  }

  close(reason: CloseReason): void {
    if (this.phase === Phase.Closed) return;
    const wasIdle = this.idle && this.collector === null;
    this.phase = Phase.Closed;
    this.clearHandshakeTimer();
    this.inbound.clear();
    const conn = this.lease;
    if (conn !== null) {
      // An idle connection goes back (reset before reuse); one mid-command cannot be trusted.
      if (wasIdle && !conn.dead) this.giveBack();
      else {
        this.lease = null;
        if (this.leasePool) this.leasePool.discard(conn);
        else conn.kill('session closed mid-command');
        this.leasePool = null;
      }
    }
    if (reason === CloseReason.CLIENT_QUIT || reason === CloseReason.CLIENT_NETWORK) this.client.destroy();
    else this.client.end(); // let a final ERR packet flush
    this.client.setTimeout(5000, () => this.client.destroy());
    this.host.sessionClosed(this, reason);
  }
}
