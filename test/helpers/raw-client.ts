import type net from 'node:net';
import { connectBackend } from '../../src/pool/backend-connect.js';
import type { SocketInput } from '../../src/pool/socket-input.js';
import { PacketAssembler, frame, type Packet } from '../../src/protocol/framing.js';
import {
  CLIENT_DEPRECATE_EOF, CLIENT_LONG_PASSWORD, CLIENT_MULTI_RESULTS, CLIENT_MULTI_STATEMENTS,
  CLIENT_PLUGIN_AUTH, CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, CLIENT_PROTOCOL_41,
  CLIENT_PS_MULTI_RESULTS, CLIENT_SECURE_CONNECTION, CLIENT_TRANSACTIONS, CLIENT_CONNECT_WITH_DB,
  CLIENT_SESSION_TRACK, CLIENT_LONG_FLAG,
} from '../../src/protocol/constants.js';

export const BASE_CAPS = CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION |
  CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_TRANSACTIONS | CLIENT_MULTI_RESULTS |
  CLIENT_PS_MULTI_RESULTS | CLIENT_CONNECT_WITH_DB;
export { CLIENT_DEPRECATE_EOF, CLIENT_MULTI_STATEMENTS, CLIENT_SESSION_TRACK };

export class RawClient {
  private packets = new PacketAssembler();
  private waiter: (() => void) | null = null;
  closed = false;
  readonly threadId: number;
  readonly capabilities: number;

  constructor(readonly socket: net.Socket, readonly input: SocketInput, threadId: number, caps: number) {
    this.threadId = threadId;
    this.capabilities = caps;
    input.handler = (c: Buffer) => {
      this.packets.push(Buffer.from(c));
      this.waiter?.();
    };
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => { });
  }

  static async connect(port: number, user: string, password: string, caps: number, database: string | null = 'dbmesh_test'): Promise<RawClient> {
    const s = await connectBackend({ host: '127.0.0.1', port, user, password, database, capabilities: caps, charset: 45, connectAttrs: null, timeoutMs: 5000 });
    return new RawClient(s.socket, s.input, s.greeting.connectionId, s.capabilities);
  }

  get deprecateEof(): boolean {
    return (this.capabilities & CLIENT_DEPRECATE_EOF) !== 0;
  }

  /** Next packet (copied), waiting for bytes as needed; null when the connection closed. */
  async read(): Promise<Packet | null> {
    for (;;) {
      const p = this.packets.next();
      if (p) return { seq: p.seq, payload: Buffer.from(p.payload), raw: Buffer.from(p.raw) };
      if (this.closed) return null;
      await new Promise<void>((r) => { this.waiter = r; });
      this.waiter = null;
    }
  }

  send(payload: Buffer, seq = 0): void {
    this.socket.write(frame(payload, seq).bytes);
  }

  /** A packet that ends a result set or a row stream. */
  isEnd(p: Packet): boolean {
    return p.payload[0] === 0xfe && (this.deprecateEof ? p.payload.length < 0xffffff : p.payload.length < 9);
  }

  static status(p: Packet, deprecateEof: boolean): number {
    if (p.payload[0] === 0xfe && !deprecateEof) return p.payload.readUInt16LE(3);
    // OK layout: header, lenenc affected rows, lenenc insert id, status
    let i = 1;
    for (let k = 0; k < 2; k++) {
      const b = p.payload[i]!;
      i += b < 0xfb ? 1 : b === 0xfc ? 3 : b === 0xfd ? 4 : 9;
    }
    return p.payload.readUInt16LE(i);
  }

  private async must(): Promise<Packet> {
    const p = await this.read();
    if (!p) throw new Error('connection closed mid-response');
    return p;
  }

  /** Read one complete COM_QUERY / COM_STMT_EXECUTE response (all result sets). */
  async readResult(): Promise<Packet[]> {
    const out: Packet[] = [];
    for (;;) {
      const first = await this.must();
      out.push(first);
      const h = first.payload[0];
      if (h === 0xff) return out;
      if (h === 0x00) {
        if (RawClient.status(first, this.deprecateEof) & 0x08) continue;
        return out;
      }
      const cols = first.payload[0]!; // tests use < 251 columns
      for (let i = 0; i < cols; i++) out.push(await this.must());
      if (!this.deprecateEof) {
        const eof = await this.must();
        out.push(eof);
        if (RawClient.status(eof, false) & 0x40) return out; // cursor opened
      }
      let end: Packet;
      for (;;) {
        const p = await this.must();
        out.push(p);
        if (p.payload[0] === 0xff) return out;
        if (this.isEnd(p)) {
          end = p;
          break;
        }
      }
      if (!(RawClient.status(end, this.deprecateEof) & 0x08)) return out;
    }
  }

  async query(sql: string): Promise<Packet[]> {
    this.send(Buffer.concat([Buffer.from([0x03]), Buffer.from(sql, 'utf8')]));
    return this.readResult();
  }

  /** Rows (text protocol) of a single-result query, as strings. */
  async rows(sql: string): Promise<(string | null)[][]> {
    const packets = await this.query(sql);
    if (packets[0]!.payload[0] === 0xff) throw new Error(packets[0]!.payload.subarray(9).toString());
    const cols = packets[0]!.payload[0]!;
    const rowStart = 1 + cols + (this.deprecateEof ? 0 : 1);
    return packets.slice(rowStart, -1).map((p) => {
      const row: (string | null)[] = [];
      let i = 0;
      while (i < p.payload.length) {
        const b = p.payload[i]!;
        if (b === 0xfb) {
          row.push(null);
          i++;
          continue;
        }
        let len = b;
        let w = 1;
        if (b === 0xfc) {
          len = p.payload.readUInt16LE(i + 1);
          w = 3;
        } else if (b === 0xfd) {
          len = p.payload.readUIntLE(i + 1, 3);
          w = 4;
        }
        row.push(p.payload.toString('utf8', i + w, i + w + len));
        i += w + len;
      }
      return row;
    });
  }

  /** COM_STMT_PREPARE: returns the statement id and counts, plus the raw packets. */
  async prepare(sql: string): Promise<{ id: number; columns: number; params: number; packets: Packet[] }> {
    this.send(Buffer.concat([Buffer.from([0x16]), Buffer.from(sql, 'utf8')]));
    const ok = await this.must();
    if (ok.payload[0] === 0xff) throw new Error(`prepare failed: ${ok.payload.subarray(9).toString()}`);
    const packets = [ok];
    const id = ok.payload.readUInt32LE(1);
    const columns = ok.payload.readUInt16LE(5);
    const params = ok.payload.readUInt16LE(7);
    const defs = params + columns + (this.deprecateEof ? 0 : (params > 0 ? 1 : 0) + (columns > 0 ? 1 : 0));
    for (let i = 0; i < defs; i++) packets.push(await this.must());
    return { id, columns, params, packets };
  }

  /** COM_STMT_EXECUTE without parameters. */
  async execute(stmtId: number, cursor = false): Promise<Packet[]> {
    const b = Buffer.alloc(10);
    b[0] = 0x17;
    b.writeUInt32LE(stmtId, 1);
    b[5] = cursor ? 0x01 : 0x00;
    b.writeUInt32LE(1, 6);
    this.send(b);
    return this.readResult();
  }

  /** COM_STMT_FETCH: rows until the closing EOF/OK (or ERR). */
  async fetch(stmtId: number, rows: number): Promise<Packet[]> {
    const b = Buffer.alloc(9);
    b[0] = 0x1c;
    b.writeUInt32LE(stmtId, 1);
    b.writeUInt32LE(rows, 5);
    this.send(b);
    const out: Packet[] = [];
    for (;;) {
      const p = await this.must();
      out.push(p);
      if (p.payload[0] === 0xff || this.isEnd(p)) return out;
    }
  }

  /** A command answered by exactly one packet. */
  async simple(payload: Buffer): Promise<Packet> {
    this.send(payload);
    return this.must();
  }

  close(): void {
    if (!this.closed) this.socket.end(frame(Buffer.from([0x01]), 0).bytes);
  }
}
