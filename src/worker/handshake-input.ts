/**
 * The bytes a client sends before it has authenticated, framed into packets.
 *
 * Nothing here allocates a Buffer per connection. Buffers live in the C allocator, which keeps
 * freed memory for the process when other allocations sit above it: thousands of
 * unauthenticated connections that each sent a few KiB left the worker's RSS high after they
 * closed. So each read is consumed where it lies (in the read buffer unauthenticated
 * connections share, see client-socket.ts); a complete packet is put together in one scratch
 * Buffer of the worker, valid until the next packet is read, which its consumer must not keep
 * (ClientAuth copies what it keeps); and only an incomplete packet at the end of a read is kept
 * until the next one, as a latin1 string in the JS heap, whose pages go back to the system
 * after a collection (worker/memory.ts).
 *
 * The caller refuses a packet announced over its limit before reading on: between reads a
 * connection holds at most one incomplete packet of at most that size, and bytes of a refused
 * packet are never copied.
 */
import { PACKET_HEADER_SIZE } from '../protocol/constants.js';
import type { Packet } from '../protocol/framing.js';

const NOTHING = Buffer.alloc(0);
/** Where complete packets are put together: one per worker, as large as the largest packet yet. */
let scratch = NOTHING;

export class HandshakeInput {
  /** The start of an incomplete packet, kept between reads. */
  private held = '';
  /** The read being consumed, and how far. */
  private chunk: Buffer = NOTHING;
  private at = 0;

  /** Start consuming a read (valid until keepRest() or drain()). */
  begin(chunk: Buffer): void {
    this.chunk = chunk;
    this.at = 0;
  }

  private get available(): number {
    return this.held.length + this.chunk.length - this.at;
  }

  private byteAt(i: number): number {
    return i < this.held.length ? this.held.charCodeAt(i) : this.chunk[this.at + i - this.held.length]!;
  }

  /** Payload length announced by the next packet, or -1 when its header is not in yet. */
  peekLength(): number {
    if (this.available < PACKET_HEADER_SIZE) return -1;
    return this.byteAt(0) | (this.byteAt(1) << 8) | (this.byteAt(2) << 16);
  }

  /** Sequence id of the next packet (its header must be in). */
  peekSeq(): number {
    return this.byteAt(3);
  }

  /** The next complete packet (valid until the next one is read, by any connection); null when more bytes are needed. */
  next(): Packet | null {
    const len = this.peekLength();
    if (len < 0 || this.available < PACKET_HEADER_SIZE + len) return null;
    if (scratch.length < PACKET_HEADER_SIZE + len) scratch = Buffer.allocUnsafe(PACKET_HEADER_SIZE + len);
    const raw = scratch.subarray(0, PACKET_HEADER_SIZE + len);
    const fromHeld = raw.write(this.held, 0, 'latin1');
    const fromChunk = raw.length - fromHeld;
    this.chunk.copy(raw, fromHeld, this.at, this.at + fromChunk);
    this.at += fromChunk;
    this.held = '';
    return { seq: raw[3]!, payload: raw.subarray(PACKET_HEADER_SIZE), raw };
  }

  /** End of the read: keep what is left of it (the start of the next packet) for the next one. */
  keepRest(): void {
    if (this.at < this.chunk.length) this.held += this.chunk.toString('latin1', this.at);
    this.begin(NOTHING);
  }

  /** Everything not consumed, as bytes of its own (what followed the handshake: the first commands). */
  drain(): Buffer {
    const rest = Buffer.concat([Buffer.from(this.held, 'latin1'), this.chunk.subarray(this.at)]);
    this.held = '';
    this.begin(NOTHING);
    return rest;
  }
}
