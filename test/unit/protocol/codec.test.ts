// Codec primitives: length-encoded integers at every width boundary, bounds-checked reading
// (a short payload raises MalformedPacket, never a RangeError), and the non-throwing peek
// used by the scanners.
import { expect } from 'chai';
import fc from 'fast-check';
import {
  MalformedPacket, PayloadReader, PayloadWriter, lenencSize, peekLenenc, writeLenenc,
} from '../../../src/protocol/codec.js';

const BOUNDARIES: readonly [number, string][] = [
  [0, '00'],
  [250, 'fa'],
  [251, 'fcfb00'],
  [65535, 'fcffff'],
  [65536, 'fd000001'],
  [2 ** 24 - 1, 'fdffffff'],
  [2 ** 24, 'fe0000000100000000'],
  [Number.MAX_SAFE_INTEGER, 'feffffffffffff1f00'],
];

function encode(v: number): Buffer {
  const buf = Buffer.alloc(lenencSize(v));
  expect(writeLenenc(buf, 0, v)).to.equal(buf.length);
  return buf;
}

describe('protocol/codec', () => {
  describe('length-encoded integers', () => {
    for (const [v, hex] of BOUNDARIES) {
      it(`${v} encodes as ${hex} and decodes back`, () => {
        const buf = encode(v);
        expect(buf.toString('hex')).to.equal(hex);
        const r = new PayloadReader(buf);
        expect(r.lenenc()).to.equal(v);
        expect(r.remaining()).to.equal(0);
        const out = { pos: -1 };
        expect(peekLenenc(buf, 0, buf.length, out)).to.equal(v);
        expect(out.pos).to.equal(buf.length);
        expect(new PayloadWriter(buf.length).lenenc(v).done().equals(buf)).to.equal(true);
      });
    }

    it('writes at an offset and returns the position after the value', () => {
      const buf = Buffer.alloc(20, 0xaa);
      expect(writeLenenc(buf, 3, 70000)).to.equal(7);
      expect(buf.subarray(3, 7).toString('hex')).to.equal('fd701101');
      expect(buf[2]).to.equal(0xaa);
      expect(buf[7]).to.equal(0xaa);
    });

    it('round-trips any safe integer (property)', () => {
      fc.assert(fc.property(fc.maxSafeNat(), fc.nat({ max: 16 }), (v, offset) => {
        const buf = Buffer.alloc(offset + lenencSize(v) + 3);
        const end = writeLenenc(buf, offset, v);
        expect(end - offset).to.equal(lenencSize(v));
        const r = new PayloadReader(buf, offset);
        expect(r.lenenc()).to.equal(v);
        expect(r.pos).to.equal(end);
        const out = { pos: 0 };
        expect(peekLenenc(buf, offset, end, out)).to.equal(v);
        expect(out.pos).to.equal(end);
      }), { numRuns: 2000 });
    });

    it('uses the smallest width for every value (property)', () => {
      fc.assert(fc.property(fc.maxSafeNat(), (v) => {
        const expected = v < 251 ? 1 : v < 2 ** 16 ? 3 : v < 2 ** 24 ? 4 : 9;
        expect(lenencSize(v)).to.equal(expected);
      }));
    });

    it('rejects 0xfb (NULL) and 0xff as integer prefixes', () => {
      expect(() => new PayloadReader(Buffer.from([0xfb])).lenenc()).to.throw(MalformedPacket);
      expect(() => new PayloadReader(Buffer.from([0xff])).lenenc()).to.throw(MalformedPacket);
      const out = { pos: 7 };
      expect(peekLenenc(Buffer.from([0xfb]), 0, 1, out)).to.equal(-1);
      expect(peekLenenc(Buffer.from([0xff, 0, 0]), 0, 3, out)).to.equal(-1);
      expect(out.pos).to.equal(7);
    });

    it('rejects an 8-byte integer above 2^53 - 1', () => {
      const buf = Buffer.from('fe0000000000002000', 'hex'); // 2^53
      expect(() => new PayloadReader(buf).lenenc()).to.throw(MalformedPacket, /too large/);
    });
  });

  describe('PayloadReader truncation', () => {
    const cases: [string, string, (r: PayloadReader) => unknown][] = [
      ['u8', '', (r) => r.u8()],
      ['u16', '01', (r) => r.u16()],
      ['u24', '0102', (r) => r.u24()],
      ['u32', '010203', (r) => r.u32()],
      ['lenenc 0xfc', 'fc01', (r) => r.lenenc()],
      ['lenenc 0xfd', 'fd0102', (r) => r.lenenc()],
      ['lenenc 0xfe', 'fe01020304050607', (r) => r.lenenc()],
      ['lenenc (empty)', '', (r) => r.lenenc()],
      ['bytes', '0102', (r) => r.bytes(3)],
      ['lenencBytes', '05616263', (r) => r.lenencBytes()],
      ['lenencString', 'fc0001616263', (r) => r.lenencString()],
      ['skip', '00', (r) => r.skip(2)],
    ];
    for (const [name, hex, read] of cases) {
      it(`${name} on ${hex || 'nothing'} raises MalformedPacket`, () => {
        const r = new PayloadReader(Buffer.from(hex, 'hex'));
        expect(() => read(r)).to.throw(MalformedPacket, /truncated/);
      });
    }

    it('respects an end before the buffer end', () => {
      const buf = Buffer.from('0102030405060708', 'hex');
      const r = new PayloadReader(buf, 2, 5);
      expect(r.remaining()).to.equal(3);
      expect(() => r.u32()).to.throw(MalformedPacket);
      expect(r.u16()).to.equal(0x0403);
      expect(() => r.u16()).to.throw(MalformedPacket);
      expect(r.u8()).to.equal(5);
      expect(r.restBytes().length).to.equal(0);
    });

    it('nulBytes stops at the end when there is no terminator inside it', () => {
      const buf = Buffer.from('61626300646566', 'hex');
      const r = new PayloadReader(buf, 4, 6); // "de", the NUL-free tail cut short
      expect(r.nulString()).to.equal('de');
      expect(r.remaining()).to.equal(0);
      const r2 = new PayloadReader(buf);
      expect(r2.nulString()).to.equal('abc');
      expect(r2.pos).to.equal(4);
      expect(r2.nulString()).to.equal('def');
      expect(r2.nulString()).to.equal('');
    });

    it('does not find a NUL beyond its end', () => {
      const r = new PayloadReader(Buffer.from('616200', 'hex'), 0, 2);
      expect(r.nulString()).to.equal('ab');
      expect(r.pos).to.equal(2);
    });

    it('every read on any cut of any payload is either a value or MalformedPacket (property)', () => {
      const ops = ['u8', 'u16', 'u24', 'u32', 'lenenc', 'lenencBytes', 'nulBytes', 'bytes3', 'skip2'] as const;
      fc.assert(fc.property(
        fc.uint8Array({ maxLength: 64 }), fc.array(fc.constantFrom(...ops), { maxLength: 20 }),
        (bytes, plan) => {
          const r = new PayloadReader(Buffer.from(bytes));
          for (const op of plan) {
            const before = r.pos;
            try {
              switch (op) {
                case 'bytes3': r.bytes(3); break;
                case 'skip2': r.skip(2); break;
                default: r[op]();
              }
            } catch (err) {
              expect(err).to.be.instanceOf(MalformedPacket);
              expect(r.pos).to.be.at.least(before);
            }
            expect(r.pos).to.be.at.most(bytes.length);
          }
        }), { numRuns: 1000 });
    });
  });

  describe('peekLenenc', () => {
    it('returns -1 without moving out.pos when the bytes end first', () => {
      const full = Buffer.from('fe0102030405060708', 'hex');
      for (let end = 0; end < full.length; end++) {
        const out = { pos: 99 };
        expect(peekLenenc(full, 0, end, out), `end ${end}`).to.equal(-1);
        expect(out.pos).to.equal(99);
      }
    });

    it('never throws and never reads past `end`, whatever the bytes (property)', () => {
      fc.assert(fc.property(
        fc.uint8Array({ maxLength: 24 }), fc.nat({ max: 30 }), fc.nat({ max: 30 }),
        (bytes, a, b) => {
          const buf = Buffer.from(bytes);
          const pos = Math.min(a, buf.length + 2);
          const end = Math.min(b, buf.length);
          const out = { pos: -7 };
          const v = peekLenenc(buf, pos, end, out);
          if (v === -1) return;
          expect(v).to.be.at.least(0);
          expect(out.pos).to.be.greaterThan(pos);
          expect(out.pos).to.be.at.most(end);
          // The peek and the bounds-checked reader agree wherever the reader succeeds.
          if (v <= Number.MAX_SAFE_INTEGER) expect(new PayloadReader(buf, pos, end).lenenc()).to.equal(v);
        }), { numRuns: 3000 });
    });
  });

  describe('PayloadWriter', () => {
    it('writes every field type and returns exactly the bytes written', () => {
      const w = new PayloadWriter(32)
        .u8(0x01).u16(0x0302).u32(0x07060504).lenenc(300).bytes(Buffer.from('ab'))
        .zeros(2).lenencBytes(Buffer.from('xyz')).nulBytes(Buffer.from('q'));
      const out = w.done();
      expect(out.toString('hex')).to.equal('01' + '0203' + '04050607' + 'fc2c01' + '6162' + '0000' + '0378797a' + '7100');
      expect(out.length).to.equal(w.pos);
    });

    it('writes u32 values with the top bit set', () => {
      expect(new PayloadWriter(4).u32(0xffffffff).done().toString('hex')).to.equal('ffffffff');
      expect(new PayloadWriter(4).u32(-1).done().toString('hex')).to.equal('ffffffff');
    });
  });
});
