/**
 * Codec primitives for complete packet payloads (control path: handshake, OK/ERR, commands).
 * Reading is bounds-checked: a payload that ends early raises MalformedPacket, which the
 * session turns into an ERR packet or a clean close. Hot-path scanning of relayed result
 * sets does not use this reader (see stream-scanner.ts).
 */

export class MalformedPacket extends Error {
  constructor(what: string) {
    super(`malformed packet: ${what}`);
  }
}

/** Cursor over one payload. */
export class PayloadReader {
  pos: number;
  constructor(readonly buf: Buffer, start = 0, readonly end = buf.length) {
    this.pos = start;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new MalformedPacket(`${what} truncated`);
  }

  u8(): number {
    this.need(1, 'u8');
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2, 'u16');
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(): number {
    this.need(3, 'u24');
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  u32(): number {
    this.need(4, 'u32');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Length-encoded integer; values above 2^53 are rejected (no MySQL length is that big). */
  lenenc(): number {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) {
      this.need(8, 'lenenc u64');
      const v = this.buf.readBigUInt64LE(this.pos);
      this.pos += 8;
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedPacket('lenenc integer too large');
      return Number(v);
    }
    throw new MalformedPacket(`invalid lenenc prefix 0x${first.toString(16)}`);
  }

  bytes(n: number): Buffer {
    this.need(n, 'bytes');
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  lenencBytes(): Buffer {
    return this.bytes(this.lenenc());
  }

  lenencString(): string {
    return this.lenencBytes().toString('utf8');
  }

  /** NUL-terminated bytes; without a terminator the rest of the payload is taken. */
  nulBytes(): Buffer {
    const at = this.buf.indexOf(0, this.pos);
    const stop = at === -1 || at >= this.end ? this.end : at;
    const v = this.buf.subarray(this.pos, stop);
    this.pos = stop < this.end ? stop + 1 : stop;
    return v;
  }

  nulString(): string {
    return this.nulBytes().toString('utf8');
  }

  restBytes(): Buffer {
    const v = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return v;
  }

  skip(n: number): void {
    this.need(n, 'skip');
    this.pos += n;
  }
}

/** Encoded size of a length-encoded integer. */
export function lenencSize(v: number): number {
  if (v < 0xfb) return 1;
  if (v < 0x10000) return 3;
  if (v < 0x1000000) return 4;
  return 9;
}

/** Write a length-encoded integer at pos; returns the new position. */
export function writeLenenc(buf: Buffer, pos: number, v: number): number {
  if (v < 0xfb) {
    buf[pos] = v;
    return pos + 1;
  }
  if (v < 0x10000) {
    buf[pos] = 0xfc;
    buf.writeUInt16LE(v, pos + 1);
    return pos + 3;
  }
  if (v < 0x1000000) {
    buf[pos] = 0xfd;
    buf.writeUIntLE(v, pos + 1, 3);
    return pos + 4;
  }
  buf[pos] = 0xfe;
  buf.writeBigUInt64LE(BigInt(v), pos + 1);
  return pos + 9;
}

/**
 * Read a length-encoded integer from raw bytes without throwing: returns the value and sets
 * `out.pos`, or returns -1 when the bytes end first or the prefix is invalid. Used by scanners.
 */
export function peekLenenc(buf: Buffer, pos: number, end: number, out: { pos: number }): number {
  if (pos >= end) return -1;
  const first = buf[pos]!;
  if (first < 0xfb) {
    out.pos = pos + 1;
    return first;
  }
  const width = first === 0xfc ? 2 : first === 0xfd ? 3 : first === 0xfe ? 8 : 0;
  if (width === 0 || pos + 1 + width > end) return -1;
  out.pos = pos + 1 + width;
  if (width === 8) return Number(buf.readBigUInt64LE(pos + 1));
  return buf.readUIntLE(pos + 1, width);
}

/** Builds one payload; size is computed first by the caller, allocation happens once. */
export class PayloadWriter {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  u8(v: number): this {
    this.buf[this.pos++] = v;
    return this;
  }
  u16(v: number): this {
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }
  lenenc(v: number): this {
    this.pos = writeLenenc(this.buf, this.pos, v);
    return this;
  }
  bytes(b: Buffer | Uint8Array): this {
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  zeros(n: number): this {
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }
  lenencBytes(b: Buffer): this {
    return this.lenenc(b.length).bytes(b);
  }
  nulBytes(b: Buffer): this {
    return this.bytes(b).u8(0);
  }
  done(): Buffer {
    return this.pos === this.buf.length ? this.buf : this.buf.subarray(0, this.pos);
  }
}
