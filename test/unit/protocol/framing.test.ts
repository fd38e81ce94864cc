// Packet framing: the 16 MiB split on the way out, and reassembly of physical packets from a
// byte stream cut anywhere on the way in, with the assembler holding no more than it must.
import { expect } from 'chai';
import fc from 'fast-check';
import { PacketAssembler, frame, setSeq, writeHeader, type Packet } from '../../../src/protocol/framing.js';
import { MAX_PACKET_PAYLOAD } from '../../../src/protocol/constants.js';
import { cutAt } from '../../helpers/chunks.js';

interface Seen {
  readonly seq: number;
  readonly payload: string;
}

function pattern(n: number, salt = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + salt) & 0xff;
  return b;
}

/** Frames each payload (one sequence run) and returns the stream and the packets it holds. */
function stream(payloads: Buffer[], seq0 = 0): { bytes: Buffer; packets: Seen[] } {
  const parts: Buffer[] = [];
  const packets: Seen[] = [];
  let seq = seq0;
  for (const p of payloads) {
    const f = frame(p, seq);
    expect(p.length).to.be.below(MAX_PACKET_PAYLOAD); // small payloads: one packet each
    packets.push({ seq, payload: p.toString('hex') });
    parts.push(f.bytes);
    seq = f.nextSeq;
  }
  return { bytes: Buffer.concat(parts), packets };
}

/**
 * Feeds `chunks` into a fresh assembler, draining after every push, and checks the bound:
 * bufferedBytes is exactly what was pushed and not yet handed out as packets.
 */
function assemble(chunks: Buffer[]): Seen[] {
  const asm = new PacketAssembler();
  const out: Seen[] = [];
  let pushed = 0;
  let consumed = 0;
  for (const c of chunks) {
    asm.push(c);
    pushed += c.length;
    expect(asm.bufferedBytes).to.equal(pushed - consumed);
    for (let p: Packet | null = asm.next(); p !== null; p = asm.next()) {
      expect(p.raw.length).to.equal(p.payload.length + 4);
      expect(p.raw.readUIntLE(0, 3)).to.equal(p.payload.length);
      expect(p.raw[3]).to.equal(p.seq);
      consumed += p.raw.length;
      out.push({ seq: p.seq, payload: p.payload.toString('hex') });
      expect(asm.bufferedBytes).to.equal(pushed - consumed);
    }
    // What is left is less than one whole packet.
    const len = asm.peekLength();
    if (len >= 0) expect(asm.bufferedBytes).to.be.below(len + 4);
    else expect(asm.bufferedBytes).to.be.below(4);
  }
  return out;
}


describe('protocol/framing', () => {
  describe('frame()', () => {
    it('frames an empty payload as one empty packet', () => {
      const f = frame(Buffer.alloc(0), 3);
      expect(f.bytes.toString('hex')).to.equal('00000003');
      expect(f.nextSeq).to.equal(4);
    });

    it('writes the 3-byte little-endian length and the sequence id', () => {
      const f = frame(Buffer.from('0103', 'hex'), 0);
      expect(f.bytes.toString('hex')).to.equal('020000000103');
      expect(frame(pattern(0x012345), 7).bytes.subarray(0, 4).toString('hex')).to.equal('45230107');
    });

    it('wraps the sequence id after 255', () => {
      const f = frame(Buffer.from([1]), 255);
      expect(f.bytes[3]).to.equal(255);
      expect(f.nextSeq).to.equal(0);
    });

    it('splits exactly at 0xffffff and adds an empty packet after a full one', function () {
      this.timeout(20000);
      for (const [size, lengths] of [
        [MAX_PACKET_PAYLOAD - 1, [MAX_PACKET_PAYLOAD - 1]],
        [MAX_PACKET_PAYLOAD, [MAX_PACKET_PAYLOAD, 0]],
        [MAX_PACKET_PAYLOAD + 1, [MAX_PACKET_PAYLOAD, 1]],
        [2 * MAX_PACKET_PAYLOAD, [MAX_PACKET_PAYLOAD, MAX_PACKET_PAYLOAD, 0]],
      ] as const) {
        const payload = pattern(size, size);
        const f = frame(payload, 254);
        expect(f.bytes.length).to.equal(size + 4 * lengths.length);
        let pos = 0;
        const seen: number[] = [];
        const seqs: number[] = [];
        const pieces: Buffer[] = [];
        while (pos < f.bytes.length) {
          const len = f.bytes.readUIntLE(pos, 3);
          seen.push(len);
          seqs.push(f.bytes[pos + 3]!);
          pieces.push(f.bytes.subarray(pos + 4, pos + 4 + len));
          pos += 4 + len;
        }
        expect(seen, `size ${size}`).to.deep.equal([...lengths]);
        expect(seqs).to.deep.equal(lengths.map((_, i) => (254 + i) & 0xff));
        expect(f.nextSeq).to.equal((254 + lengths.length) & 0xff);
        expect(Buffer.concat(pieces).equals(payload)).to.equal(true);
      }
    });

    it('writeHeader and setSeq touch only the header bytes', () => {
      const b = Buffer.alloc(6, 0xee);
      writeHeader(b, 1, 0xabcdef, 0x1ff);
      expect(b.toString('hex')).to.equal('eeefcdabffee');
      const raw = frame(Buffer.from('00', 'hex'), 1).bytes;
      expect(setSeq(raw, 9)).to.equal(raw);
      expect(raw.toString('hex')).to.equal('0100000900');
    });
  });

  describe('PacketAssembler', () => {
    const sizes = [0, 1, 3, 4, 5, 63, 64, 65, 250, 251, 300, 0, 2];
    const { bytes, packets } = stream(sizes.map((n, i) => pattern(n, i)), 250);

    it('yields the same packets for a stream cut at every byte boundary', () => {
      for (let cut = 0; cut <= bytes.length; cut++) {
        expect(assemble(cutAt(bytes, [cut])), `cut at ${cut}`).to.deep.equal(packets);
      }
    });

    it('yields the same packets for every pair of cuts', function () {
      this.timeout(30000);
      const small = stream([pattern(0), pattern(5, 1), pattern(9, 2), pattern(0), pattern(70, 3)]);
      for (let a = 0; a <= small.bytes.length; a++) {
        for (let b = a; b <= small.bytes.length; b++) {
          expect(assemble(cutAt(small.bytes, [a, b])), `cuts ${a},${b}`).to.deep.equal(small.packets);
        }
      }
    });

    it('yields the same packets fed one byte at a time', () => {
      const chunks = [...bytes].map((b) => Buffer.from([b]));
      expect(assemble(chunks)).to.deep.equal(packets);
    });

    it('yields the same packets for random payload sizes and random chunking (property)', () => {
      fc.assert(fc.property(
        fc.array(fc.oneof(
          fc.nat({ max: 8 }),
          fc.nat({ max: 600 }),
          fc.constantFrom(63, 64, 65, 250, 251, 252, 4095, 65535, 65536),
        ), { maxLength: 25 }),
        fc.nat({ max: 255 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (lens, seq0, rawCuts) => {
          const s = stream(lens.map((n, i) => pattern(n, i)), seq0);
          const cuts = rawCuts.map((c) => (s.bytes.length === 0 ? 0 : c % (s.bytes.length + 1)));
          expect(assemble(cutAt(s.bytes, cuts))).to.deep.equal(s.packets);
        }), { numRuns: 500 });
    });

    it('reassembles a 32 MiB payload from its three physical packets in 64 KiB chunks', function () {
      this.timeout(30000);
      const payload = pattern(2 * MAX_PACKET_PAYLOAD, 7);
      const { bytes: big } = frame(payload, 0);
      const asm = new PacketAssembler();
      const lengths: number[] = [];
      const seqs: number[] = [];
      const pieces: Buffer[] = [];
      let maxBuffered = 0;
      for (let pos = 0; pos < big.length; pos += 65536) {
        asm.push(big.subarray(pos, Math.min(pos + 65536, big.length)));
        maxBuffered = Math.max(maxBuffered, asm.bufferedBytes);
        for (let p = asm.next(); p !== null; p = asm.next()) {
          lengths.push(p.payload.length);
          seqs.push(p.seq);
          pieces.push(Buffer.from(p.payload));
        }
      }
      expect(lengths).to.deep.equal([MAX_PACKET_PAYLOAD, MAX_PACKET_PAYLOAD, 0]);
      expect(seqs).to.deep.equal([0, 1, 2]);
      expect(Buffer.concat(pieces).equals(payload)).to.equal(true);
      // Never more than one physical packet (plus one chunk) is held.
      expect(maxBuffered).to.be.at.most(MAX_PACKET_PAYLOAD + 4 + 65536);
      expect(asm.bufferedBytes).to.equal(0);
    });

    it('peekLength waits for a whole header and then reads the announced length', () => {
      const asm = new PacketAssembler();
      expect(asm.peekLength()).to.equal(-1);
      asm.push(Buffer.from('05', 'hex'));
      asm.push(Buffer.from('0000', 'hex'));
      expect(asm.peekLength()).to.equal(-1);
      asm.push(Buffer.from('03', 'hex'));
      expect(asm.peekLength()).to.equal(5);
      expect(asm.next()).to.equal(null);
      expect(asm.bufferedBytes).to.equal(4);
    });

    it('ignores empty chunks', () => {
      const asm = new PacketAssembler();
      asm.push(Buffer.alloc(0));
      expect(asm.bufferedBytes).to.equal(0);
      expect(asm.peekLength()).to.equal(-1);
      expect(asm.next()).to.equal(null);
    });

    it('drain() hands back every buffered byte in order and empties the assembler', () => {
      const asm = new PacketAssembler();
      const s = stream([pattern(10), pattern(20, 1)]);
      asm.push(s.bytes.subarray(0, 5));
      asm.push(s.bytes.subarray(5, 17));
      asm.push(s.bytes.subarray(17, 20));
      expect(asm.next()!.payload.length).to.equal(10);
      const rest = asm.drain();
      expect(rest.equals(s.bytes.subarray(14, 20))).to.equal(true);
      expect(asm.bufferedBytes).to.equal(0);
      expect(asm.next()).to.equal(null);
    });

    it('clear() forgets a partial packet', () => {
      const asm = new PacketAssembler();
      asm.push(Buffer.from('0a00000001020304', 'hex'));
      asm.clear();
      expect(asm.bufferedBytes).to.equal(0);
      asm.push(frame(Buffer.from('ff', 'hex'), 3).bytes);
      const p = asm.next()!;
      expect([p.seq, p.payload.toString('hex')]).to.deep.equal([3, 'ff']);
    });
  });
});
