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
 *
 * This file is the protocol state machine (client input, handshake, command dispatch, relay of
 * responses, close); it is long because those phases share one set of fields. The session's
 * other jobs live beside it and take the session as their first argument:
 *   session-lease.ts       routing, borrowing and restoring a backend connection, giving it back
 *   session-statements.ts  prepared statements (COM_STMT_*)
 *   session-handoff.ts     snapshot and adoption when a session moves to another worker
 *   session-state.ts       what the session remembers (schema, variables, statements, pins)
 */
import type net from 'node:net';
import type { ClusterConfig, Config, UserConfig } from '../config/types.js';
import { DBM_ERR, formatMessage, type ErrorSpec } from '../errors/index.js';
import {
  CLIENT_DEPRECATE_EOF, CLIENT_SESSION_TRACK, COM_CHANGE_USER, COM_DEBUG,
  COM_FIELD_LIST, COM_INIT_DB, COM_PING, COM_PROCESS_KILL, COM_QUERY, COM_QUIT, COM_REFRESH,
  COM_RESET_CONNECTION, COM_SET_OPTION, COM_STATISTICS, COM_STMT_CLOSE, COM_STMT_EXECUTE,
  COM_STMT_FETCH, COM_STMT_PREPARE, COM_STMT_RESET, COM_STMT_SEND_LONG_DATA, MAX_PACKET_PAYLOAD,
  SESSION_STATUS_FLAGS, SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_IN_TRANS,
} from '../protocol/constants.js';
import { PacketAssembler, frame, setSeq, type Packet } from '../protocol/framing.js';
import { ResponseKind, ResponseScanner, type OkEditor, type RelaySink } from '../protocol/response-scanner.js';
import { encodeErr, encodeOk } from '../protocol/responses.js';
import type { PrepareResponseCollector } from '../protocol/prepared.js';
import { classify, type StatementFacts } from '../sql/classifier.js';
import { PIN_SET_OPTION, PIN_TRACKING_SETTINGS } from '../sql/pins.js';
import { sessionAssignments, type SessionAssignment } from '../sql/session-assignments.js';
import { rewriteSessionFunctions, setsLastInsertId, type SessionValues } from '../sql/rewrite-session-fns.js';
import { useTarget } from '../sql/use-statement.js';
import type { RouteSession } from '../routing/read-write.js';
import type { BackendLoad } from '../routing/balancer.js';
import { ClientAuth, type AuthOutcome } from './client-auth.js';
import { HandshakeInput } from './handshake-input.js';
import { CloseReason } from '../observability/close-reasons.js';
import { mayBeKill } from '../sql/kill.js';
import { handleKillQuery, killBatch, killById, killQueryAsCaller } from './kill-command.js';
import { changeUser } from './change-user.js';
import type { SessionHost } from './session-host.js';
import type { SocketInput } from '../pool/socket-input.js';
import type { SessionSnapshot } from '../ipc/messages.js';
import { loginShape, type BackendConn, type ConnOwner, type LoginShape } from '../pool/backend-conn.js';
import type { BackendPool } from '../pool/backend-pool.js';
import { ExchangeError, enableTracking, queryScalar } from '../pool/conn-exchange.js';
import { SessionState, type SessionStatement } from './session-state.js';
import { CommandFailed, borrowAnywhere, giveBack, loginPool, maybeRelease, retryElsewhere, withConn } from './session-lease.js';
import { TxJournal } from './tx-journal.js';
import type { Blocked } from './firewall.js';
import type { AllowlistAccount } from './firewall-allowlist.js';
import type { UserLimitState } from './user-limits.js';
import { journallable, replayTransaction } from './session-replay.js';
import { SESSION_FN_RE, closeStatement, execute, finishPrepare, forgetStatements, onStatementCommand, prepare } from './session-statements.js';
import { adoptSnapshot, detachSession, type DetachedSession } from './session-handoff.js';
import { applyEffects, trackedOk } from './session-effects.js';
import { StatementRecord } from '../insight/statement-record.js';
import { beginStatement, endStatement, statementSent } from './session-insight.js';

/** The client library's "Lost connection to server during query": a statement the close cut short. */
const CR_SERVER_LOST = 2013;

export const enum Phase { Handshake, Connecting, Commands, Closed }

/** What the command in flight changes once its response is in. */
export const enum After { Nothing, Statement, Execute, InitDb, Fetch, Reset }

/** Pipelined client bytes held while a response is in flight before the socket is paused. */
const HOLD_LIMIT = 1 << 20;
/** The client sets state-change reports itself (`session_track_state_change = ON|OFF|1|0...`). */
const STATE_CHANGE_RE = /session_track_state_change\s*:?=\s*'?(\w+)/i;
/** A KILL batch's answer kept back until its KILLs took effect; beyond this it flows at once. */
const HELD_OUTPUT_LIMIT = 1 << 20;

export class ClientSession implements ConnOwner, RouteSession, RelaySink, OkEditor {
  private auth: ClientAuth | null;
  /** Client bytes until authentication (then null): held in the JS heap, see handshake-input.ts. */
  private handshakeInput: HandshakeInput | null = null;
  private handshakeTimer: NodeJS.Timeout | null;
  private bigCommand = false;
  /** Dropping the pieces of a >16 MiB command that failed before it was sent. */
  private skipRest = false;
  private bigCommandBytes = 0;
  /** Sequence id of the client's last command packet. Internal (session-*.ts). */
  lastCommandSeq = 0;
  private clientPaused = false;
  private backendDrainWait = false;
  private closeAfterResponse: CloseReason | null = null;
  private startedAtMs = 0;
  /** The connection that ran this session's previous statement, and its command count then. Internal. */
  lastConn: BackendConn | null = null;
  lastConnCommands = 0;
  /** After this write, read its GTID (causal reads without session tracking). */
  private fetchGtid = false;
  /** The command in flight: the server reported a state change (or one that could not be read). Internal (session-effects.ts). */
  reportedStateChange = false;
  /** The command in flight: the GTID an OK reported (session tracking). Internal (session-effects.ts). */
  reportedGtid: string | null = null;
  /** Told, once, when the command in flight ends: statements run, whether the last failed. */
  private afterResponse: ((ran: number, failed: boolean) => Promise<void>) | null = null;
  /** The answer kept back until afterResponse is done (bounded by HELD_OUTPUT_LIMIT). */
  private heldOutput: Buffer[] | null = null;
  private heldBytes = 0;
  // Internal: shared with the session's own modules (session-lease.ts, session-statements.ts,
  // session-handoff.ts), which take the session as their first argument. Not for other callers.
  phase = Phase.Handshake;
  readonly inbound = new PacketAssembler();
  /** The backend connection this session holds now (for a statement, a transaction, or pinned). */
  lease: BackendConn | null = null;
  /** The open transaction's statements and result digests (clusters[].transactionReplay); null when off. Internal. */
  journal: TxJournal | null = null;
  /**
   * The read in flight, kept to run it once more elsewhere if its backend dies before any of
   * its result reached the client (failover.retryReads); null for anything else. Internal.
   */
  retryRaw: Buffer | null = null;
  /** With retryRaw: how the read was routed and sent (withConn's arguments). Internal. */
  retryFacts: StatementFacts | null = null;
  retryThen: ((conn: BackendConn, raw: Buffer) => void) | null = null;
  leasePool: BackendPool | null = null;
  leaseLoad: BackendLoad | null = null;
  readonly scanner: ResponseScanner;
  awaiting = false;
  /** dbmesh is answering a command itself, or preparing a connection for it. */
  localTask = false;
  /** Set while dbmesh itself converses with the client (auth switch during change user). */
  packetWaiter: ((p: Packet) => void) | null = null;
  /** A client COM_STMT_PREPARE in flight: its response is collected, renumbered, then sent. */
  collector: PrepareResponseCollector | null = null;
  collectSql = '';
  collectFacts: StatementFacts | null = null;
  /** The prepare in flight was already retried after the server's 1461. */
  collectRetried = false;
  /** The prepare in flight came in a packet over 16 MiB (its text is not all known). */
  collectBig = false;
  // What the command in flight changes afterwards.
  after = After.Nothing;
  afterFacts: StatementFacts | null = null;
  afterAssign: SessionAssignment[] | null = null;
  afterSchema: string | null = null;
  afterStatement: SessionStatement | null = null;
  afterCursor = false;
  /** Causal reads are on (the cluster asks for them and its servers are MariaDB). */
  causal = false;
  /** The cluster's servers are MariaDB (else MySQL-compatible): which GTID functions to use. */
  mariadb = false;

  readonly state = new SessionState();
  /** The statement in flight, for the observers (src/insight/): one record, refilled per statement. */
  readonly stmt = new StatementRecord();
  /** dbmesh's own session (code warm-up): its statements are not observed. */
  internal = false;
  private clientLabel: string | null = null;
  private remoteHostText: string | null = null;
  /** users[].limits: the user's state in this worker (null: no limits), and whether a statement slot is held. */
  limit: UserLimitState | null = null;
  /** The user this connection is counted for (users[].limits.maxConnections), or null. */
  limitUser: string | null = null;
  private slotHeld = false;
  /** users[].limits.statementTimeoutMs: one timer per session, re-armed per statement (no allocation per statement). */
  private stmtTimer: NodeJS.Timeout | null = null;
  private stmtTimerMs = 0;
  /** Counts statements sent; the timer fires for the one it was armed for, or not at all. */
  private sentSerial = 0;
  private timedSerial = 0;
  /** The statement ran past its timeout before any answer: the backend's answer is dropped and ERR 3024 sent instead. */
  private timedOut = false;
  /** The firewall allowlist account this session answers to, and the list's seq it was found in. */
  allowlistAccount: AllowlistAccount | null = null;
  allowlistSeq = -2;
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
    /** Internal (session-*.ts), like the two below. */
    readonly client: net.Socket,
    /** The client's reused read buffer; chunks from it are valid only during onClientData. */
    readonly clientInput: SocketInput,
    readonly host: SessionHost,
  ) {
    this.scanner = new ResponseScanner(false);
    this.auth = null;
    this.handshakeTimer = null;
    client.setNoDelay(true);
    clientInput.handler = (c: Buffer) => {
      try {
        this.onClientData(c);
      } catch (err) {
        this.internalError(err, 'client input');
      }
    };
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
    this.handshakeInput = new HandshakeInput();
    this.auth.greet(this.id, greeting);
  }

  // ---------------------------------------------------------------- identity and state

  /** The client's address (IPv4-mapped IPv6 shown as IPv4); read once: the firewall asks for it per statement. */
  get remoteHost(): string {
    return this.remoteHostText ??= this.client.remoteAddress?.replace(/^::ffff:/, '') ?? 'unknown';
  }

  /** The client's address and port, as logs and the capture show it. */
  get clientAddress(): string {
    return this.clientLabel ??= `${this.remoteHost}:${this.client.remotePort ?? 0}`;
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

  /** Internal (session-*.ts). */
  get clusterConfig(): ClusterConfig | undefined {
    return this.user ? this.host.pools.cluster(this.user.cluster) : undefined;
  }

  /** The login shape a moved session will have (for the connection that moves with it). */
  shapeFor(user: UserConfig, snap: SessionSnapshot): LoginShape {
    this.connectAttrs = snap.connectAttrs === null ? null : Buffer.from(snap.connectAttrs, 'base64');
    this.setLogin(user, snap.capabilities, snap.mariadbCapabilities, snap.charset);
    return this.shape!;
  }

  /** The login shape: connections of equal shape are interchangeable for this session. Internal (session-*.ts). */
  setLogin(user: UserConfig, capabilities: number, mariadbCapabilities: number, charset: number): void {
    this.user = user;
    this.capabilities = capabilities;
    this.mariadbCapabilities = mariadbCapabilities;
    this.charset = charset;
    const greeting = this.host.directory.greeting(user.cluster);
    this.shape = loginShape(user, capabilities, mariadbCapabilities, charset, this.connectAttrs, greeting?.capabilities ?? 0);
    this.scanner.setDeprecateEof((capabilities & CLIENT_DEPRECATE_EOF) !== 0);
    const cluster = this.host.pools.cluster(user.cluster);
    // MariaDB: last_gtid (tracked, or asked for) and MASTER_GTID_WAIT. MySQL: the GTIDS tracker
    // and WAIT_FOR_EXECUTED_GTID_SET, which need session tracking; without it MySQL sessions
    // keep the read-your-writes window.
    this.mariadb = /mariadb/i.test(greeting?.serverVersion ?? '');
    this.causal = cluster?.causalReads === true && (this.mariadb || (this.shape.capabilities & CLIENT_SESSION_TRACK) !== 0);
  }

  // ---------------------------------------------------------------- hand-off

  /** A session moved here from another worker (with its pinned connection, if it had one). */
  adopt(snap: SessionSnapshot, user: UserConfig, conn: BackendConn | null): void {
    adoptSnapshot(this, snap, user, conn);
  }

  /** At a command boundary, hand the session to another worker: see session-handoff.ts. Null when busy. */
  detachForHandoff(): DetachedSession | null {
    return detachSession(this);
  }

  // ---------------------------------------------------------------- client input

  private onClientData(chunk: Buffer): void {
    if (this.phase === Phase.Closed) return;
    if (this.handshakeInput !== null) return this.onHandshakeData(this.handshakeInput, chunk);
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
   * packets, other commands, KILL, a connection to prepare first, a user with limits) takes
   * the general path.
   */
  private tryFastCommand(chunk: Buffer): boolean {
    if (this.phase !== Phase.Commands || this.awaiting || this.localTask || this.bigCommand || this.packetWaiter !== null ||
      this.inbound.bufferedBytes !== 0 || chunk.length < 5 || chunk[3] !== 0 || this.limit !== null) return false;
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
      execute(this, chunk, 4);
      this.afterSend(chunk);
      return true;
    }
    return false;
  }

  /** The first piece of a command goes out: a >16 MiB one streams its other pieces after it. Internal (session-statements.ts). */
  startCommand(raw: Buffer): void {
    if (raw.length - 4 === MAX_PACKET_PAYLOAD) {
      this.bigCommand = true;
      this.bigCommandBytes = MAX_PACKET_PAYLOAD;
    }
  }

  /** A write the kernel did not take at once still references the client's read buffer. */
  private afterSend(_chunk: Buffer): void {
    if (this.lease !== null && this.lease.socket.writableLength > 0) this.clientInput.retain();
  }

  /** Process as many complete client packets as the current phase allows. Internal (session-*.ts). */
  pump(): void {
    while (this.phase !== Phase.Closed) {
      if (this.phase === Phase.Connecting || this.phase === Phase.Handshake) break;
      const len = this.inbound.peekLength();
      if (len < 0) break;
      if (this.packetWaiter) {
        const p = this.inbound.next();
        if (p === null) break;
        const w = this.packetWaiter;
        this.packetWaiter = null;
        w(p);
        continue;
      }
      if (this.skipRest && !this.localTask) {
        // The rest of a >16 MiB command that failed before it was sent: nobody takes it.
        const p = this.inbound.next();
        if (p === null) break;
        if (p.raw.length - 4 < MAX_PACKET_PAYLOAD) this.skipRest = false;
        continue;
      }
      const streaming = this.bigCommand || this.scanner.awaitingInfile;
      if ((this.awaiting || this.localTask) && !streaming) break; // hold pipelined commands
      if (!streaming && len > this.config.limits.maxAllowedPacket) return this.packetTooLarge();
      if (this.bigCommand && this.bigCommandBytes + len > this.config.limits.maxAllowedPacket) return this.packetTooLarge();
      const p = this.inbound.next();
      if (p === null) break;
      if (streaming) this.onStreamedPacket(p);
      else {
        this.onCommand(p);
        // The first piece of a >16 MiB command answered (or dropped) here without being sent:
        // the pieces still to come are not commands. (Sent or waiting: they follow it.)
        if (p.raw.length - 4 === MAX_PACKET_PAYLOAD && !this.bigCommand && !this.awaiting && !this.localTask && this.phase === Phase.Commands) this.skipRest = true;
      }
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

  /**
   * Client bytes before authentication. A packet announced over limits.maxHandshakePacket is
   * refused before its bytes are held; bytes that follow a successful handshake are the
   * client's first commands and wait in the command assembler for the login to finish.
   */
  private onHandshakeData(input: HandshakeInput, chunk: Buffer): void {
    input.begin(chunk);
    while (this.phase === Phase.Handshake) {
      const len = input.peekLength();
      if (len < 0) break;
      if (len > this.config.limits.maxHandshakePacket) return this.handshakeTooLarge(input.peekSeq());
      const p = input.next();
      if (p === null) break;
      this.onHandshakePacket(p);
    }
    if (this.phase === Phase.Handshake) return input.keepRest();
    this.handshakeInput = null;
    if (this.phase !== Phase.Connecting) return;
    const rest = input.drain();
    if (rest.length > 0) this.inbound.push(rest);
  }

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
    this.clientInput.retain(); // from now on reads go into a buffer of its own (client-socket.ts)
    this.host.sessionAuthenticated(this);
    const r = outcome.response;
    this.connectAttrs = r.connectAttrs;
    this.setLogin(outcome.user, r.capabilities, r.mariadbCapabilities ?? 0, r.charset);
    this.state.schema = r.database || null; // an empty name (CONNECT_WITH_DB with "") selects none
    this.phase = Phase.Connecting;
    this.updateClientFlow();
    void this.login(outcome.nextSeq);
  }

  /** Borrow a primary connection (checks the backend login and the schema), then say OK. */
  private async login(seq: number): Promise<void> {
    if (this.user!.limits !== undefined) {
      if (!(await this.host.admitConnection(this))) {
        if (this.phase === Phase.Closed) return;
        this.sendError(DBM_ERR.USER_CONNECTIONS, seq, [this.user!.name, this.user!.limits.maxConnections ?? 0]);
        return this.close(CloseReason.USER_CONNECTIONS);
      }
      this.limit = this.host.limits.stateOf(this.user!);
    }
    try {
      const conn = await borrowAnywhere(this, await loginPool(this), false);
      if (this.phase === Phase.Closed) return giveBack(this);
      this.statusFlags = conn.statusFlags;
      this.client.write(frame(encodeOk({ affectedRows: 0, lastInsertId: 0, statusFlags: this.statusFlags, warnings: 0 }), seq).bytes);
      this.phase = Phase.Commands;
      maybeRelease(this);
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

  /** A packet announced over limits.maxHandshakePacket (bad handshake, as MariaDB answers). */
  private handshakeTooLarge(seq: number): void {
    this.sendError(DBM_ERR.HANDSHAKE, seq + 1);
    this.closeDetail = `handshake packet over ${this.config.limits.maxHandshakePacket} bytes`;
    this.close(CloseReason.MALFORMED);
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  // ---------------------------------------------------------------- after local work, failures
  // Internal (session-*.ts): used by the lease and statement steps too.

  /** dbmesh's own work for the command is over: take the next client packets. */
  continueAfterLocal(): void {
    this.pump();
    if (this.idle) {
      this.lastBoundaryAt = Date.now();
      this.host.sessionAtBoundary(this);
    }
  }

  /** Any failure while serving a command, as the ERR to answer with. */
  asFailure(err: unknown): CommandFailed {
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

  /**
   * A command that never reached a backend failed: answer it, and when it was the first piece
   * of a >16 MiB packet, drop the pieces still to come (they are not commands).
   */
  failUnsent(e: CommandFailed, raw: Buffer): void {
    if (raw.length - 4 === MAX_PACKET_PAYLOAD) this.skipRest = true;
    this.fail(e, 1);
  }

  /** Answer the command with an error and keep the session. */
  fail(e: CommandFailed, seq: number): void {
    if (this.slotHeld) this.leaveSlot();
    if (this.stmt.active) endStatement(this, e.payload !== null && e.payload.length >= 3 ? e.payload.readUInt16LE(1) : e.spec?.errno ?? 1, 0, 0);
    if (this.afterResponse !== null) void this.responseEnded(0, true);
    this.releaseHeldOutput();
    this.writeFailure(e, seq);
    maybeRelease(this);
  }

  private responseEnded(ran: number, failed: boolean): Promise<void> {
    const hook = this.afterResponse!;
    this.afterResponse = null;
    return hook(ran, failed);
  }

  /** Any failure while serving a command, as the ERR payload to answer with. */
  asFailurePayload(err: unknown): Buffer {
    const e = this.asFailure(err);
    return e.payload ?? encodeErr(e.spec!.errno, e.spec!.sqlState, formatMessage(e.spec!, e.args));
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
        if (this.limit !== null && !this.admitStatement(p.raw, (raw) => this.query(raw, 4))) return;
        return this.query(p.raw, 4);
      case COM_STMT_EXECUTE:
        if (this.limit !== null && !this.admitStatement(p.raw, (raw) => execute(this, raw, 4))) return;
        return execute(this, p.raw, 4);
      case COM_STMT_PREPARE: return prepare(this, p);
      case COM_STMT_FETCH: return onStatementCommand(this, p, ResponseKind.Fetch);
      case COM_STMT_SEND_LONG_DATA: return onStatementCommand(this, p, null);
      case COM_STMT_RESET: return onStatementCommand(this, p, ResponseKind.Single);
      case COM_STMT_CLOSE: return closeStatement(this, p);
      case COM_INIT_DB:
        this.after = After.InitDb;
        this.afterSchema = p.payload.toString('utf8', 1);
        return withConn(this, null, p.raw, (_c, raw) => this.send(raw, ResponseKind.Single));
      case COM_SET_OPTION:
        this.state.pins |= PIN_SET_OPTION;
        return withConn(this, null, p.raw, (_c, raw) => this.send(raw, ResponseKind.Single));
      case COM_FIELD_LIST: return withConn(this, null, p.raw, (_c, raw) => this.send(raw, ResponseKind.FieldList));
      case COM_PING: case COM_STATISTICS: case COM_REFRESH: case COM_DEBUG:
        return withConn(this, null, p.raw, (_c, raw) => this.send(raw, ResponseKind.Single));
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

  /**
   * users[].limits: may this statement run now? True: go on (a slot is held until it ends).
   * Otherwise it was refused (ERR 1226) or waits its turn (queueMs) and runs through `run`.
   */
  private admitStatement(raw: Buffer, run: (raw: Buffer) => void): boolean {
    this.leaveSlot();
    // A reload may have changed or removed the user's limits: follow it.
    const st = this.host.limits.stateOf(this.user!);
    this.limit = st;
    if (st === null) return true;
    const verdict = this.host.limits.enter(st);
    if (verdict === null) {
      this.slotHeld = true;
      return true;
    }
    if (verdict instanceof CommandFailed) {
      this.failUnsent(verdict, raw);
      return false;
    }
    if (raw.length - 4 === MAX_PACKET_PAYLOAD) {
      // The rest of a >16 MiB command streams in behind it: it cannot wait here.
      void verdict.then((refused) => (refused === null ? this.host.limits.leave(st) : undefined));
      this.failUnsent(st.refusal(0), raw);
      return false;
    }
    const copy = Buffer.from(raw);
    this.localTask = true;
    verdict.then((refused) => {
      this.localTask = false;
      if (this.phase === Phase.Closed) {
        if (refused === null) this.host.limits.leave(st);
        return;
      }
      if (refused !== null) {
        this.failUnsent(refused, copy);
        return this.continueAfterLocal();
      }
      this.slotHeld = true;
      run(copy);
      if (!this.awaiting && !this.localTask) this.continueAfterLocal();
      else this.pump();
    }).catch((err: unknown) => this.internalError(err, 'statement admission'));
    return false;
  }

  /** The statement slot (users[].limits) goes back. */
  private leaveSlot(): void {
    if (!this.slotHeld) return;
    this.slotHeld = false;
    this.host.limits.leave(this.limit!);
  }

  /**
   * users[].limits.statementTimeoutMs: the statement sent as `serial` still runs. The client
   * gets ERR 3024 (the backend's answer is dropped when none of it was relayed yet) and the
   * statement is stopped on the server by KILL QUERY from another connection of the same login.
   */
  private statementTimedOut(serial: number): void {
    if (serial !== this.sentSerial || !this.awaiting || this.phase === Phase.Closed) return;
    const conn = this.lease;
    const pool = this.leasePool;
    if (conn === null || pool === null) return;
    if (this.scanner.packets === 0) this.timedOut = true;
    const ms = this.user?.limits?.statementTimeoutMs ?? 0;
    this.host.log.info('statement timed out; stopping it on the backend', { conn_id: this.id, user: this.user?.name ?? null, backend: conn.backendId, thread_id: conn.threadId, timeout_ms: ms });
    void killQueryAsCaller(this, pool, conn.threadId).then((failure) => {
      if (failure !== null) this.host.log.warn('KILL QUERY for a timed-out statement failed', { conn_id: this.id, backend: conn.backendId, error: failure.toString('utf8', 9, Math.min(failure.length, 300)) });
    });
  }

  /** COM_QUERY: classify, route, run. `raw` is the whole packet; the payload starts at `at`. */
  private query(raw: Buffer, at: number): void {
    const sql = raw.toString('utf8', at + 1);
    const facts = classify(sql);
    const fw = this.host.firewall;
    if (fw.enabled && this.blockedByFirewall(fw.check(sql, facts.kind, this), sql, facts)) return;
    if (facts.kill && killBatch(this, this.host, sql)) return;
    beginStatement(this, sql, facts, null);
    if (fw.enabled && this.stmt.active) {
      this.stmt.fingerprint = fw.fingerprintOf(sql);
      this.stmt.firewall = fw.note;
    }
    if ((facts.pins & PIN_TRACKING_SETTINGS) !== 0) {
      const m = STATE_CHANGE_RE.exec(sql);
      if (m !== null) this.state.clientTracksStateChange = /^(on|1|true)$/i.test(m[1]!);
    }
    this.after = After.Statement;
    this.afterFacts = facts;
    this.afterAssign = facts.kind === 'session-set' && facts.pins === 0 ? sessionAssignments(sql) : null;
    this.afterSchema = facts.kind === 'use' ? useTarget(sql) : null;
    withConn(this, facts, raw, (conn, packet) => {
      if (this.readOnlyStart(facts, conn)) this.readOnlyTransaction = true;
      // LAST_INSERT_ID() / ROW_COUNT() belong to the connection: on another one, use ours.
      // CONNECTION_ID() is always ours (the id KILL takes).
      if (SESSION_FN_RE.test(sql)) {
        if (setsLastInsertId(sql)) conn.insertIdSession = this.id;
        const rewritten = rewriteSessionFunctions(sql, this.sessionValues(conn));
        if (rewritten !== null) {
          const payload = Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(rewritten, 'utf8')]);
          if (payload.length < MAX_PACKET_PAYLOAD) packet = frame(payload, 0).bytes;
        }
      }
      this.send(packet, ResponseKind.Result);
    });
  }

  /**
   * A statement the firewall stopped: it never reaches a backend; the client gets ERR 1148
   * naming the guard or rule, the session (and an open transaction) go on, and the statement
   * is counted and captured with the rule. Returns whether it was blocked. Internal.
   */
  blockedByFirewall(verdict: Blocked | null, sql: string, facts: StatementFacts): boolean {
    if (verdict === null) return false;
    beginStatement(this, sql, facts, null);
    this.stmt.firewall = verdict.rule;
    this.host.log.warn('statement blocked by the firewall', { conn_id: this.id, user: this.user?.name ?? null, client: this.clientAddress, rule: verdict.rule, detail: verdict.message });
    this.fail(new CommandFailed(DBM_ERR.FIREWALL_BLOCKED, [verdict.message]), 1);
    return true;
  }

  /** What LAST_INSERT_ID(), ROW_COUNT() and CONNECTION_ID() are for this session on `conn`. Internal. */
  sessionValues(conn: BackendConn): SessionValues {
    const mine = this.ranLastOn(conn);
    // ROW_COUNT() is the previous statement's: ours when it ran here. LAST_INSERT_ID() lasts
    // until changed: ours only when this session set it here (or nobody did and ours is 0).
    const id = this.state.lastInsertId;
    const idMine = mine && (conn.insertIdSession === this.id || (conn.insertIdSession === 0 && (id === 0 || id === 0n)));
    return { lastInsertId: idMine ? null : id, rowCount: mine ? null : this.state.rowCount, connectionId: this.id };
  }

  /**
   * A command that does not change LAST_INSERT_ID()/ROW_COUNT() (a prepare) ran for this
   * session on `conn`: the connection's values are still the session's. Internal.
   */
  ownCommand(conn: BackendConn): void {
    if (conn === this.lastConn && conn.commands - 1 === this.lastConnCommands) this.lastConnCommands = conn.commands;
  }

  /** The connection ran this session's previous statement and nothing else since. Internal (session-*.ts). */
  ranLastOn(conn: BackendConn): boolean {
    return conn === this.lastConn && conn.commands === this.lastConnCommands;
  }

  private readOnlyStart(facts: StatementFacts, conn: BackendConn): boolean {
    return facts.kind === 'transaction-begin-read-only' && !this.inTransaction && conn !== null &&
      this.host.pools.primary(this.user!.cluster)?.id !== conn.backendId;
  }

  /** Send a client packet on the held connection; `kind` null means no response comes. Internal (session-*.ts). */
  send(raw: Buffer, kind: ResponseKind | null): void {
    const conn = this.lease!;
    this.startCommand(raw);
    const replay = this.clusterConfig?.transactionReplay === true;
    if (!replay && this.journal !== null) {
      // Switched off by a reload: a journal switched on again starts afresh.
      this.journal.clear();
      this.journal = null;
    }
    else if (kind !== null) {
      let j = this.journal;
      if (j === null) {
        j = this.journal = new TxJournal();
        // A transaction already open (the session moved here in an upgrade, or replay was
        // switched on by a reload) has statements no journal saw: it cannot be replayed.
        if (this.inTransaction) j.breakOff('the transaction began before its statements were journalled');
      }
      if (kind === ResponseKind.Result && journallable(raw)) j.begin(raw);
      // Not replayable: if a transaction is open after it, that transaction cannot be replayed
      // (the journal is cleared when no transaction is open after a response).
      else j.breakOff(`command 0x${(raw[4] ?? 0).toString(16)} in the transaction`);
    }
    if (kind !== null) {
      this.awaiting = true;
      this.scanner.begin(kind);
      const tracks = (conn.capabilities & CLIENT_SESSION_TRACK) !== 0;
      // MySQL writes an OK's info differently for a client without session tracking; MariaDB does not.
      if (tracks !== this.scanner.isEditing) this.scanner.setEditing(tracks ? this : null, tracks ? this : null, (this.capabilities & CLIENT_SESSION_TRACK) === 0 && !this.mariadb);
      this.reportedStateChange = false;
      this.reportedGtid = null;
      this.startedAtMs = performance.now();
      this.leaseLoad?.begin();
      this.timedOut = false; // whatever ended the last statement, this one's answer is relayed
      const timeoutMs = this.limit !== null ? this.user!.limits!.statementTimeoutMs ?? 0 : 0;
      if (timeoutMs > 0) {
        const serial = ++this.sentSerial;
        this.timedSerial = serial;
        if (this.stmtTimer !== null && this.stmtTimerMs === timeoutMs) this.stmtTimer.refresh();
        else {
          if (this.stmtTimer !== null) clearTimeout(this.stmtTimer); // the limit changed (reload)
          this.stmtTimer = setTimeout(() => this.statementTimedOut(this.timedSerial), timeoutMs);
          this.stmtTimerMs = timeoutMs;
        }
      }
      if (this.stmt.active) statementSent(this, conn);
      const readTimeoutMs = this.config.failover.readTimeoutMs;
      if (readTimeoutMs > 0) conn.watchAnswer(readTimeoutMs);
    }
    conn.commands++;
    if (!conn.writeCommand(raw)) {
      this.backendDrainWait = true;
      this.updateClientFlow();
    }
  }

  // ---------------------------------------------------------------- commands dbmesh answers

  /** COM_RESET_CONNECTION: the session starts afresh; a held connection is reset too. */
  private resetConnection(p: Packet): void {
    forgetStatements(this);
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
    task.then(() => {
      this.localTask = false;
      if (this.phase !== Phase.Commands) return;
      this.continueAfterLocal();
    }).catch((err: unknown) => this.internalError(err, 'local command'));
  }

  /**
   * Run a statement dbmesh rewrote (a multi-statement with its KILLs translated) as the
   * client's command, routed by `facts`; `after` learns how many of its statements ran.
   */
  runBatch(sql: string, facts: StatementFacts, after: (ran: number, failed: boolean) => Promise<void>): void {
    const payload = Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(sql, 'utf8')]);
    if (payload.length >= MAX_PACKET_PAYLOAD) {
      void after(0, true);
      return this.packetTooLarge();
    }
    this.afterResponse = after;
    this.heldOutput = [];
    this.after = After.Statement;
    this.afterFacts = facts;
    this.afterAssign = null;
    this.afterSchema = null;
    withConn(this, facts, frame(payload, 0).bytes, (_conn, packet) => this.send(packet, ResponseKind.Result));
    if (!this.awaiting && !this.localTask) this.continueAfterLocal();
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
      giveBack(this);
    }
    forgetStatements(this);
    this.state.reset();
    this.readOnlyTransaction = false;
    this.connectAttrs = connectAttrs;
    this.setLogin(u, this.capabilities, this.mariadbCapabilities, charset);
    this.state.schema = schema;
    // users[].limits: the connection now counts for the new user (and no longer for the old one).
    this.leaveSlot();
    this.host.connectionEnded(this);
    this.limit = null;
    if (u.limits !== undefined) {
      if (!(await this.host.admitConnection(this))) throw new CommandFailed(DBM_ERR.USER_CONNECTIONS, [u.name, u.limits.maxConnections ?? 0]);
      this.limit = this.host.limits.stateOf(u);
    }
    const conn = await borrowAnywhere(this, await loginPool(this), false);
    this.statusFlags = conn.statusFlags;
    maybeRelease(this);
    return this.statusFlags;
  }

  /** The failure from becomeUser as the packet to send (server ERR or dbmesh error). */
  failurePacket(err: unknown, seq: number): Buffer {
    return frame(this.asFailurePayload(err), seq).bytes;
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
    try {
      this.relayBackend(chunk);
    } catch (err) {
      this.internalError(err, 'backend response');
    }
  }

  private relayBackend(chunk: Buffer): void {
    if (this.phase === Phase.Closed) return;
    if (this.journal !== null && this.journal.recording) this.journal.feed(chunk);
    const c = this.collector;
    if (c !== null) {
      let complete: boolean;
      try {
        complete = c.push(chunk);
      } catch {
        this.closeDetail = 'prepare response too large';
        return this.close(CloseReason.BACKEND_NETWORK);
      }
      if (complete) finishPrepare(this, c);
      return;
    }
    let ended = -1;
    const conn = this.lease!;
    if (this.awaiting && this.scanner.isEditing) {
      // The scanner relays (through relay/emit below), rewriting OKs with session state.
      ended = this.scanner.scan(chunk);
      if (ended >= 0 && ended < chunk.length) this.relay(chunk, ended, chunk.length);
    } else {
      if (this.awaiting) ended = this.scanner.scan(chunk);
      this.relay(chunk, 0, chunk.length);
    }
    // A write the kernel did not take at once still references the shared read buffer.
    if (this.client.writableLength > 0) conn.input.retain();
    if (ended < 0) return;
    if (this.scanner.awaitingInfile) return this.pump(); // client sends the file next
    this.awaiting = false;
    this.sentSerial++; // a timer still armed for this statement fires for nothing
    if (this.timedOut) {
      this.timedOut = false;
      this.sendError(DBM_ERR.STATEMENT_TIMEOUT, this.lastCommandSeq + 1, [this.user?.limits?.statementTimeoutMs ?? 0]);
    }
    // Only the flags that describe the session outlive the response (SESSION_STATE_CHANGED
    // describes one OK; OKs dbmesh writes itself carry no state), and a batch that failed after
    // a result set leaves MORE_RESULTS in the last status seen (an ERR has none), and an OK
    // dbmesh writes later (the next client's login) must not repeat it.
    if (this.scanner.statusFlags >= 0) this.statusFlags = conn.statusFlags = this.scanner.statusFlags & SESSION_STATUS_FLAGS;
    // An ERR carries no status flags: with autocommit off the failed statement may have
    // opened a transaction (its locks held), so the connection stays until an OK says.
    if (this.scanner.failed && (this.statusFlags & SERVER_STATUS_AUTOCOMMIT) === 0) this.statusFlags = conn.statusFlags |= SERVER_STATUS_IN_TRANS;
    if (this.afterResponse !== null) {
      // dbmesh acts on what the command did (a KILL in a batch) before the client sees the end.
      this.localTask = true;
      this.responseEnded(this.scanner.results, this.scanner.failed).then(() => {
        this.localTask = false;
        this.releaseHeldOutput();
        if (this.phase !== Phase.Closed) this.responseComplete(conn);
      }).catch((err: unknown) => this.internalError(err, 'after a batch'));
      return;
    }
    this.responseComplete(conn);
  }

  /** The response is relayed: account for it, then take the next command. */
  private responseComplete(conn: BackendConn): void {
    const sc = this.scanner;
    if (this.slotHeld) this.leaveSlot();
    if (this.config.failover.readTimeoutMs > 0) conn.watchAnswer(0);
    if (this.stmt.active) endStatement(this, sc.failed ? sc.errno || 1 : 0, sc.rows, sc.affectedTotal);
    if (this.leaseLoad !== null) {
      this.leaseLoad.end();
      const now = performance.now();
      this.leaseLoad.observe(now - this.startedAtMs, now);
    }
    if (applyEffects(this, conn)) this.fetchGtid = true;
    const j = this.journal;
    if (j !== null) {
      j.end();
      if (!this.inTransaction) j.clear();
      else if (this.state.pins !== 0) j.breakOff('the session is pinned');
    }
    if (this.closeAfterResponse) return this.close(this.closeAfterResponse);
    if (this.fetchGtid) return this.fetchLastGtid(conn);
    if (conn.trackingPending && !conn.dead) return this.retrack(conn);
    this.endOfCommand();
  }

  // ---------------------------------------------------------------- edit mode (RelaySink, OkEditor)

  /** Backend bytes as they came (the scanner calls this in edit mode). */
  relay(chunk: Buffer, from: number, to: number): void {
    if (this.timedOut) return;
    const bytes = from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
    if (this.heldOutput !== null && this.holdOutput(Buffer.from(bytes))) return;
    if (!this.client.write(bytes)) this.lease?.socket.pause(); // resumed on client 'drain'
  }

  /** A packet dbmesh rewrote or held (edit mode). */
  emit(packet: Buffer): void {
    if (this.timedOut) return;
    if (this.heldOutput !== null && this.holdOutput(packet)) return;
    if (!this.client.write(packet)) this.lease?.socket.pause();
  }

  /** Keep a copy back (a KILL batch's answer); false when the bound is reached (all of it goes now). */
  private holdOutput(bytes: Buffer): boolean {
    if (this.heldBytes + bytes.length > HELD_OUTPUT_LIMIT) {
      this.releaseHeldOutput();
      return false;
    }
    this.heldOutput!.push(bytes);
    this.heldBytes += bytes.length;
    return true;
  }

  private releaseHeldOutput(): void {
    const held = this.heldOutput;
    this.heldOutput = null;
    this.heldBytes = 0;
    if (held !== null && held.length > 0 && !this.client.write(Buffer.concat(held))) this.lease?.socket.pause();
  }

  /** An OK with session state (or info a client reads differently): see session-effects.ts. */
  onTrackedOk(payload: Buffer): Buffer | null {
    return trackedOk(this, payload);
  }

  onUnreadState(): void {
    this.reportedStateChange = true;
  }

  /** After the client's own COM_RESET_CONNECTION on a held connection: ask for reports again. */
  private retrack(conn: BackendConn): void {
    this.localTask = true;
    enableTracking(conn, this.config.limits.connectTimeoutMs).catch(() => conn.kill('could not re-enable session tracking')).then(() => {
      this.localTask = false;
      if (this.phase !== Phase.Closed) this.endOfCommand();
    }).catch((err: unknown) => this.internalError(err, 'session tracking after reset'));
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
    }).catch((err: unknown) => this.internalError(err, 'GTID read'));
  }

  /** The command's response is complete. Internal (session-*.ts). */
  endOfCommand(): void {
    maybeRelease(this);
    this.pump();
    if (this.idle) {
      this.lastBoundaryAt = Date.now();
      this.host.sessionAtBoundary(this);
    }
  }

  onBackendDrain(): void {
    this.backendDrainWait = false;
    this.updateClientFlow();
  }

  onBackendLost(conn: BackendConn): void {
    if (this.phase === Phase.Closed || conn !== this.lease) return;
    const reason = this.closeAfterResponse ?? CloseReason.BACKEND_NETWORK;
    // The monitor looks now (a dead primary is found within a probe, not an interval).
    if (reason === CloseReason.BACKEND_NETWORK && this.user !== null) this.host.directory.suspect(this.user.cluster, conn.backendId, false);
    const untouched = this.scanner.packets === 0 && this.collector === null && this.afterResponse === null && !this.localTask && !this.bigCommand;
    const j = this.journal;
    if (reason === CloseReason.BACKEND_NETWORK && j !== null && j.broken === null && this.user !== null &&
        (this.awaiting ? untouched && this.replayableInFlight() : this.inTransaction && this.collector === null && this.afterResponse === null && !this.localTask)) {
      // The transaction runs again on the primary; the client waits and sees nothing of it.
      const inFlight = this.awaiting ? j.takeInFlight() : null;
      if (!this.awaiting || inFlight !== null) {
        this.dropDeadLease();
        this.awaiting = false;
        this.scanner.reset();
        return replayTransaction(this, conn.backendId, inFlight);
      }
    }
    if (reason === CloseReason.BACKEND_NETWORK && untouched && this.awaiting && this.retryRaw !== null) {
      // A read whose backend died before answering: nothing reached the client, nothing was
      // written. It runs once more on another backend; the client sees only the result.
      const raw = this.retryRaw;
      this.retryRaw = null;
      this.host.directory.suspect(this.user!.cluster, conn.backendId);
      this.dropDeadLease();
      this.awaiting = false;
      this.scanner.reset();
      return retryElsewhere(this, this.retryFacts!, raw, this.retryThen!);
    }
    if (reason === CloseReason.BACKEND_NETWORK && untouched && this.canLeaveConnection()) {
      // Nothing holds the session to that connection (no transaction, no pin): the statement
      // in flight gets the 2013 a dead server gives (its outcome is unknown) and the session
      // goes on; its next statement runs wherever the router sends it.
      this.dropDeadLease();
      if (this.awaiting) {
        this.awaiting = false;
        this.scanner.reset();
        this.fail(new CommandFailed(DBM_ERR.BACKEND_LOST, [conn.backendId, conn.closedWhy ?? 'connection lost']), this.lastCommandSeq + 1);
        this.endOfCommand();
      }
      return;
    }
    if ((this.awaiting || this.collector !== null) && this.scanner.packets === 0 && reason !== CloseReason.KILLED) {
      this.sendError(DBM_ERR.BACKEND_LOST, this.lastCommandSeq + 1, [conn.backendId, conn.closedWhy ?? 'connection lost']);
    }
    this.lease = null;
    this.leasePool = null;
    this.close(reason);
  }

  /**
   * The statement in flight may run again on another connection after the transaction's
   * replay: it cannot have committed anything. Not a COMMIT (it may have committed: its
   * outcome is unknown), nor anything that commits implicitly (DDL, LOCK TABLES, a BEGIN
   * inside a transaction, a procedure). A BEGIN outside one starts a transaction that has run
   * nothing yet.
   */
  private replayableInFlight(): boolean {
    const kind = this.after === After.Statement ? this.afterFacts?.kind : undefined;
    if (kind === 'transaction-begin' || kind === 'transaction-begin-read-only') return !this.inTransaction;
    return this.inTransaction && (kind === 'read' || kind === 'write' || kind === 'show');
  }

  /** The held connection died: forget it (the pool counted it out when it closed). */
  private dropDeadLease(): void {
    this.lease = null;
    this.leasePool = null;
    this.leaseLoad?.end();
    this.leaseLoad = null;
  }

  /** The session keeps nothing on its backend connection that another one would lack. */
  private canLeaveConnection(): boolean {
    return !this.inTransaction && this.state.pins === 0 && this.clusterConfig?.pool.multiplex === true && this.user !== null;
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
    // An answer dbmesh gives itself ends the command: its statement slot (users[].limits) goes back.
    if (this.slotHeld) this.leaveSlot();
    if (this.client.writable) this.client.write(frame(encodeErr(spec.errno, spec.sqlState, formatMessage(spec, args)), seq).bytes);
  }

  /** Relay a raw packet to the client with a new sequence id. */
  writeToClient(raw: Buffer, seq: number): void {
    if (this.slotHeld) this.leaveSlot();
    this.client.write(setSeq(raw, seq));
  }

  /**
   * The last line of defence: an exception escaped while serving this session (a bug, or
   * input no parser anticipated). Only this session ends; the worker and every other session
   * go on. Where in the conversation it happened is unknown, so the session cannot answer
   * with an ERR: it closes, and its backend connection (maybe mid-response) is discarded.
   */
  internalError(err: unknown, where: string): void {
    const e = err as Error;
    this.host.log.error('internal error while serving a session; closing it', {
      conn_id: this.id, user: this.user?.name ?? null, where, error: e?.message ?? String(err), stack: e?.stack,
    });
    this.closeDetail = `internal error in ${where}`;
    this.awaiting = true; // not idle: the held connection cannot be trusted
    this.close(CloseReason.INTERNAL);
  }

  close(reason: CloseReason): void {
    if (this.phase === Phase.Closed) return;
    const wasIdle = this.idle && this.collector === null;
    this.phase = Phase.Closed;
    this.clearHandshakeTimer();
    this.handshakeInput = null;
    this.inbound.clear();
    const conn = this.lease;
    if (conn !== null) {
      // An idle connection goes back (reset before reuse); one mid-command cannot be trusted.
      if (wasIdle && !conn.dead) giveBack(this);
      else {
        this.lease = null;
        if (this.leasePool) this.leasePool.discard(conn);
        else conn.kill('session closed mid-command');
        this.leasePool = null;
      }
    }
    forgetStatements(this);
    this.journal?.clear();
    this.leaveSlot();
    if (this.stmtTimer !== null) clearTimeout(this.stmtTimer);
    // A statement cut short by the close: the client never got its answer.
    if (this.stmt.active) endStatement(this, CR_SERVER_LOST, this.scanner.rows, 0);
    if (this.afterResponse !== null) void this.responseEnded(0, true);
    this.releaseHeldOutput();
    if (reason === CloseReason.CLIENT_QUIT || reason === CloseReason.CLIENT_NETWORK) this.client.destroy();
    else this.client.end(); // let a final ERR packet flush
    this.client.setTimeout(5000, () => this.client.destroy());
    this.host.sessionClosed(this, reason);
  }
}
