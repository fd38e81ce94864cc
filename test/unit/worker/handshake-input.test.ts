// Client bytes before authentication: the same packets as the command assembler for any
// chunking, at most one incomplete packet held between reads, and the rest handed on whole.
import { expect } from 'chai';
import fc from 'fast-check';
import { HandshakeInput } from '../../../src/worker/handshake-input.js';
import { PacketAssembler, frame } from '../../../src/protocol/framing.js';

/** Feed `stream` cut at `cuts`, taking packets as a session does; returns them (copied) and what is left. */
function feed(stream: Buffer, cuts: number[]): { packets: string[]; rest: Buffer } {
  const input = new HandshakeInput();
  const packets: string[] = [];
  const bounds = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...bounds, stream.length]) {
    if (to <= from && to !== stream.length) continue;
    // A reused read buffer: the chunk's bytes are overwritten after each read.
    const chunk = Buffer.from(stream.subarray(from, to));
    input.begin(chunk);
    for (let p = input.next(); p !== null; p = input.next()) packets.push(p.raw.toString('hex'));
    input.keepRest();
    chunk.fill(0xee);
    from = to;
  }
  input.begin(Buffer.alloc(0));
  return { packets, rest: input.drain() };
}

function expected(stream: Buffer): { packets: string[]; rest: Buffer } {
  const asm = new PacketAssembler();
  asm.push(stream);
  const packets: string[] = [];
  for (let p = asm.next(); p !== null; p = asm.next()) packets.push(p.raw.toString('hex'));
  return { packets, rest: asm.bufferedBytes > 0 ? Buffer.from(asm.drain()) : Buffer.alloc(0) };
}

describe('worker/handshake-input', () => {
  it('yields the packets the command assembler yields, however the bytes are cut, and keeps only the tail (property)', () => {
    const packet = fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.nat(255)).map(([p, seq]) => frame(Buffer.from(p), seq).bytes);
    const stream = fc.tuple(fc.array(packet, { maxLength: 4 }), fc.uint8Array({ maxLength: 20 }))
      .map(([ps, tail]) => Buffer.concat([...ps, Buffer.from(tail)]));
    fc.assert(fc.property(stream, fc.array(fc.nat(2000), { maxLength: 12 }), (s, cuts) => {
      const got = feed(s, cuts);
      const want = expected(s);
      expect(got.packets).to.deep.equal(want.packets);
      expect(got.rest.toString('hex')).to.equal(want.rest.toString('hex'));
    }), { numRuns: 500 });
  });

  it('peeks the length and sequence id of a packet whose header is split across reads', () => {
    const input = new HandshakeInput();
    input.begin(Buffer.from([0x10, 0x27]));
    expect(input.peekLength()).to.equal(-1);
    input.keepRest();
    input.begin(Buffer.from([0x00, 0x01, 0x41]));
    expect(input.peekLength()).to.equal(10000);
    expect(input.peekSeq()).to.equal(1);
    expect(input.next()).to.equal(null);
  });

  it('hands on what follows a packet in the same read, in a buffer of its own', () => {
    const input = new HandshakeInput();
    const chunk = Buffer.concat([frame(Buffer.from('hello'), 1).bytes, frame(Buffer.from([0x03, 0x41]), 0).bytes]);
    input.begin(chunk);
    expect(input.next()!.payload.toString()).to.equal('hello');
    const rest = input.drain();
    chunk.fill(0);
    expect(rest.toString('hex')).to.equal('02000000' + '0341');
  });
});
