/**
 * A hand-driven MySQL client over a raw node:net socket, for tests that must send bytes no
 * driver would (bad sequence ids, unknown commands, truncated or oversized packets) and for
 * capturing server responses byte for byte. Built only on src/protocol; it decodes just enough
 * to log in with mysql_native_password and to read a classic (EOF-terminated) text result.
 */
import net from 'node:net';
import {
  CLIENT_CONNECT_WITH_DB, CLIENT_LONG_PASSWORD, CLIENT_MULTI_RESULTS, CLIENT_PLUGIN_AUTH, CLIENT_PROTOCOL_41,
  CLIENT_PS_MULTI_RESULTS, CLIENT_SECURE_CONNECTION, CLIENT_TRANSACTIONS, COM_QUERY,
  MYSQL_NATIVE_PASSWORD, UTF8MB4_GENERAL_CI,
} from '../../src/protocol/constants.js';
import { PacketAssembler, frame, type Packet } from '../../src/protocol/framing.js';
import { decodeAuthSwitch, decodeGreeting, encodeHandshakeResponse, type Greeting } from '../../src/protocol/handshake.js';
import { nativePasswordScramble } from '../../src/protocol/auth.js';
import { decodeErr, type ErrFields } from '../../src/protocol/responses.js';
import { PayloadReader } from '../../src/protocol/codec.js';

export const DEFAULT_CLIENT_CAPS =
  CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH |
  CLIENT_TRANSACTIONS | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS;

/** What a command answered: OK, ERR, or a text result set (classic EOF framing). */
export type QueryResult =
  | { readonly kind: 'ok'; readonly raw: Buffer }
  | { readonly kind: 'err'; readonly err: ErrFields }
  | { readonly kind: 'rows'; readonly rows: (string | null)[][] };

export class LoginError extends Error {
  constructor(readonly err: ErrFields) {
    super(`login refused: ${err.errno} (${err.sqlState}) ${err.message}`);
  }
}

export class HandClient {
  readonly greeting: Greeting;
  /** The greeting packet as received (header + payload). */
  readonly greetingRaw: Buffer;
  /** Every byte received so far, in order (including the greeting). */
  readonly received: Buffer[] = [];
  receivedBytes = 0;
  /** Resolves when the socket has closed (either side). */
  readonly closed: Promise<void>;
  isClosed = false;
  private readonly assembler = new PacketAssembler();
  private readonly queue: Packet[] = [];
  private wake: (() => void) | null = null;

  private constructor(readonly socket: net.Socket, first: { greeting: Greeting; raw: Buffer; rest: Buffer[] }) {
    this.greeting = first.greeting;
    this.greetingRaw = first.raw;
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.isClosed = true;
      this.poke();
      resolve();
    }));
    socket.on('error', () => {}); // a reset shows as 'close'; tests look at what arrived
    socket.on('data', (c: Buffer) => this.onData(c));
    for (const c of first.rest) this.onData(c);
  }

  /** Connect and wait for the server's greeting (the first packet). */
  static connect(host: string, port: number, timeoutMs = 5000): Promise<HandClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const asm = new PacketAssembler();
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => fail(new Error('no greeting within timeout')), timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const onData = (c: Buffer): void => {
        chunks.push(c);
        asm.push(Buffer.from(c));
        const p = asm.next();
        if (p === null) return;
        clearTimeout(timer);
        socket.removeListener('data', onData);
        socket.removeListener('error', fail);
        const raw = Buffer.from(p.raw);
        // Bytes past the greeting are replayed into the client's own assembler.
        const all = Buffer.concat(chunks);
        const rest = all.length > raw.length ? [all.subarray(raw.length)] : [];
        try {
          const client = new HandClient(socket, { greeting: decodeGreeting(raw.subarray(4)), raw, rest: [] });
          client.received.push(raw);
          client.receivedBytes = raw.length;
          for (const r of rest) client.onData(r);
          resolve(client);
        } catch (err) {
          fail(err as Error);
        }
      };
      socket.on('data', onData);
      socket.once('error', fail);
    });
  }

  private onData(c: Buffer): void {
    const copy = Buffer.from(c);
    this.received.push(copy);
    this.receivedBytes += copy.length;
    this.assembler.push(copy);
    for (let p = this.assembler.next(); p !== null; p = this.assembler.next()) {
      this.queue.push({ seq: p.seq, payload: Buffer.from(p.payload), raw: Buffer.from(p.raw) });
    }
    this.poke();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** The next packet, or null when the socket closed first. Rejects after `timeoutMs`. */
  async packet(timeoutMs = 5000): Promise<Packet | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = this.queue.shift();
      if (p) return p;
      if (this.isClosed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.wake = null; resolve(); }, left);
        this.wake = () => { clearTimeout(t); resolve(); };
      });
    }
  }

  /**
   * Resolves true as soon as bytes arrive or the socket closes (at once when packets are
   * already queued), false after `timeoutMs` of silence. Consumes nothing.
   */
  async activity(timeoutMs: number): Promise<boolean> {
    if (this.queue.length > 0 || this.isClosed) return true;
    const before = this.receivedBytes;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.wake = null; resolve(); }, timeoutMs);
      this.wake = () => { clearTimeout(t); resolve(); };
    });
    return this.receivedBytes !== before || this.isClosed;
  }

  /** Send one payload framed with sequence id `seq`. */
  send(payload: Buffer, seq: number): void {
    this.socket.write(frame(payload, seq).bytes);
  }

  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Log in with mysql_native_password; throws LoginError on an ERR answer. */
  async login(user: string, password: string, opts: { capabilities?: number; database?: string } = {}): Promise<Buffer> {
    const caps = ((opts.capabilities ?? DEFAULT_CLIENT_CAPS) | (opts.database !== undefined ? CLIENT_CONNECT_WITH_DB : 0)) >>> 0;
    this.send(encodeHandshakeResponse({
      capabilities: caps, maxPacketSize: 1 << 24, charset: UTF8MB4_GENERAL_CI, user,
      authResponse: nativePasswordScramble(password, this.greeting.scramble),
      database: opts.database ?? null, authPlugin: MYSQL_NATIVE_PASSWORD, connectAttrs: null,
    }), 1);
    for (;;) {
      const p = await this.packet();
      if (p === null) throw new Error('connection closed during login');
      const head = p.payload[0];
      if (head === 0x00) return p.payload;
      if (head === 0xff) throw new LoginError(decodeErr(p.payload));
      if (head === 0xfe) {
        const sw = decodeAuthSwitch(p.payload);
        this.send(nativePasswordScramble(password, sw.data), p.seq + 1);
        continue;
      }
      throw new Error(`unexpected login packet 0x${(head ?? 0).toString(16)}`);
    }
  }

  /** COM_QUERY, answer read for a session without CLIENT_DEPRECATE_EOF. */
  query(sql: string, timeoutMs = 5000): Promise<QueryResult> {
    this.send(Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(sql, 'utf8')]), 0);
    return this.readResult(timeoutMs);
  }

  /** Read one command answer: OK, ERR, or column count + defs + EOF + rows + EOF. */
  async readResult(timeoutMs = 5000): Promise<QueryResult> {
    const first = await this.mustPacket(timeoutMs);
    if (first.payload[0] === 0x00) return { kind: 'ok', raw: first.payload };
    if (first.payload[0] === 0xff) return { kind: 'err', err: decodeErr(first.payload) };
    const columns = new PayloadReader(first.payload).lenenc();
    for (let i = 0; i < columns; i++) await this.mustPacket(timeoutMs);
    await this.mustPacket(timeoutMs); // EOF after the column definitions
    const rows: (string | null)[][] = [];
    for (;;) {
      const p = await this.mustPacket(timeoutMs);
      if (p.payload[0] === 0xfe && p.payload.length < 9) return { kind: 'rows', rows };
      if (p.payload[0] === 0xff) return { kind: 'err', err: decodeErr(p.payload) };
      const r = new PayloadReader(p.payload);
      const row: (string | null)[] = [];
      for (let i = 0; i < columns; i++) {
        if (p.payload[r.pos] === 0xfb) {
          r.skip(1);
          row.push(null);
        } else row.push(r.lenencString());
      }
      rows.push(row);
    }
  }

  private async mustPacket(timeoutMs: number): Promise<Packet> {
    const p = await this.packet(timeoutMs);
    if (p === null) throw new Error('connection closed while reading a result');
    return p;
  }

  /**
   * Capture helper: resolve with every byte that arrives from now until the line has been
   * quiet for `quietMs` after at least one byte (the server has finished its answer).
   */
  async captureAfter(send: () => void, quietMs = 250, timeoutMs = 10000): Promise<Buffer> {
    this.queue.length = 0;
    const mark = this.received.length;
    send();
    const deadline = Date.now() + timeoutMs;
    let seen = this.receivedBytes;
    let quietSince = Date.now();
    for (;;) {
      await new Promise((r) => setTimeout(r, 25));
      if (this.receivedBytes !== seen) {
        seen = this.receivedBytes;
        quietSince = Date.now();
      } else if (this.received.length > mark && Date.now() - quietSince >= quietMs) break;
      if (Date.now() > deadline) throw new Error('capture timed out');
    }
    this.queue.length = 0;
    return Buffer.concat(this.received.slice(mark));
  }

  /** Wait for the socket to close; false when it is still open after `timeoutMs`. */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), timeoutMs); });
    const result = await Promise.race([this.closed.then(() => true), timedOut]);
    clearTimeout(timer);
    return result;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
