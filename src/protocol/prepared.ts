/**
 * Prepared statements across pooled backend connections. When sessions are multiplexed, a
 * client's statement may have to be prepared again on whichever backend connection runs it,
 * under a different server statement id. This module holds the wire pieces for that, and
 * nothing about which session or connection owns what:
 * - decoding COM_STMT_PREPARE_OK and rewriting statement ids in place (both directions);
 * - collecting a whole prepare response (it is small, and it must be kept: the client sees
 *   it once, under the client's statement id, whichever backend answered);
 * - locating the parameter types of COM_STMT_EXECUTE, which a client sends only on the first
 *   execute (new_params_bound_flag = 1) and which a backend connection that did not see that
 *   execute must be given again.
 * Spec: MySQL protocol docs "COM_STMT_PREPARE Response", "COM_STMT_EXECUTE"; MariaDB KB
 * "COM_STMT_EXECUTE".
 */
import { COM_STMT_EXECUTE, ERR_HEADER, MAX_PACKET_PAYLOAD, OK_HEADER, PACKET_HEADER_SIZE } from './constants.js';
import { MalformedPacket } from './codec.js';
import { PacketAssembler, type Packet } from './framing.js';

export interface PrepareOk {
  readonly statementId: number;
  readonly columns: number;
  readonly params: number;
  readonly warnings: number;
}

/** status(1) + statement_id(4) + num_columns(2) + num_params(2); filler and warnings follow. */
const PREPARE_OK_MIN = 9;
const PREPARE_OK_WARNINGS_AT = 10;

/** Decode a COM_STMT_PREPARE_OK payload. Old servers may end it before warning_count. */
export function decodePrepareOk(payload: Buffer): PrepareOk {
  if (payload.length < PREPARE_OK_MIN) throw new MalformedPacket('COM_STMT_PREPARE_OK truncated');
  if (payload[0] !== OK_HEADER) throw new MalformedPacket('COM_STMT_PREPARE_OK: not an OK header');
  const warnings = payload.length >= PREPARE_OK_WARNINGS_AT + 2 ? payload.readUInt16LE(PREPARE_OK_WARNINGS_AT) : 0;
  return {
    statementId: payload.readUInt32LE(1),
    columns: payload.readUInt16LE(5),
    params: payload.readUInt16LE(7),
    warnings,
  };
}

/**
 * Write a statement id (u32 LE) in place. Offsets are payload-relative: the id sits at 1 in
 * COM_STMT_PREPARE_OK and in COM_STMT_EXECUTE / CLOSE / RESET / SEND_LONG_DATA / FETCH.
 * In a raw packet (header included) add PACKET_HEADER_SIZE, i.e. offset 5.
 */
export function setStatementId(buf: Buffer, offset: number, id: number): void {
  buf.writeUInt32LE(id >>> 0, offset);
}

/**
 * Collects one COM_STMT_PREPARE response from backend chunks: an ERR packet, or PREPARE_OK,
 * `params` parameter definitions (+ EOF unless CLIENT_DEPRECATE_EOF) and `columns` column
 * definitions (+ EOF likewise). Column definitions are counted, never decoded. Bytes are
 * copied in, because the caller reuses its read buffer. Bounded by maxBytes: a response that
 * grows past it throws, so a hostile or confused backend cannot make us hold unbounded memory.
 */
export class PrepareResponseCollector {
  ok = false;
  header: PrepareOk | null = null;
  readonly packets: Packet[] = [];
  errPayload: Buffer | null = null;
  /** Bytes received past the end of the response (a well-behaved server sends none). */
  leftover: Buffer = Buffer.alloc(0);
  private done = false;
  /** Logical packets still expected after PREPARE_OK; -1 before the first packet. */
  private expected = -1;
  private size = 0;
  private continued = false;
  private readonly asm = new PacketAssembler();

  constructor(private readonly deprecateEof: boolean, private readonly maxBytes: number) {}

  get complete(): boolean {
    return this.done;
  }

  /** Total bytes of the response's packets (headers included). */
  get byteLength(): number {
    return this.size;
  }

  /** Feed bytes; returns true once the whole response has arrived. */
  push(chunk: Buffer): boolean {
    if (this.done) {
      // The caller should stop at `true`; anything more is kept rather than lost.
      if (chunk.length > 0) this.leftover = Buffer.concat([this.leftover, chunk]);
      return true;
    }
    this.asm.push(Buffer.from(chunk)); // our copy: packets stay valid after the caller reuses chunk
    for (let p = this.asm.next(); p !== null; p = this.asm.next()) {
      this.size += p.raw.length;
      if (this.size > this.maxBytes) throw new Error(`prepare response exceeds ${this.maxBytes} bytes`);
      this.packets.push(p);
      if (this.onPacket(p)) {
        this.done = true;
        this.leftover = this.asm.drain();
        return true;
      }
    }
    if (this.size + this.asm.bufferedBytes > this.maxBytes) {
      throw new Error(`prepare response exceeds ${this.maxBytes} bytes`);
    }
    return false;
  }

  /**
   * The response as the client must see it: the PREPARE_OK statement id replaced by the id the
   * client knows, sequence ids renumbered from seq0 (1 after the client's COM_STMT_PREPARE).
   * The collected packets are not modified, so one response can be encoded more than once.
   */
  encodeFor(clientStatementId: number, seq0: number): Buffer {
    const out = Buffer.allocUnsafe(this.size);
    let pos = 0;
    let seq = seq0;
    for (const p of this.packets) {
      p.raw.copy(out, pos);
      out[pos + 3] = seq & 0xff;
      seq++;
      pos += p.raw.length;
    }
    if (this.ok) setStatementId(out, PACKET_HEADER_SIZE + 1, clientStatementId);
    return out;
  }

  /** Returns true when `p` ends the response. */
  private onPacket(p: Packet): boolean {
    const continued = this.continued;
    this.continued = p.payload.length === MAX_PACKET_PAYLOAD;
    if (continued) return !this.continued && this.expected === 0; // the tail of a long packet
    if (this.expected < 0) return this.onFirst(p.payload);
    this.expected--;
    return this.expected === 0 && !this.continued;
  }

  private onFirst(payload: Buffer): boolean {
    if (payload[0] === ERR_HEADER) {
      this.errPayload = payload;
      this.expected = 0;
      return !this.continued;
    }
    const h = decodePrepareOk(payload);
    this.header = h;
    this.ok = true;
    const eofs = this.deprecateEof ? 0 : (h.params > 0 ? 1 : 0) + (h.columns > 0 ? 1 : 0);
    this.expected = h.params + h.columns + eofs;
    return this.expected === 0;
  }
}

/** Where the parts of one COM_STMT_EXECUTE payload are (payload offsets). */
export interface ExecuteLayout {
  readonly statementId: number;
  readonly flags: number;
  /** Offset of new_params_bound_flag; -1 when the statement has no parameters. */
  readonly paramsBoundOffset: number;
  readonly newParamsBound: boolean;
  /**
   * Offset where the parameter types are (newParamsBound) or would be inserted (right after
   * new_params_bound_flag); -1 when the statement has no parameters.
   */
  readonly typesOffset: number;
  /** 2 * params when newParamsBound, else 0. */
  readonly typesLength: number;
}

/** command(1) + statement_id(4) + flags(1) + iteration_count(4). */
const EXECUTE_FIXED = 10;

/**
 * Locate the parts of a COM_STMT_EXECUTE payload for a statement with `params` parameters.
 * Parameter values are not read: MariaDB may append bytes we have no reason to check, and
 * the server judges the values anyway. A non-zero new_params_bound_flag counts as set, as
 * the server reads it.
 */
export function parseExecute(payload: Buffer, params: number): ExecuteLayout {
  if (payload.length < EXECUTE_FIXED) throw new MalformedPacket('COM_STMT_EXECUTE truncated');
  if (payload[0] !== COM_STMT_EXECUTE) throw new MalformedPacket('not a COM_STMT_EXECUTE');
  const statementId = payload.readUInt32LE(1);
  const flags = payload[5]!;
  if (params <= 0) {
    return { statementId, flags, paramsBoundOffset: -1, newParamsBound: false, typesOffset: -1, typesLength: 0 };
  }
  const bound = EXECUTE_FIXED + ((params + 7) >> 3);
  if (payload.length <= bound) throw new MalformedPacket('COM_STMT_EXECUTE null bitmap truncated');
  const newParamsBound = payload[bound] !== 0;
  const typesLength = newParamsBound ? 2 * params : 0;
  if (payload.length < bound + 1 + typesLength) throw new MalformedPacket('COM_STMT_EXECUTE types truncated');
  return { statementId, flags, paramsBoundOffset: bound, newParamsBound, typesOffset: bound + 1, typesLength };
}

/**
 * A new COM_STMT_EXECUTE payload that binds `types` (new_params_bound_flag = 1) for a backend
 * connection that never saw this session's types, under that connection's `statementId`.
 * `layout` must come from parseExecute on `payload` with the flag unset.
 */
export function withParamTypes(payload: Buffer, layout: ExecuteLayout, types: Buffer, statementId: number): Buffer {
  if (layout.paramsBoundOffset < 0 || layout.newParamsBound) {
    throw new Error('withParamTypes: statement has no parameters or already binds types');
  }
  // The null bitmap holds one bit per parameter: the types must fit the same count.
  const bitmapBits = 8 * (layout.paramsBoundOffset - EXECUTE_FIXED);
  if ((types.length & 1) !== 0 || types.length > 2 * bitmapBits || types.length <= 2 * (bitmapBits - 8)) {
    throw new Error('withParamTypes: types do not match the parameter count');
  }
  const at = layout.typesOffset;
  const out = Buffer.allocUnsafe(payload.length + types.length);
  payload.copy(out, 0, 0, at);
  types.copy(out, at);
  payload.copy(out, at + types.length, at);
  out[layout.paramsBoundOffset] = 1;
  setStatementId(out, 1, statementId);
  return out;
}

/** A copy of the parameter types block; the layout must have newParamsBound. */
export function paramTypes(payload: Buffer, layout: ExecuteLayout): Buffer {
  if (!layout.newParamsBound) throw new Error('paramTypes: this execute binds no types');
  return Buffer.from(payload.subarray(layout.typesOffset, layout.typesOffset + layout.typesLength));
}
