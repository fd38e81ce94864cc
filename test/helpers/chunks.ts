/** Split bytes at the given offsets (clamped, sorted; repeated offsets give empty chunks). */
export function cutAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const sorted = [...cuts].map((c) => Math.max(0, Math.min(c, bytes.length))).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of sorted) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  out.push(bytes.subarray(from));
  return out;
}
