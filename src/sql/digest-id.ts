/**
 * Digest ids: FNV-1a 64 over the UTF-8 bytes of a fingerprint, as 16 lowercase hex chars.
 *
 * Why FNV-1a 64 and not node:crypto: it is a published, fixed algorithm (so an id is the same
 * across processes, versions and languages: any FNV-1a 64 over the UTF-8 text reproduces it),
 * it runs inline with no native call and no Buffer per statement, and 64 bits keep accidental
 * collisions out of reach for a digest table (a million distinct fingerprints collide with a
 * probability of ~3e-8). It is not collision-resistant against a client crafting statements to
 * merge two digests; an id is an observability key, never a security decision.
 *
 * The 64-bit state is two int32 halves. Multiplying by the FNV prime 2^40 + 0x1b3 is
 * `h * 0x1b3 + (h << 40)`; the low half times 0x1b3 is done on 16-bit limbs so every product
 * stays an exact small integer (no BigInt allocation per byte, no float rounding).
 */

const PRIME_LOW = 0x1b3;

/** Byte count of the last utf8At() result. */
let width = 0;

/**
 * The UTF-8 bytes of the non-ASCII code unit `c` at `i` (with the next one when they form a
 * surrogate pair; a lone surrogate as U+FFFD, as Buffer and TextEncoder do), first byte lowest.
 */
function utf8At(s: string, i: number, c: number): number {
  if (c < 0x800) {
    width = 2;
    return (0xc0 | (c >> 6)) | ((0x80 | (c & 0x3f)) << 8);
  }
  if (c >= 0xd800 && c <= 0xdfff) {
    const d = c <= 0xdbff ? s.charCodeAt(i + 1) : 0;
    if (d >= 0xdc00 && d <= 0xdfff) {
      const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      width = 4;
      return (0xf0 | (cp >> 18)) | ((0x80 | ((cp >> 12) & 0x3f)) << 8) | ((0x80 | ((cp >> 6) & 0x3f)) << 16) |
        ((0x80 | (cp & 0x3f)) << 24);
    }
    c = 0xfffd;
  }
  width = 3;
  return (0xe0 | (c >> 12)) | ((0x80 | ((c >> 6) & 0x3f)) << 8) | ((0x80 | (c & 0x3f)) << 16);
}

const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

function nibble(x: number, shift: number): number {
  return HEX_DIGITS[(x >>> shift) & 15] as number;
}

/** 16 hex digits in one allocation (`Number#toString(16)` and padStart cost ~10x more). */
function hex16(hi: number, lo: number): string {
  return String.fromCharCode(nibble(hi, 28), nibble(hi, 24), nibble(hi, 20), nibble(hi, 16),
    nibble(hi, 12), nibble(hi, 8), nibble(hi, 4), nibble(hi, 0), nibble(lo, 28), nibble(lo, 24),
    nibble(lo, 20), nibble(lo, 16), nibble(lo, 12), nibble(lo, 8), nibble(lo, 4), nibble(lo, 0));
}

/** Stable 64-bit hash of a fingerprint as 16 lowercase hex chars (same input, same id, across processes and versions). */
export function digestId(fingerprintText: string): string {
  const s = fingerprintText;
  const n = s.length;
  let hi = 0xcbf29ce4 | 0; // FNV-1a 64 offset basis 0xcbf29ce484222325
  let lo = 0x84222325 | 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let bytes = c;
    let count = 1;
    if (c >= 0x80) {
      bytes = utf8At(s, i, c);
      count = width;
      if (count === 4) i++;
    }
    for (; count > 0; count--, bytes >>>= 8) {
      const x = lo ^ (bytes & 0xff);
      const low = (x & 0xffff) * PRIME_LOW;
      const mid = (x >>> 16) * PRIME_LOW + (low >>> 16);
      lo = (mid << 16) | (low & 0xffff);
      hi = (Math.imul(hi, PRIME_LOW) + (mid >>> 16) + (x << 8)) | 0;
    }
  }
  return hex16(hi, lo);
}
