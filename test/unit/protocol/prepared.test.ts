// Prepared statements across pooled connections: decoding PREPARE_OK, collecting a whole
// prepare response however the bytes are cut, re-encoding it under the client's statement id,
// and locating / re-binding the parameter types of COM_STMT_EXECUTE.
import { expect } from 'chai';
import fc from 'fast-check';
import {
  PrepareResponseCollector, decodePrepareOk, paramTypes, parseExecute, setStatementId, withParamTypes,
} from '../../../src/protocol/prepared.js';
import { MalformedPacket } from '../../../src/protocol/codec.js';
import { MAX_PACKET_PAYLOAD } from '../../../src/protocol/constants.js';
import { frame } from '../../../src/protocol/framing.js';
import { encodeEof, encodeErr } from '../../../src/protocol/responses.js';
import { cutAt } from '../../helpers/chunks.js';

/*
 * MariaDB 10.11 answers to COM_STMT_PREPARE of
 * `SELECT id, name, ? AS p FROM scan_t WHERE id <= ? ORDER BY id` (statement id 1 and 7),
 * copied from the captures in response-scanner.test.ts (test/fixtures/capture.ts).
 */
const PREPARE_CLASSIC = Buffer.from(
  '0c00000100010000000300020000000017000002036465660000000170000c3f00000000000680000000001700000303' +
  '646566000000013f000c3f000000000006800000000005000004fe0000020031000005036465660b64626d6573685f74' +
  '657374067363616e5f74067363616e5f740269640269640c3f000b00000003035000000035000006036465660b64626d' +
  '6573685f74657374067363616e5f74067363616e5f74046e616d65046e616d650c2d0090010000fd0000000000170000' +
  '07036465660000000170000c3f000000000006800000000005000008fe00000200', 'hex');
const PREPARE_DEPRECATE_EOF = Buffer.from(
  '0c00000100070000000300020000000017000002036465660000000170000c3f00000000000680000000001700000303' +
  '646566000000013f000c3f000000000006800000000031000004036465660b64626d6573685f74657374067363616e5f' +
  '74067363616e5f740269640269640c3f000b00000003035000000035000005036465660b64626d6573685f7465737406' +
  '7363616e5f74067363616e5f74046e616d65046e616d650c2d0090010000fd0000000000170000060364656600000001' +
  '70000c3f0000000000068000000000', 'hex');
const PREPARE_ERR = Buffer.from(
  '38000001ff7a042334325330325461626c65202764626d6573685f746573742e6e6f5f737563685f7461626c65272064' +
  '6f65736e2774206578697374', 'hex');

function prepareOk(id: number, columns: number, params: number, warnings = 0): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(id, 1);
  b.writeUInt16LE(columns, 5);
  b.writeUInt16LE(params, 7);
  b.writeUInt16LE(warnings, 10);
  return b;
}

/** A column definition (protocol 41) shaped like a server's, for `def.db.t.name`. */
function columnDef(name: string): Buffer {
  const parts = ['def', 'dbmesh_test', 'scan_t', 'scan_t', name, name].map((s) => {
    const b = Buffer.from(s);
    return Buffer.concat([Buffer.from([b.length]), b]);
  });
  const fixed = Buffer.from('0c2d0090010000fd00000000', 'hex');
  return Buffer.concat([...parts, fixed]);
}

const paramDef = (): Buffer => Buffer.from('036465660000000170000c3f0000000000068000000000', 'hex');

/** The payloads of a successful prepare response, in order. */
function okPayloads(id: number, params: number, columns: number, deprecateEof: boolean): Buffer[] {
  const out = [prepareOk(id, columns, params)];
  for (let i = 0; i < params; i++) out.push(paramDef());
  if (params > 0 && !deprecateEof) out.push(encodeEof(2));
  for (let i = 0; i < columns; i++) out.push(columnDef(`c${i}`));
  if (columns > 0 && !deprecateEof) out.push(encodeEof(2));
  return out;
}

/** Frames payloads as one response with sequence ids from seq0. */
function wire(payloads: Buffer[], seq0 = 1): Buffer {
  let seq = seq0;
  return Buffer.concat(payloads.map((p) => {
    const f = frame(p, seq);
    seq = f.nextSeq;
    return f.bytes;
  }));
}

function collect(chunks: Buffer[], deprecateEof: boolean, maxBytes = 1 << 20): PrepareResponseCollector {
  const c = new PrepareResponseCollector(deprecateEof, maxBytes);
  chunks.forEach((chunk, i) => {
    expect(c.push(chunk), `chunk ${i} of ${chunks.length}`).to.equal(i === chunks.length - 1);
  });
  return c;
}

describe('protocol/prepared', () => {
  describe('decodePrepareOk', () => {
    it('reads statement id, counts and warnings', () => {
      expect(decodePrepareOk(prepareOk(0x01020304, 3, 2, 5))).to.deep.equal(
        { statementId: 0x01020304, columns: 3, params: 2, warnings: 5 });
      expect(decodePrepareOk(PREPARE_CLASSIC.subarray(4, 16))).to.deep.equal(
        { statementId: 1, columns: 3, params: 2, warnings: 0 });
    });

    it('tolerates a payload that ends before warning_count', () => {
      expect(decodePrepareOk(prepareOk(9, 1, 0, 7).subarray(0, 9))).to.deep.equal(
        { statementId: 9, columns: 1, params: 0, warnings: 0 });
      expect(decodePrepareOk(prepareOk(9, 1, 0, 7).subarray(0, 11)).warnings).to.equal(0);
    });

    it('throws MalformedPacket on short input or a header other than OK', () => {
      expect(() => decodePrepareOk(prepareOk(1, 1, 1).subarray(0, 8))).to.throw(MalformedPacket);
      expect(() => decodePrepareOk(Buffer.alloc(0))).to.throw(MalformedPacket);
      expect(() => decodePrepareOk(PREPARE_ERR.subarray(4))).to.throw(MalformedPacket);
    });
  });

  it('setStatementId writes u32 LE at payload offset 1, or 5 in a raw packet', () => {
    const payload = prepareOk(1, 0, 0);
    setStatementId(payload, 1, 0xfffffffe);
    expect(decodePrepareOk(payload).statementId).to.equal(0xfffffffe);
    const raw = Buffer.from(PREPARE_CLASSIC.subarray(0, 16));
    setStatementId(raw, 5, 77);
    expect(decodePrepareOk(raw.subarray(4)).statementId).to.equal(77);
    const close = Buffer.from([0x19, 1, 0, 0, 0]);
    setStatementId(close, 1, 0x0a0b0c0d);
    expect(close.toString('hex')).to.equal('190d0c0b0a');
  });

  describe('PrepareResponseCollector', () => {
    it('collects a captured response with EOF packets', () => {
      const c = collect([PREPARE_CLASSIC], false);
      expect(c.ok).to.equal(true);
      expect(c.complete).to.equal(true);
      expect(c.header).to.deep.equal({ statementId: 1, columns: 3, params: 2, warnings: 0 });
      expect(c.packets).to.have.length(1 + 2 + 1 + 3 + 1);
      expect(c.packets.map((p) => p.seq)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(Buffer.concat(c.packets.map((p) => p.raw)).equals(PREPARE_CLASSIC)).to.equal(true);
      expect(c.byteLength).to.equal(PREPARE_CLASSIC.length);
      expect(c.errPayload).to.equal(null);
      expect(c.leftover.length).to.equal(0);
    });

    it('collects a captured response without EOF packets (CLIENT_DEPRECATE_EOF)', () => {
      const c = collect([PREPARE_DEPRECATE_EOF], true);
      expect(c.header).to.deep.equal({ statementId: 7, columns: 3, params: 2, warnings: 0 });
      expect(c.packets).to.have.length(1 + 2 + 3);
      expect(c.leftover.length).to.equal(0);
    });

    it('collects an ERR response', () => {
      const c = collect([PREPARE_ERR], false);
      expect(c.ok).to.equal(false);
      expect(c.header).to.equal(null);
      expect(c.packets).to.have.length(1);
      expect(c.errPayload!.equals(PREPARE_ERR.subarray(4))).to.equal(true);
      expect(c.encodeFor(5, 1).equals(PREPARE_ERR)).to.equal(true);
    });

    it('ends right after PREPARE_OK when there are no params and no columns', () => {
      for (const deprecateEof of [false, true]) {
        const c = collect([wire([prepareOk(4, 0, 0)])], deprecateEof);
        expect(c.packets).to.have.length(1);
        expect(c.header!.statementId).to.equal(4);
      }
    });

    it('expects an EOF only after a non-empty block', () => {
      expect(collect([wire(okPayloads(1, 0, 2, false))], false).packets).to.have.length(1 + 2 + 1);
      expect(collect([wire(okPayloads(1, 3, 0, false))], false).packets).to.have.length(1 + 3 + 1);
    });

    it('returns false until the last byte arrives, byte by byte', () => {
      const bytes = PREPARE_CLASSIC;
      const c = new PrepareResponseCollector(false, 4096);
      for (let i = 0; i < bytes.length; i++) {
        expect(c.push(bytes.subarray(i, i + 1))).to.equal(i === bytes.length - 1);
      }
      expect(c.packets).to.have.length(8);
    });

    it('copies the bytes: the caller may reuse its buffer', () => {
      const scratch = Buffer.from(PREPARE_CLASSIC);
      const c = new PrepareResponseCollector(false, 4096);
      c.push(scratch.subarray(0, 40));
      scratch.fill(0xee, 0, 40);
      scratch.set(PREPARE_CLASSIC.subarray(40), 0);
      expect(c.push(scratch.subarray(0, PREPARE_CLASSIC.length - 40))).to.equal(true);
      scratch.fill(0xee);
      expect(Buffer.concat(c.packets.map((p) => p.raw)).equals(PREPARE_CLASSIC)).to.equal(true);
      expect(c.header!.statementId).to.equal(1);
    });

    it('keeps bytes past the end as leftover', () => {
      const extra = Buffer.from('0100000901', 'hex');
      const c = collect([Buffer.concat([PREPARE_CLASSIC, extra])], false);
      expect(c.leftover.equals(extra)).to.equal(true);
      expect(c.packets).to.have.length(8);
      expect(c.push(Buffer.from([0x02]))).to.equal(true);
      expect(c.leftover.toString('hex')).to.equal('010000090102');
    });

    it('throws when the response grows past maxBytes, and not at exactly maxBytes', () => {
      expect(collect([PREPARE_CLASSIC], false, PREPARE_CLASSIC.length).complete).to.equal(true);
      const whole = new PrepareResponseCollector(false, PREPARE_CLASSIC.length - 1);
      expect(() => whole.push(PREPARE_CLASSIC)).to.throw(/exceeds/);
      const partial = new PrepareResponseCollector(false, 20);
      expect(partial.push(PREPARE_CLASSIC.subarray(0, 20))).to.equal(false);
      expect(() => partial.push(PREPARE_CLASSIC.subarray(20, 21))).to.throw(/exceeds/);
    });

    it('throws before holding a huge announced packet in full', () => {
      const c = new PrepareResponseCollector(false, 1000);
      c.push(wire([prepareOk(1, 1, 0)]));
      const header = Buffer.from([0xff, 0xff, 0xff, 2]);
      expect(() => c.push(Buffer.concat([header, Buffer.alloc(2000)]))).to.throw(/exceeds/);
    });

    it('throws MalformedPacket when the first packet is neither OK nor ERR', () => {
      const c = new PrepareResponseCollector(false, 1000);
      expect(() => c.push(wire([Buffer.from([0x01, 0x02])]))).to.throw(MalformedPacket);
    });

    it('counts a column definition split at 16 MiB as one packet', function () {
      this.timeout(20000);
      const long = Buffer.alloc(MAX_PACKET_PAYLOAD + 10, 0x61);
      const bytes = wire([prepareOk(3, 2, 0), long, columnDef('b')]);
      const c = collect([bytes], true, bytes.length);
      expect(c.packets).to.have.length(4); // OK, two pieces of the long definition, the short one
      expect(c.packets.map((p) => p.seq)).to.deep.equal([1, 2, 3, 4]);
      // frame() ends an exactly-16 MiB payload with an empty packet; hold that one back.
      const exactly = wire([prepareOk(3, 1, 0), Buffer.alloc(MAX_PACKET_PAYLOAD, 0x62)]);
      expect(exactly.subarray(-4).toString('hex')).to.equal('00000003');
      const d = new PrepareResponseCollector(true, exactly.length);
      expect(d.push(exactly.subarray(0, -4))).to.equal(false); // the empty continuation is still to come
      expect(d.push(exactly.subarray(-4))).to.equal(true);
      expect(d.packets).to.have.length(3);
    });

    describe('encodeFor', () => {
      it('replaces the statement id and renumbers sequence ids, leaving the packets as they were', () => {
        const c = collect([PREPARE_CLASSIC], false);
        const out = c.encodeFor(0xabcdef01, 1);
        const again = collect([out], false);
        expect(again.header).to.deep.equal({ statementId: 0xabcdef01, columns: 3, params: 2, warnings: 0 });
        expect(again.packets.slice(1).map((p) => p.raw.toString('hex'))).to.deep.equal(
          c.packets.slice(1).map((p) => p.raw.toString('hex')));
        expect(out.subarray(9).equals(PREPARE_CLASSIC.subarray(9))).to.equal(true);
        expect(Buffer.concat(c.packets.map((p) => p.raw)).equals(PREPARE_CLASSIC)).to.equal(true);
      });

      it('renumbers from any seq0, wrapping at 256', () => {
        const c = collect([PREPARE_DEPRECATE_EOF], true);
        const out = collect([c.encodeFor(9, 254)], true);
        expect(out.packets.map((p) => p.seq)).to.deep.equal([254, 255, 0, 1, 2, 3]);
        expect(out.header!.statementId).to.equal(9);
      });
    });

    it('gives the same result however the bytes are cut (property)', () => {
      const response = fc.oneof(
        fc.record({ err: fc.constant(true), params: fc.constant(0), columns: fc.constant(0), deprecateEof: fc.boolean() }),
        fc.record({ err: fc.constant(false), params: fc.nat(5), columns: fc.nat(5), deprecateEof: fc.boolean() }),
      );
      fc.assert(fc.property(response, fc.array(fc.nat(2000), { maxLength: 12 }), fc.nat(0xffffffff),
        ({ err, params, columns, deprecateEof }, cuts, id) => {
          const payloads = err ? [encodeErr(1146, '42S02', 'no such table')] : okPayloads(id, params, columns, deprecateEof);
          const bytes = wire(payloads);
          const chunks = cutAt(bytes, cuts);
          // Trailing empty chunks arrive after completion; a real socket never sends them.
          while (chunks.length > 1 && chunks[chunks.length - 1]!.length === 0) chunks.pop();
          const whole = collect([bytes], deprecateEof);
          const cut = collect(chunks, deprecateEof);
          expect(cut.ok).to.equal(!err);
          expect(cut.header).to.deep.equal(whole.header);
          expect(cut.packets.map((p) => p.raw.toString('hex'))).to.deep.equal(payloads.map((_, i) => whole.packets[i]!.raw.toString('hex')));
          expect(cut.packets.map((p) => p.payload.toString('hex'))).to.deep.equal(payloads.map((p) => p.toString('hex')));
          expect(cut.leftover.length).to.equal(0);
          expect(cut.encodeFor(42, 1).equals(whole.encodeFor(42, 1))).to.equal(true);
          if (!err) expect(cut.header!.statementId).to.equal(id);
        }), { numRuns: 300 });
    });
  });

  describe('COM_STMT_EXECUTE', () => {
    /** Params for `? AS p` (VAR_STRING 'pv') and `id <= ?` (LONGLONG 3), as the capture sends. */
    const TYPES = Buffer.from('fd000800', 'hex');
    const VALUES = Buffer.from('027076' + '0300000000000000', 'hex');

    function execute(id: number, params: number, bound: boolean, values = VALUES, types = TYPES): Buffer {
      const head = Buffer.alloc(10);
      head[0] = 0x17;
      head.writeUInt32LE(id, 1);
      head[5] = 0x00;
      head.writeUInt32LE(1, 6);
      if (params === 0) return head;
      const nulls = Buffer.alloc((params + 7) >> 3);
      return Buffer.concat([head, nulls, Buffer.from([bound ? 1 : 0]), bound ? types : Buffer.alloc(0), values]);
    }

    it('locates the parts of an execute that binds types', () => {
      const payload = execute(5, 2, true);
      expect(parseExecute(payload, 2)).to.deep.equal({
        statementId: 5, flags: 0, paramsBoundOffset: 11, newParamsBound: true, typesOffset: 12, typesLength: 4,
      });
      expect(paramTypes(payload, parseExecute(payload, 2)).equals(TYPES)).to.equal(true);
    });

    it('locates the parts of an execute that reuses earlier types', () => {
      expect(parseExecute(execute(5, 2, false), 2)).to.deep.equal({
        statementId: 5, flags: 0, paramsBoundOffset: 11, newParamsBound: false, typesOffset: 12, typesLength: 0,
      });
      const layout = parseExecute(execute(5, 2, false), 2);
      expect(() => paramTypes(execute(5, 2, false), layout)).to.throw();
    });

    it('handles no parameters, a wide null bitmap, a cursor flag and trailing bytes', () => {
      const none = execute(0xffffffff, 0, false);
      none[5] = 0x01;
      expect(parseExecute(none, 0)).to.deep.equal({
        statementId: 0xffffffff, flags: 1, paramsBoundOffset: -1, newParamsBound: false, typesOffset: -1, typesLength: 0,
      });
      const nine = execute(1, 9, true, Buffer.from('0102'), Buffer.alloc(18, 0x08));
      expect(parseExecute(nine, 9)).to.include({ paramsBoundOffset: 12, typesOffset: 13, typesLength: 18 });
      // MariaDB may send more than the values; nothing past the types is checked.
      expect(parseExecute(Buffer.concat([execute(1, 2, false), Buffer.alloc(7)]), 2).newParamsBound).to.equal(false);
    });

    it('throws MalformedPacket on truncated input or another command', () => {
      expect(() => parseExecute(execute(1, 0, false).subarray(0, 9), 0)).to.throw(MalformedPacket);
      expect(() => parseExecute(execute(1, 2, true).subarray(0, 11), 2)).to.throw(MalformedPacket);
      expect(() => parseExecute(execute(1, 2, true).subarray(0, 15), 2)).to.throw(MalformedPacket);
      expect(() => parseExecute(Buffer.from([0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0]), 0)).to.throw(MalformedPacket);
    });

    it('withParamTypes turns a flag-0 execute into the flag-1 execute for another statement id', () => {
      const reuse = execute(5, 2, false);
      const copy = Buffer.from(reuse);
      const out = withParamTypes(reuse, parseExecute(reuse, 2), TYPES, 0x11223344);
      expect(out.toString('hex')).to.equal(execute(0x11223344, 2, true).toString('hex'));
      expect(reuse.equals(copy)).to.equal(true);
      const layout = parseExecute(out, 2);
      expect(layout.newParamsBound).to.equal(true);
      expect(paramTypes(out, layout).equals(TYPES)).to.equal(true);
    });

    it('reads any client bytes as a layout inside the payload or MalformedPacket, never another error (property)', () => {
      // The session runs parseExecute on whatever a client sent as COM_STMT_EXECUTE.
      const payload = fc.oneof(
        fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from([0x17, ...b])),
        fc.tuple(fc.nat(40), fc.boolean(), fc.nat(90)).map(([n, bound, cut]) => execute(7, n, bound, Buffer.alloc((n + 7) >> 3), Buffer.alloc(2 * n, 8)).subarray(0, cut)),
      );
      fc.assert(fc.property(payload, fc.nat(300), (b, params) => {
        let layout;
        try {
          layout = parseExecute(b, params);
        } catch (err) {
          expect(err).to.be.instanceOf(MalformedPacket);
          return;
        }
        if (params === 0) return;
        expect(layout.typesOffset + layout.typesLength).to.be.at.most(b.length);
        if (layout.newParamsBound) expect(paramTypes(b, layout).length).to.equal(2 * params);
        else expect(withParamTypes(b, layout, Buffer.alloc(2 * params, 8), 9).length).to.equal(b.length + 2 * params);
      }), { numRuns: 2000 });
    });

    it('withParamTypes refuses types that do not fit the statement', () => {
      const reuse = execute(5, 2, false);
      expect(() => withParamTypes(reuse, parseExecute(reuse, 2), Buffer.alloc(3), 1)).to.throw();
      expect(() => withParamTypes(reuse, parseExecute(reuse, 2), Buffer.alloc(18), 1)).to.throw();
      const bound = execute(5, 2, true);
      expect(() => withParamTypes(bound, parseExecute(bound, 2), TYPES, 1)).to.throw();
      const none = execute(5, 0, false);
      expect(() => withParamTypes(none, parseExecute(none, 0), TYPES, 1)).to.throw();
    });
  });
});
