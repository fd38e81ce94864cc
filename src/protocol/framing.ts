/**
 * Packet framing: 3-byte little-endian payload length, 1-byte sequence id, payload.
 * A payload of 0xffffff bytes is continued by the next packet (the last one is shorter,
 * possibly empty). See MySQL protocol docs, "MySQL Packets".
 *
 * PacketAssembler collects *physical* packets (each at most 16 MiB) from a byte stream.
 * Logical packets above 16 MiB are never joined in memory: callers stream the pieces, so the
 * memory one connection can pin is bounded by one physical packet.
 */
import { MAX_PACKET_PAYLOAD, PACKET_HEADER_SIZE } from './constants.js';

export interface Packet {
  readonly seq: number;
  /** Payload bytes (a view; valid until the next call into the assembler). */
  readonly payload: Buffer;
  /** Header + payload as received, for relaying unchanged. */
  readonly raw: Buffer;
}

export class PacketAssembler {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Bytes held that do not yet form a complete packet (or are not consumed yet). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** Payload length announced by the next packet's header, or -1 when the header is not in yet. */
  peekLength(): number {
    if (this.buffered < PACKET_HEADER_SIZE) return -1;
    return this.byteAt(0) | (this.byteAt(1) << 8) | (this.byteAt(2) << 16);
  }

  /** The next complete physical packet, or null when more bytes are needed. */
  next(): Packet | null {
    const len = this.peekLength();
    if (len < 0 || this.buffered < PACKET_HEADER_SIZE + len) return null;
    const total = PACKET_HEADER_SIZE + len;
    const first = this.chunks[0]!;
    let raw: Buffer;
    if (first.length >= total) {
      // Common case: the whole packet sits in one chunk, hand out a view (no copy).
      raw = first.subarray(0, total);
      if (first.length === total) this.chunks.shift();
      else this.chunks[0] = first.subarray(total);
    } else {
      raw = this.take(total);
    }
    this.buffered -= total;
    return { seq: raw[3]!, payload: raw.subarray(PACKET_HEADER_SIZE), raw };
  }

  /**
   * Copy whatever is still held into memory of our own. Call this before the bytes pushed so
   * far are overwritten by their producer (a reused read buffer).
   */
  own(): void {
    if (this.buffered === 0) return;
    this.chunks = [Buffer.from(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks))];
  }

  /** Drop everything (connection is being closed or handed off). */
  clear(): void {
    this.chunks = [];
    this.buffered = 0;
  }

  /** Remove and return all buffered bytes (for handing a socket's unread input elsewhere). */
  drain(): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.clear();
    return all;
  }

  private byteAt(i: number): number {
    for (const c of this.chunks) {
      if (i < c.length) return c[i]!;
      i -= c.length;
    }
    return 0;
  }

  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const want = n - filled;
      if (c.length <= want) {
        c.copy(out, filled);
        filled += c.length;
        this.chunks.shift();
      } else {
        c.copy(out, filled, 0, want);
        this.chunks[0] = c.subarray(want);
        filled += want;
      }
    }
    return out;
  }
}

/** Write a packet header into buf at pos. */
export function writeHeader(buf: Buffer, pos: number, len: number, seq: number): void {
  buf[pos] = len & 0xff;
  buf[pos + 1] = (len >>> 8) & 0xff;
  buf[pos + 2] = (len >>> 16) & 0xff;
  buf[pos + 3] = seq & 0xff;
}

/**
 * Frame a payload as one or more packets starting at `seq`, splitting at 16 MiB.
 * Returns the bytes and the next sequence id.
 */
export function frame(payload: Buffer, seq: number): { bytes: Buffer; nextSeq: number } {
  const pieces = Math.floor(payload.length / MAX_PACKET_PAYLOAD) + 1;
  const bytes = Buffer.allocUnsafe(payload.length + pieces * PACKET_HEADER_SIZE);
  let src = 0;
  let dst = 0;
  for (let i = 0; i < pieces; i++) {
    const len = Math.min(MAX_PACKET_PAYLOAD, payload.length - src);
    writeHeader(bytes, dst, len, seq);
    seq = (seq + 1) & 0xff;
    payload.copy(bytes, dst + PACKET_HEADER_SIZE, src, src + len);
    src += len;
    dst += PACKET_HEADER_SIZE + len;
  }
  return { bytes, nextSeq: seq };
}

/** Rewrite the sequence id of a raw packet in place (used when relaying a backend OK/ERR). */
export function setSeq(raw: Buffer, seq: number): Buffer {
  raw[3] = seq & 0xff;
  return raw;
}
