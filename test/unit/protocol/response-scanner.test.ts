// The peek-then-relay response scanner against real MariaDB 10.11 responses, captured as hex
// (test/fixtures/capture.ts) with CLIENT_DEPRECATE_EOF off and on: for every way the bytes can
// be cut into chunks, the scanner must report the end of the response exactly after its last
// byte, report the status flags of the final OK/EOF, and never throw or grow on garbage.
import { expect } from 'chai';
import fc from 'fast-check';
import { ResponseKind, ResponseScanner } from '../../../src/protocol/response-scanner.js';
import {
  MAX_PACKET_PAYLOAD, SERVER_MORE_RESULTS_EXISTS, SERVER_STATUS_AUTOCOMMIT,
  SERVER_STATUS_CURSOR_EXISTS, SERVER_STATUS_IN_TRANS, SERVER_STATUS_LAST_ROW_SENT,
} from '../../../src/protocol/constants.js';
import { frame } from '../../../src/protocol/framing.js';
import { cutAt } from '../../helpers/chunks.js';

import { FIXTURES, type Fixture, type KindName } from '../../fixtures/scanner-responses.js';

const KIND: Record<KindName, ResponseKind> = {
  Result: ResponseKind.Result,
  Prepare: ResponseKind.Prepare,
  Fetch: ResponseKind.Fetch,
  FieldList: ResponseKind.FieldList,
  Single: ResponseKind.Single,
  CursorResult: ResponseKind.CursorResult,
};

const bytesOf = (hex: string): Buffer => Buffer.from(hex, 'hex');

/**
 * A copy of a response with `flag` set in every classic EOF (status at payload offset 3) and
 * every OK-terminator (0xfe, status after two one-byte lenencs in these fixtures).
 */
function withFlagOnEveryEnd(bytes: Buffer, flag: number): Buffer {
  const out = Buffer.from(bytes);
  for (let pos = 0; pos + 4 <= out.length;) {
    const len = out.readUIntLE(pos, 3);
    const p = pos + 4;
    if (out[p] === 0xfe && len < 9 && len >= 5) out.writeUInt16LE(out.readUInt16LE(p + 3) | flag, p + 3);
    else if (out[p] === 0xfe && len >= 7 && out[p + 1]! < 0xfb && out[p + 2]! < 0xfb) out.writeUInt16LE(out.readUInt16LE(p + 3) | flag, p + 3);
    pos = p + len;
  }
  return out;
}

interface Framed {
  readonly len: number;
  readonly payload: Buffer;
}

/** Walks the packet headers (test-side, independent of the scanner). */
function packetsOf(bytes: Buffer): Framed[] {
  const out: Framed[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const len = bytes.readUIntLE(pos, 3);
    out.push({ len, payload: bytes.subarray(pos + 4, pos + 4 + len) });
    pos += 4 + len;
  }
  expect(pos, 'fixture holds whole packets').to.equal(bytes.length);
  return out;
}

function lenencAt(b: Buffer, pos: number): [number, number] {
  const first = b[pos]!;
  if (first < 0xfb) return [first, pos + 1];
  if (first === 0xfc) return [b.readUInt16LE(pos + 1), pos + 3];
  if (first === 0xfd) return [b.readUIntLE(pos + 1, 3), pos + 4];
  return [Number(b.readBigUInt64LE(pos + 1)), pos + 9];
}

/** Status flags of the packet that ends the response, or null when it is not an OK/EOF. */
function finalFlags(bytes: Buffer, deprecateEof: boolean): number | null {
  const last = packetsOf(bytes).at(-1)!.payload;
  if (last[0] === 0xfe && !deprecateEof && last.length < 9) return last.readUInt16LE(3);
  if (last[0] === 0x00 || (last[0] === 0xfe && deprecateEof && last.length < MAX_PACKET_PAYLOAD)) {
    const [, p1] = lenencAt(last, 1);
    const [, p2] = lenencAt(last, p1);
    return last.readUInt16LE(p2);
  }
  return null;
}

/** Splits `bytes` at the given offsets (any order, duplicates and empties allowed). */

/**
 * Feeds the chunks of one response in order and returns what `scan` returned for each.
 * Chunks are copied so that the scanner cannot rely on bytes it was shown earlier.
 */
function feed(scanner: ResponseScanner, chunks: readonly Buffer[]): number[] {
  return chunks.map((c) => scanner.scan(Buffer.from(c)));
}

/** The end must be reported once, in the chunk that holds the last byte, just past it. */
function expectEndAtLastByte(results: readonly number[], chunks: readonly Buffer[], what: string): void {
  let last = chunks.length - 1;
  while (last > 0 && chunks[last]!.length === 0) last--;
  results.forEach((r, i) => {
    if (i === last) expect(r, `${what}: chunk ${i} (last)`).to.equal(chunks[i]!.length);
    else if (i < last) expect(r, `${what}: chunk ${i} of ${chunks.length}`).to.equal(-1);
  });
}

function scanner(f: Fixture, flags = -1): ResponseScanner {
  const s = new ResponseScanner(f.deprecateEof);
  s.statusFlags = flags;
  s.begin(KIND[f.kind]);
  return s;
}

interface Part {
  readonly bytes: Buffer;
  /** The scanner waits for LOCAL INFILE data after this part. */
  readonly infileAfter: boolean;
}

const partsCache = new Map<Fixture, Part[]>();

/** The parts the scanner sees, each with the state it must be in after the part's end (cached: same Buffers each call). */
function parts(f: Fixture): Part[] {
  let p = partsCache.get(f);
  if (!p) {
    const main = { bytes: bytesOf(f.hex), infileAfter: f.afterHex !== undefined };
    p = f.afterHex === undefined ? [main] : [main, { bytes: bytesOf(f.afterHex), infileAfter: false }];
    partsCache.set(f, p);
  }
  return p;
}

const flagsCache = new Map<Fixture, number | null>();

/** Runs a whole fixture through one scanner, each part cut by `cut`. */
function runFixture(f: Fixture, cut: (b: Buffer) => Buffer[], label: string): ResponseScanner {
  const s = scanner(f);
  for (const part of parts(f)) {
    const chunks = cut(part.bytes);
    expectEndAtLastByte(feed(s, chunks), chunks, `${f.name} ${label}`);
    expect(s.awaitingInfile, `${f.name}: awaiting infile`).to.equal(part.infileAfter);
    expect(s.busy, `${f.name}: busy after the end`).to.equal(part.infileAfter);
    if (part.infileAfter) s.infileSent();
  }
  // Flags are tracked for commands whose answer ends in OK/EOF (not prepare or field list).
  if (!flagsCache.has(f)) flagsCache.set(f, f.kind === 'Prepare' || f.kind === 'FieldList' ? null : finalFlags(parts(f).at(-1)!.bytes, f.deprecateEof));
  const flags = flagsCache.get(f)!;
  if (flags !== null && s.statusFlags !== flags) expect(s.statusFlags, `${f.name} ${label}: status flags`).to.equal(flags);
  return s;
}

const byProfile = (deprecateEof: boolean): Fixture[] => FIXTURES.filter((f) => f.deprecateEof === deprecateEof);
const fixture = (name: string, deprecateEof: boolean): Fixture => {
  const f = FIXTURES.find((x) => x.name === name && x.deprecateEof === deprecateEof);
  if (!f) throw new Error(`no fixture ${name}`);
  return f;
};

describe('protocol/response-scanner', () => {
  it('has every captured response in both profiles', () => {
    const names = (d: boolean): string[] => byProfile(d).map((f) => f.name);
    expect(names(true)).to.deep.equal(names(false));
    expect(names(false)).to.include.members([
      'text_result', 'empty_result', 'ok_do', 'err', 'multi_statements', 'call', 'prepare_params_columns',
      'execute_binary', 'field_list', 'local_infile',
    ]);
  });

  for (const deprecateEof of [false, true]) {
    describe(`CLIENT_DEPRECATE_EOF ${deprecateEof ? 'on' : 'off'}`, () => {
      for (const f of byProfile(deprecateEof)) {
        describe(f.name, () => {
          it('ends exactly at the last byte when the answer comes in one chunk', () => {
            const s = runFixture(f, (b) => [b], 'one chunk');
            const total = parts(f).reduce((n, p) => n + packetsOf(p.bytes).length, 0);
            expect(s.packets).to.equal(total);
          });

          it('ends exactly at the last byte for a cut at every offset', () => {
            let cuts = 0;
            for (const part of parts(f)) {
              for (let k = 0; k <= part.bytes.length; k++) {
                runFixture(f, (b) => {
                  if (b !== part.bytes) return [b];
                  cuts++;
                  return cutAt(b, [k]);
                }, `cut at ${k}`);
              }
            }
            expect(cuts).to.equal(parts(f).reduce((n, p) => n + p.bytes.length + 1, 0));
          });

          it('ends exactly at the last byte fed one byte at a time', () => {
            runFixture(f, (b) => [...b].map((x) => Buffer.from([x])), 'byte by byte');
          });

          it('ends exactly at the last byte for random chunkings (property)', () => {
            fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 4 }), (a, b) => {
              const cuts = [a, b];
              let i = 0;
              runFixture(f, (bytes) => cutAt(bytes, (cuts[i++] ?? []).map((c) => c % (bytes.length + 1))), 'random');
            }), { numRuns: 150 });
          });

          it('stops at the end of the answer when more bytes follow in the same chunk', () => {
            const s = scanner(f);
            for (const part of parts(f)) {
              const junk = Buffer.from('0500000177777777770100000200', 'hex');
              const prefix = Buffer.from('deadbeef', 'hex');
              const chunk = Buffer.concat([prefix, part.bytes, junk]);
              expect(s.scan(chunk, prefix.length)).to.equal(prefix.length + part.bytes.length);
              if (part.infileAfter) s.infileSent();
            }
            expect(s.busy).to.equal(false);
          });

          if (f.kind !== 'Prepare' && f.kind !== 'FieldList') {
            it('reports the status flags of the final OK/EOF', () => {
              const s = runFixture(f, (b) => [b], 'flags');
              const last = parts(f).at(-1)!.bytes;
              const expected = finalFlags(last, deprecateEof);
              if (expected !== null) {
                expect(s.statusFlags).to.equal(expected);
                expect(s.statusFlags & SERVER_MORE_RESULTS_EXISTS).to.equal(0);
              } else {
                // ERR, statistics text, ...: the flags stay what the last OK/EOF said (none here).
                const earlier = packetsOf(last).some((p) => p.payload[0] === 0xfe || p.payload[0] === 0x00);
                if (!earlier) expect(s.statusFlags).to.equal(-1);
              }
            });
          }
        });
      }

      it('tracks the transaction state: BEGIN sets IN_TRANS, COMMIT clears it', () => {
        const s = new ResponseScanner(deprecateEof);
        const states: [string, number][] = [];
        for (const name of ['ok_do', 'ok_begin', 'text_in_trans', 'ok_commit', 'set_autocommit_off', 'text_autocommit_off', 'set_autocommit_on']) {
          const f = fixture(name, deprecateEof);
          s.begin(KIND[f.kind]);
          expect(s.scan(bytesOf(f.hex))).to.equal(f.hex.length / 2);
          states.push([name, s.statusFlags & (SERVER_STATUS_IN_TRANS | SERVER_STATUS_AUTOCOMMIT)]);
        }
        const A = SERVER_STATUS_AUTOCOMMIT;
        const T = SERVER_STATUS_IN_TRANS;
        expect(states).to.deep.equal([
          ['ok_do', A], ['ok_begin', A | T], ['text_in_trans', A | T], ['ok_commit', A],
          ['set_autocommit_off', 0], ['text_autocommit_off', 0], ['set_autocommit_on', A],
        ]);
      });

      // Issue 8 #1: a stored program with an open cursor makes MariaDB set
      // SERVER_STATUS_CURSOR_EXISTS on a plain COM_QUERY's result sets; read as "a cursor was
      // opened", the response seemed to end after the column definitions and the session
      // hung waiting for a response that had already been relayed.
      it('ends a COM_QUERY result set at its last row even when its flags say a cursor exists', () => {
        const f = fixture('text_in_trans', deprecateEof);
        const bytes = withFlagOnEveryEnd(bytesOf(f.hex), SERVER_STATUS_CURSOR_EXISTS);
        const s = new ResponseScanner(deprecateEof);
        s.begin(ResponseKind.Result);
        expect(s.scan(bytes)).to.equal(bytes.length);
        s.begin(ResponseKind.CursorResult);
        const cursorEnd = s.scan(bytes);
        if (deprecateEof) expect(cursorEnd, 'no EOF after the columns: the rows end it').to.equal(bytes.length);
        else expect(cursorEnd, 'a cursor execute ends after the column EOF').to.be.below(bytes.length);
      });

      it('ends a COM_STMT_FETCH answer at its terminator even when it says more results exist', () => {
        const f = fixture('fetch_some', deprecateEof);
        const bytes = withFlagOnEveryEnd(bytesOf(f.hex), SERVER_MORE_RESULTS_EXISTS);
        const s = new ResponseScanner(deprecateEof);
        s.begin(ResponseKind.Fetch);
        expect(s.scan(bytes)).to.equal(bytes.length);
        expect(s.busy).to.equal(false);
      });

      it('reports an opened cursor, then the last row sent by COM_STMT_FETCH', () => {
        const s = new ResponseScanner(deprecateEof);
        for (const [name, flag] of [['execute_cursor', SERVER_STATUS_CURSOR_EXISTS], ['fetch_some', SERVER_STATUS_CURSOR_EXISTS], ['fetch_rest', SERVER_STATUS_LAST_ROW_SENT]] as const) {
          const f = fixture(name, deprecateEof);
          s.begin(KIND[f.kind]);
          expect(s.scan(bytesOf(f.hex)), name).to.equal(f.hex.length / 2);
          expect(s.statusFlags & flag, name).to.equal(flag);
        }
      });

      it('follows a whole session of answers with one scanner, in 7-byte chunks', () => {
        const s = new ResponseScanner(deprecateEof);
        for (const f of byProfile(deprecateEof)) {
          s.begin(KIND[f.kind]);
          for (const part of parts(f)) {
            const chunks = [];
            for (let i = 0; i < part.bytes.length; i += 7) chunks.push(part.bytes.subarray(i, i + 7));
            expectEndAtLastByte(feed(s, chunks), chunks, f.name);
            if (part.infileAfter) s.infileSent();
          }
          expect(s.busy, f.name).to.equal(false);
        }
      });
    });
  }

  describe('packets of 16 MiB and more (synthetic)', function () {
    this.timeout(60000);
    const columnCount = frame(Buffer.from([0x01]), 1).bytes;
    const columnDef = frame(bytesOf(fixture('text_result', false).hex).subarray(9, 9 + 23), 2).bytes;

    /** A text row holding one string of `n` bytes whose last bytes are `tail`. */
    function bigRow(n: number, tail: Buffer): Buffer {
      const head = Buffer.alloc(9);
      head[0] = 0xfe;
      head.writeBigUInt64LE(BigInt(n), 1);
      const value = Buffer.alloc(n, 0x61);
      tail.copy(value, n - tail.length);
      return Buffer.concat([head, value]);
    }

    for (const deprecateEof of [false, true]) {
      const eof = deprecateEof ? Buffer.from('fe000002000000', 'hex') : Buffer.from('fe00000200', 'hex');
      it(`does not take a continuation packet that looks like an EOF for the end (DEPRECATE_EOF ${deprecateEof ? 'on' : 'off'})`, () => {
        // The row's payload is 0xffffff + 5 bytes: its continuation packet is 5 bytes long and
        // reads fe 00 00 02 00, exactly a classic EOF; the row itself starts with 0xfe.
        const row = bigRow(MAX_PACKET_PAYLOAD + 5 - 9, Buffer.from('fe00000200', 'hex'));
        let seq = 3;
        const parts: Buffer[] = [columnCount, columnDef];
        if (!deprecateEof) parts.push(frame(Buffer.from('fe00000200', 'hex'), seq++).bytes);
        const f = frame(row, seq);
        parts.push(f.bytes, frame(eof, f.nextSeq).bytes);
        const bytes = Buffer.concat(parts);
        const boundaries: number[] = [];
        for (let pos = 0; pos < bytes.length; pos += 4 + bytes.readUIntLE(pos, 3)) boundaries.push(pos);
        const cuts = [0, bytes.length, ...boundaries.flatMap((b) => [b - 1, b, b + 1, b + 3, b + 4, b + 5, b + 63, b + 64, b + 65])];
        for (const c of cuts.filter((x) => x >= 0 && x <= bytes.length)) {
          const s = new ResponseScanner(deprecateEof);
          s.begin(ResponseKind.Result);
          const chunks = cutAt(bytes, [c]);
          expectEndAtLastByte(feed(s, chunks), chunks, `cut at ${c}`);
          expect(s.statusFlags).to.equal(0x0002);
        }
      });

      it(`skips the empty packet after an exactly-16 MiB row (DEPRECATE_EOF ${deprecateEof ? 'on' : 'off'})`, () => {
        const row = bigRow(MAX_PACKET_PAYLOAD - 9, Buffer.alloc(0));
        let seq = 3;
        const parts: Buffer[] = [columnCount, columnDef];
        if (!deprecateEof) parts.push(frame(Buffer.from('fe00000200', 'hex'), seq++).bytes);
        const f = frame(row, seq);
        expect(f.bytes.length).to.equal(MAX_PACKET_PAYLOAD + 8); // full packet + empty one
        parts.push(f.bytes, frame(eof, f.nextSeq).bytes);
        const bytes = Buffer.concat(parts);
        const s = new ResponseScanner(deprecateEof);
        s.begin(ResponseKind.Result);
        const chunks: Buffer[] = [];
        for (let i = 0; i < bytes.length; i += 65536) chunks.push(bytes.subarray(i, i + 65536));
        expectEndAtLastByte(chunks.map((c) => s.scan(c)), chunks, '64 KiB chunks');
      });
    }
  });

  describe('garbage', () => {
    /** Every field is a number, a boolean, or one of the two fixed scratch buffers. */
    function expectFixedState(s: ResponseScanner): void {
      for (const [key, value] of Object.entries(s)) {
        // `hold` is edit mode's (empty until used); the others are fixed scratch buffers.
        if (Buffer.isBuffer(value)) expect(value.length, key).to.equal(key === 'hdr' ? 4 : key === 'hold' ? 0 : 256);
        else if (key === 'sink' || key === 'editor') expect(value, key).to.equal(null);
        else expect(typeof value, key).to.be.oneOf(['number', 'boolean']);
      }
    }

    it('never throws, never reports an end outside the chunk, and never grows (property)', () => {
      const kinds = Object.values(KIND);
      fc.assert(fc.property(
        fc.boolean(), fc.constantFrom(...kinds),
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.constantFrom(...kinds), { maxLength: 30 }),
        (deprecateEof, kind, chunks, laterKinds) => {
          const s = new ResponseScanner(deprecateEof);
          const hdr = (s as unknown as { hdr: Buffer }).hdr;
          const head = (s as unknown as { head: Buffer }).head;
          s.begin(kind);
          let k = 0;
          for (const raw of chunks) {
            const chunk = Buffer.from(raw);
            // After each end, the next command's answer starts in the rest of the chunk.
            for (let start = 0, end = s.scan(chunk, start); end !== -1; start = end, end = s.scan(chunk, start)) {
              expect(end).to.be.within(start + 1, chunk.length);
              if (s.awaitingInfile) s.infileSent();
              else s.begin(laterKinds[k++] ?? kind);
            }
            expectFixedState(s);
          }
          expect((s as unknown as { hdr: Buffer }).hdr).to.equal(hdr);
          expect((s as unknown as { head: Buffer }).head).to.equal(head);
        }), { numRuns: 2000 });
    });

    it('never throws on random valid-looking headers with random payload heads (property)', () => {
      // Packets with plausible lengths so the state machine walks deep into its phases.
      const packet = fc.tuple(fc.nat({ max: 90 }), fc.constantFrom(0x00, 0x01, 0x03, 0xfb, 0xfc, 0xfe, 0xff), fc.uint8Array({ maxLength: 90 }))
        .map(([len, first, rest]) => {
          const payload = Buffer.alloc(len);
          if (len > 0) payload[0] = first;
          Buffer.from(rest).copy(payload, 1, 0, Math.max(0, len - 1));
          return frame(payload, 1).bytes;
        });
      fc.assert(fc.property(fc.boolean(), fc.constantFrom(...Object.values(KIND)), fc.array(packet, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 10 }),
        (deprecateEof, kind, packets, cuts) => {
          const bytes = Buffer.concat(packets);
          const s = new ResponseScanner(deprecateEof);
          s.begin(kind);
          for (const c of cutAt(bytes, cuts.map((x) => x % (bytes.length + 1)))) {
            const end = s.scan(c);
            expect(end).to.be.within(-1, c.length);
            if (end >= 0) {
              if (s.awaitingInfile) s.infileSent();
              else s.begin(kind);
              s.scan(c, end);
            }
          }
          expectFixedState(s);
        }), { numRuns: 2000 });
    });
  });
});
