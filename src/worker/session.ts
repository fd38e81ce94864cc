/**
 * One client connection, from greeting to close.
 *
 * Phases: handshake (dbmesh authenticates the client itself) -> connecting (a dedicated
 * backend connection is opened with the client's own capabilities, charset, schema and
 * connect attributes, so backend bytes need no translation) -> commands.
 *
 * Command phase, per command: the client's packet is read whole (one physical packet, at most
 * 16 MiB; bigger logical packets are streamed piece by piece and never joined), checked
 * (sequence id, max_allowed_packet, command byte), then forwarded to the backend or answered
 * by dbmesh (COM_CHANGE_USER, KILL of a dbmesh id, unknown commands). The backend's response
 * is relayed chunk by chunk as it arrives while the ResponseScanner finds its end and the
 * status flags. Commands are handled one at a time: bytes a client pipelines behind an
 * unanswered command wait in the assembler (the socket is paused past a bound).
 *
 * Backpressure: when the client socket cannot take more, the backend socket is paused until
 * 'drain', and vice versa. Memory per session is bounded by one physical packet plus socket
 * high-water marks, whatever the result size.
 */
import type net from 'node:net';
import type { Config, UserConfig } from '../config/types.js';
import { DBM_ERR, formatMessage, type ErrorSpec } from '../errors/index.js';
import {
  CLIENT_DEPRECATE_EOF, COM_CHANGE_USER, COM_DEBUG, COM_FIELD_LIST, COM_INIT_DB, COM_PING,
  COM_PROCESS_KILL, COM_QUERY, COM_QUIT, COM_REFRESH, COM_RESET_CONNECTION, COM_SET_OPTION,
  COM_STATISTICS, COM_STMT_CLOSE, COM_STMT_EXECUTE, COM_STMT_FETCH, COM_STMT_PREPARE,
  COM_STMT_RESET, COM_STMT_SEND_LONG_DATA, MAX_PACKET_PAYLOAD, SERVER_STATUS_AUTOCOMMIT,
  SERVER_STATUS_IN_TRANS,
} from '../protocol/constants.js';
import { PacketAssembler, frame, setSeq, type Packet } from '../protocol/framing.js';
import { ResponseKind, ResponseScanner } from '../protocol/response-scanner.js';
import { encodeErr } from '../protocol/responses.js';
import { ClientAuth, type AuthOutcome } from './client-auth.js';
import { CloseReason } from '../observability/close-reasons.js';
import { mayBeKill } from '../sql/kill.js';
import { handleKillQuery, killById } from './kill-command.js';
import { openBackendFor, type OpenedBackend } from './backend-link.js';
import { changeUser } from './change-user.js';
import type { SessionHost } from './session-host.js';
import type { SocketInput } from '../pool/socket-input.js';
import type { SessionSnapshot } from '../ipc/messages.js';

const enum Phase { Handshake, Connecting, Commands, Closed }

/** Pipelined client bytes held while a response is in flight before the socket is paused. */
const HOLD_LIMIT = 1 << 20;
/** Largest packet accepted before authentication. */
const HANDSHAKE_PACKET_LIMIT = 64 * 1024;

export class ClientSession {
  private phase = Phase.Handshake;
  private readonly inbound = new PacketAssembler();
  private auth: ClientAuth | null;
  private handshakeTimer: NodeJS.Timeout | null;
  private backend: net.Socket | null = null;
  private backendInput: SocketInput | null = null;
  /** Backend thread id serving this session (for KILL translation); 0 when none. */
  backendThreadId = 0;
  private scanner: ResponseScanner;
  private awaiting = false;
  /** dbmesh is answering a command itself (runLocally). */
  private localTask = false;
  private bigCommand = false;
  private bigCommandBytes = 0;
  private lastCommandSeq = 0;
  private clientPaused = false;
  private backendDrainWait = false;
  private closeAfterResponse: CloseReason | null = null;
  /** Set while dbmesh itself converses with the client (auth switch during change user). */
  private packetWaiter: ((p: Packet) => void) | null = null;
  /** The greeting's scramble: COM_CHANGE_USER answers are computed against it. */
  scramble: Buffer = Buffer.alloc(0);
  /** Connect attributes from the handshake, reused when the backend connection is reopened. */
  connectAttrs: Buffer | null = null;
  charset = 0;
  capabilities = 0;
  mariadbCapabilities = 0;
  user: UserConfig | null = null;
  statusFlags = SERVER_STATUS_AUTOCOMMIT;
  startedAt = Date.now();
  /** When the session last finished a command (ms since epoch): how long its client has been quiet. */
  lastBoundaryAt = Date.now();
  /** What exactly ended the session, when more is known than the reason (logged). */
  closeDetail: string | null = null;
  backendId = '';

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
    client.on('drain', () => this.backend?.resume());
  }

  /** A new connection: send the greeting and start the handshake clock. */
  greet(): void {
    const host = this.host;
    this.handshakeTimer = setTimeout(() => this.close(CloseReason.HANDSHAKE_TIMEOUT), host.config.limits.handshakeTimeoutMs);
    const greeting = host.directory.greeting(host.defaultCluster());
    this.auth = new ClientAuth(this.client, host.config, host.offeredCapabilities(greeting), this.remoteHost);
    this.auth.greet(this.id, greeting);
  }

  /** A session moved here from another worker, with its backend connection. */
  adopt(snap: SessionSnapshot, user: UserConfig, backend: OpenedBackend): void {
    this.user = user;
    this.capabilities = snap.capabilities;
    this.mariadbCapabilities = snap.mariadbCapabilities;
    this.charset = snap.charset;
    this.scramble = Buffer.from(snap.scramble, 'base64');
    this.connectAttrs = snap.connectAttrs === null ? null : Buffer.from(snap.connectAttrs, 'base64');
    this.scanner.setDeprecateEof((this.capabilities & CLIENT_DEPRECATE_EOF) !== 0);
    this.attachBackend(backend);
    this.statusFlags = snap.statusFlags;
    this.phase = Phase.Commands;
    const pending = Buffer.from(snap.pending, 'base64');
    if (pending.length > 0) this.inbound.push(pending);
    this.pump();
  }

  /**
   * At a command boundary, stop this session here and return what another worker needs to
   * continue it: the snapshot and both sockets. Returns null when the session is busy.
   */
  detachForHandoff(): { snapshot: SessionSnapshot; client: net.Socket; backend: net.Socket } | null {
    if (!this.idle || this.packetWaiter || this.backend === null || this.user === null) return null;
    const client = this.client;
    // Stop reading at the descriptor (an onread socket's pause() is a readStop): bytes still in
    // the kernel travel with the descriptor; bytes already read are in the assembler (owned).
    this.clientInput.handler = () => {};
    client.pause();
    const snapshot: SessionSnapshot = {
      id: this.id, user: this.user.name, capabilities: this.capabilities, mariadbCapabilities: this.mariadbCapabilities, charset: this.charset,
      statusFlags: this.statusFlags, scramble: this.scramble.toString('base64'),
      connectAttrs: this.connectAttrs ? this.connectAttrs.toString('base64') : null,
      backendThreadId: this.backendThreadId, backendId: this.backendId,
      pending: this.inbound.bufferedBytes > 0 ? this.inbound.drain().toString('base64') : '', startedAt: this.startedAt,
      frozenAt: Date.now(),
    };
    const backend = this.detachBackend()!;
    backend.pause();
    client.removeAllListeners('close').removeAllListeners('drain').removeAllListeners('error');
    client.on('error', () => {});
    this.phase = Phase.Closed;
    this.host.sessionMoved(this);
    return { snapshot, client, backend };
  }

  /** The client's address as the server would name it in messages. */
  get remoteHost(): string {
    return this.client.remoteAddress?.replace(/^::ffff:/, '') ?? 'unknown';
  }

  get config(): Config {
    return this.host.config;
  }

  get inTransaction(): boolean {
    return (this.statusFlags & SERVER_STATUS_IN_TRANS) !== 0;
  }

  get idle(): boolean {
    return this.phase === Phase.Commands && !this.awaiting && !this.bigCommand && !this.localTask;
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
    if (this.backend !== null && this.backend.writableLength > 0) this.clientInput.retain();
  }

  /**
   * The common case, without the assembler: an idle session receives exactly one small,
   * complete COM_QUERY or COM_STMT_EXECUTE packet. It is forwarded as it was read; every
   * other case (partial or pipelined packets, other commands, KILL) takes the general path.
   */
  private tryFastCommand(chunk: Buffer): boolean {
    if (this.phase !== Phase.Commands || this.awaiting || this.localTask || this.bigCommand || this.packetWaiter !== null ||
      this.inbound.bufferedBytes !== 0 || this.backend === null || chunk.length < 5 || chunk[3] !== 0) return false;
    const len = chunk[0]! | (chunk[1]! << 8) | (chunk[2]! << 16);
    if (len + 4 !== chunk.length || len >= MAX_PACKET_PAYLOAD || len > this.host.config.limits.maxAllowedPacket) return false;
    const cmd = chunk[4];
    if (cmd === COM_QUERY) {
      if (mayBeKill(chunk, 4)) return false;
    } else if (cmd !== COM_STMT_EXECUTE) return false;
    this.lastCommandSeq = 0;
    this.awaiting = true;
    this.scanner.begin(ResponseKind.Result);
    const backend = this.backend;
    if (!backend.write(chunk)) {
      this.backendDrainWait = true;
      this.updateClientFlow();
    }
    // A write the kernel did not take at once still references the read buffer.
    if (backend.writableLength > 0) this.clientInput.retain();
    return true;
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
      (this.awaiting && !this.bigCommand && !this.scanner.awaitingInfile && this.inbound.bufferedBytes > HOLD_LIMIT);
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
    this.connectAttrs = outcome.response.connectAttrs;
    this.charset = outcome.response.charset;
    this.user = outcome.user;
    this.capabilities = outcome.response.capabilities;
    this.mariadbCapabilities = outcome.response.mariadbCapabilities ?? 0;
    this.scanner.setDeprecateEof((this.capabilities & CLIENT_DEPRECATE_EOF) !== 0);
    this.phase = Phase.Connecting;
    this.updateClientFlow();
    void openBackendFor(this.host, outcome.user, outcome.response).then(
      (b) => this.onBackendReady(b, outcome.nextSeq),
      (e: { spec?: ErrorSpec; payload?: Buffer; message: string }) => this.onBackendFailed(e, outcome.nextSeq),
    );
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  private onBackendReady(b: OpenedBackend, seq: number): void {
    if (this.phase === Phase.Closed) {
      b.socket.destroy();
      return;
    }
    this.attachBackend(b);
    // Relay the server's own OK (status flags, session-track data) to the client.
    this.client.write(frame(b.okPayload, seq).bytes);
    this.phase = Phase.Commands;
    this.pump();
    if (this.idle) {
      this.lastBoundaryAt = Date.now();
      this.host.sessionAtBoundary(this);
    }
  }

  private onBackendFailed(e: { payload?: Buffer; message: string }, seq: number): void {
    if (this.phase === Phase.Closed) return;
    this.host.log.warn('backend connection failed', { conn_id: this.id, user: this.user?.name, error: e.message });
    if (e.payload) this.client.write(frame(e.payload, seq).bytes); // the server's ERR, unchanged
    else this.sendError(DBM_ERR.NO_BACKEND, seq, [this.user?.cluster ?? '', e.message]);
    this.close(e.payload ? CloseReason.BACKEND_AUTH : CloseReason.NO_BACKEND);
  }

  attachBackend(b: OpenedBackend): void {
    this.backend = b.socket;
    this.backendThreadId = b.threadId;
    this.backendId = b.backendId;
    this.statusFlags = b.statusFlags;
    this.backendInput = b.input;
    b.input.handler = (c: Buffer) => this.onBackendData(c);
    b.socket.on('drain', () => {
      this.backendDrainWait = false;
      this.updateClientFlow();
    });
    b.socket.on('error', () => this.onBackendLost(b.socket));
    b.socket.on('close', () => this.onBackendLost(b.socket));
  }

  /** Detach and return the backend socket (change user swaps it). */
  detachBackend(): net.Socket | null {
    const s = this.backend;
    if (this.backendInput) this.backendInput.handler = () => {};
    this.backendInput = null;
    if (s) s.removeAllListeners('drain').removeAllListeners('close').removeAllListeners('error').on('error', () => {});
    this.backend = null;
    this.backendThreadId = 0;
    return s;
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
        return this.forward(p, ResponseKind.Result);
      case COM_STMT_EXECUTE: return this.forward(p, ResponseKind.Result);
      case COM_STMT_PREPARE: return this.forward(p, ResponseKind.Prepare);
      case COM_STMT_FETCH: return this.forward(p, ResponseKind.Fetch);
      case COM_FIELD_LIST: return this.forward(p, ResponseKind.FieldList);
      case COM_STMT_CLOSE:
      case COM_STMT_SEND_LONG_DATA:
        return this.forward(p, null);
      case COM_PING: case COM_INIT_DB: case COM_STATISTICS: case COM_SET_OPTION:
      case COM_STMT_RESET: case COM_RESET_CONNECTION: case COM_REFRESH: case COM_DEBUG:
        return this.forward(p, ResponseKind.Single);
      case COM_PROCESS_KILL:
        return killById(this, this.host, p.payload.length >= 5 ? p.payload.readUInt32LE(1) : 0, 'connection', '');
      case COM_QUIT:
        return this.close(CloseReason.CLIENT_QUIT);
      case COM_CHANGE_USER:
        return this.onChangeUser(p);
    }
    this.sendError(DBM_ERR.UNKNOWN_COM, 1);
  }

  /** Send a client packet to the backend; `kind` null means the command has no response. */
  private forward(p: Packet, kind: ResponseKind | null): void {
    const backend = this.backend;
    if (backend === null) {
      this.sendError(DBM_ERR.BACKEND_LOST, 1, ['(none)', 'no backend connection']);
      return this.close(CloseReason.BACKEND_NETWORK);
    }
    if (p.raw.length - 4 === MAX_PACKET_PAYLOAD) {
      this.bigCommand = true;
      this.bigCommandBytes = MAX_PACKET_PAYLOAD;
    }
    if (kind !== null) {
      this.awaiting = true;
      this.scanner.begin(kind);
    }
    if (!backend.write(p.raw)) this.backendDrainWait = true;
  }

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
    if (this.backend && !this.backend.write(p.raw)) this.backendDrainWait = true;
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

  // ---------------------------------------------------------------- commands dbmesh answers

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
      this.pump();
      if (this.idle) this.host.sessionAtBoundary(this);
    });
  }

  /** Send a statement dbmesh wrote (e.g. a translated KILL) and relay its answer. */
  forwardQuery(sql: string): void {
    const payload = Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(sql, 'utf8')]);
    this.forward({ seq: 0, payload, raw: frame(payload, 0).bytes }, ResponseKind.Result);
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

  setUser(u: UserConfig, charset: number): void {
    this.user = u;
    this.charset = charset;
  }

  /** The client's next packet, whatever the phase (dbmesh is talking to the client itself). */
  // (copied: the caller keeps it across awaits)
  nextClientPacket(): Promise<Packet> {
    return new Promise((resolve) => {
      this.packetWaiter = (p) => resolve({ seq: p.seq, payload: Buffer.from(p.payload), raw: Buffer.from(p.raw) });
      this.pump();
    });
  }

  // ---------------------------------------------------------------- backend output

  private onBackendData(chunk: Buffer): void {
    if (this.phase === Phase.Closed) return;
    let ended = -1;
    if (this.awaiting) ended = this.scanner.scan(chunk);
    if (!this.client.write(chunk)) this.backend!.pause(); // resumed on client 'drain'
    // A write the kernel did not take at once still references the shared read buffer.
    if (this.client.writableLength > 0) this.backendInput!.retain();
    if (ended < 0) return;
    if (this.scanner.awaitingInfile) return this.pump(); // client sends the file next
    this.awaiting = false;
    if (this.scanner.statusFlags >= 0) this.statusFlags = this.scanner.statusFlags;
    if (this.closeAfterResponse) return this.close(this.closeAfterResponse);
    this.pump();
    if (this.idle) {
      this.lastBoundaryAt = Date.now();
      this.host.sessionAtBoundary(this);
    }
  }

  private onBackendLost(socket: net.Socket): void {
    if (this.phase === Phase.Closed || socket !== this.backend) return;
    const reason = this.closeAfterResponse ?? CloseReason.BACKEND_NETWORK;
    if (this.awaiting && this.scanner.packets === 0 && reason !== CloseReason.KILLED) {
      this.sendError(DBM_ERR.BACKEND_LOST, this.lastCommandSeq + 1, [this.user?.cluster ?? '', 'connection lost']);
    }
    this.close(reason);
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
    const wasIdle = this.idle;
    this.phase = Phase.Closed;
    this.clearHandshakeTimer();
    this.inbound.clear();
    const backend = this.detachBackend();
    if (backend) {
      // An idle backend connection is told goodbye; one mid-command cannot be trusted.
      if (wasIdle && backend.writable) backend.end(frame(Buffer.from([COM_QUIT]), 0).bytes);
      else backend.destroy();
    }
    if (reason === CloseReason.CLIENT_QUIT || reason === CloseReason.CLIENT_NETWORK) this.client.destroy();
    else this.client.end(); // let a final ERR packet flush
    this.client.setTimeout(5000, () => this.client.destroy());
    this.host.sessionClosed(this, reason);
  }
}
