/**
 * Password scrambles. mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
 * caching_sha2_password fast path: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble).
 * Reference: MySQL protocol docs, "Authentication Methods".
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

function sha1(...parts: Buffer[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

function sha256(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

export function nativePasswordScramble(password: string, scramble: Buffer): Buffer {
  if (password.length === 0) return Buffer.alloc(0);
  const stage1 = sha1(Buffer.from(password, 'utf8'));
  const stage2 = sha1(stage1);
  return xor(stage1, sha1(scramble.subarray(0, 20), stage2));
}

/** Constant-time check of a client's native-password answer against the configured password. */
export function verifyNativePassword(password: string, scramble: Buffer, answer: Buffer): boolean {
  const expected = nativePasswordScramble(password, scramble);
  if (expected.length !== answer.length) return false;
  return expected.length === 0 || timingSafeEqual(expected, answer);
}

export function cachingSha2Scramble(password: string, scramble: Buffer): Buffer {
  if (password.length === 0) return Buffer.alloc(0);
  const stage1 = sha256(Buffer.from(password, 'utf8'));
  const stage2 = sha256(stage1);
  return xor(stage1, sha256(stage2, scramble.subarray(0, 20)));
}

/** 20 random bytes in 1..127, never NUL (the greeting NUL-terminates the second part). */
export function newScramble(): Buffer {
  const b = randomBytes(20);
  for (let i = 0; i < b.length; i++) b[i] = (b[i]! % 127) + 1;
  return b;
}
