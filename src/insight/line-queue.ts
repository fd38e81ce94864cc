/**
 * The queue behind LineWriter: lines waiting for the file, counted in the bytes they will
 * take there (UTF-8 plus the newline), and cut into batches of whole lines that one write()
 * hands to the kernel (or, when the kernel takes only part, the next ones).
 *
 * Byte accounting is exact (Buffer.byteLength: about 30 ns for a 180-byte ASCII line, a
 * fraction of the JSON.stringify that made it). A batch needs every line's exact size anyway
 * to be allocated once and filled in place, so measuring when the line is queued moves that
 * cost rather than adding it, and makes the bound exact. An upper bound such as
 * `length * 3` would be cheaper per line but would shrink a 4 MiB budget to 1.3 MiB of ASCII
 * and still leave every line to be measured when the batch is built. V8 keeps a string in 1
 * or 2 bytes a character, so the memory held stays within about twice the counted bytes.
 */

const NEWLINE = 0x0a;

/** Whole lines in one buffer, and how much of it the kernel has taken so far. */
export class Batch {
  /** Bytes of `buf` handed to the kernel. */
  offset = 0;

  /**
   * @param lines lines in `buf` not yet whole in the kernel (a leading '\n' is not one)
   * @param lead 1 when `buf` starts with a '\n' that ends an earlier torn line
   */
  constructor(readonly buf: Buffer, public lines: number, readonly lead: number) {}

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  /** Account for `bytes` more handed to the kernel; returns how many lines they completed. */
  advance(bytes: number): number {
    const from = Math.max(this.offset, this.lead);
    this.offset += bytes;
    if (this.offset === this.buf.length) return this.lines;
    let done = 0;
    for (let i = this.buf.indexOf(NEWLINE, from); i !== -1 && i < this.offset; i = this.buf.indexOf(NEWLINE, i + 1)) done++;
    this.lines -= done;
    return done;
  }

  /** Part of a line is in the kernel and the rest is not. */
  get torn(): boolean {
    return this.offset > 0 && this.buf[this.offset - 1] !== NEWLINE;
  }

  /** Whether the file, this batch being dropped now, holds a line with no end: torn, or a lead not written. */
  leavesLineOpen(): boolean {
    return this.offset === 0 ? this.lead === 1 : this.torn;
  }
}

export class LineQueue {
  private lines: string[] = [];
  /** Bytes of each queued line in the file, its newline included. */
  private sizes: number[] = [];
  /** Bytes of all queued lines, newlines included. */
  bytes = 0;

  get length(): number {
    return this.lines.length;
  }

  /** Queue `line`, which takes `size` bytes in the file (Buffer.byteLength + 1). */
  push(line: string, size: number): void {
    this.lines.push(line);
    this.sizes.push(size);
    this.bytes += size;
  }

  /**
   * The oldest lines as one buffer, each followed by '\n', at most `cap` bytes, except that a
   * first line larger than `cap` goes alone: lines are never split between batches. With
   * `lead`, a '\n' comes first (it ends a line a failed write left torn). Null when empty.
   */
  take(cap: number, lead: boolean): Batch | null {
    const { lines, sizes } = this;
    let count = 0;
    let bytes = lead ? 1 : 0;
    while (count < lines.length && (count === 0 || bytes + sizes[count] <= cap)) bytes += sizes[count++];
    if (count === 0) return null;
    const buf = Buffer.allocUnsafe(bytes);
    let at = 0;
    if (lead) buf[at++] = NEWLINE;
    for (let i = 0; i < count; i++) {
      at += buf.write(lines[i], at);
      buf[at++] = NEWLINE;
    }
    this.remove(count, bytes - (lead ? 1 : 0));
    return new Batch(buf, count, lead ? 1 : 0);
  }

  /** Forget every queued line; returns how many there were. */
  clear(): number {
    const count = this.lines.length;
    this.remove(count, this.bytes);
    return count;
  }

  private remove(count: number, bytes: number): void {
    this.bytes -= bytes;
    if (count === this.lines.length) {
      // The common case (the writer keeps up): reuse the arrays instead of splicing.
      this.lines.length = 0;
      this.sizes.length = 0;
    } else {
      this.lines.splice(0, count);
      this.sizes.splice(0, count);
    }
  }
}
