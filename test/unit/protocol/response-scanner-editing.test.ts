// The response scanner in edit mode (a backend connection with CLIENT_SESSION_TRACK): it
// relays the bytes itself and hands OK packets that carry session state (or info, for a
// client without session tracking) to an editor. Against the captured MariaDB responses, for
// every way of cutting them into chunks: with an editor that changes nothing the client gets
// exactly the server's bytes; with one that rewrites, exactly the rewritten packets; the end
// of each response is reported where it is; and garbage never makes it throw or hold more
// than one bounded packet.
import { expect } from 'chai';
import fc from 'fast-check';
import { ResponseKind, ResponseScanner, type OkEditor, type RelaySink } from '../../../src/protocol/response-scanner.js';
import { SERVER_SESSION_STATE_CHANGED } from '../../../src/protocol/constants.js';
import { frame } from '../../../src/protocol/framing.js';
import { okForClient, trackedOkLayout } from '../../../src/protocol/session-track.js';
import { cutAt } from '../../helpers/chunks.js';
import { FIXTURES, type Fixture, type KindName } from '../../fixtures/scanner-responses.js';

const KIND: Record<KindName, ResponseKind> = {
  Result: ResponseKind.Result, Prepare: ResponseKind.Prepare, Fetch: ResponseKind.Fetch,
  FieldList: ResponseKind.FieldList, Single: ResponseKind.Single, CursorResult: ResponseKind.CursorResult,
};

/** Collects what the scanner relays and emits, in order, and what the editor was shown. */
class Recorder implements RelaySink, OkEditor {
  readonly out: Buffer[] = [];
  readonly shown: Buffer[] = [];
  constructor(private readonly edit: (payload: Buffer) => Buffer | null) {}
  relay(chunk: Buffer, from: number, to: number): void {
    expect(to, 'relay range').to.be.greaterThan(from);
    this.out.push(Buffer.from(chunk.subarray(from, to)));
  }
  emit(packet: Buffer): void {
    this.out.push(Buffer.from(packet));
  }
  onTrackedOk(payload: Buffer): Buffer | null {
    this.shown.push(Buffer.from(payload));
    return this.edit(payload);
  }
  unread = 0;
  onUnreadState(): void {
    this.unread++; // garbage can announce a huge OK; no fixture does
  }
  bytes(): Buffer {
    return Buffer.concat(this.out);
  }
}

const partsOf = (f: Fixture): Buffer[] => [Buffer.from(f.hex, 'hex'), ...(f.afterHex ? [Buffer.from(f.afterHex, 'hex')] : [])];

/** Feed one fixture in chunks; the caller relays the bytes after a reported end, as the session does. */
function run(f: Fixture, rec: Recorder, stripInfo: boolean, cut: (b: Buffer) => Buffer[]): void {
  const s = new ResponseScanner(f.deprecateEof);
  s.setEditing(rec, rec, stripInfo);
  s.begin(KIND[f.kind]);
  for (const [i, part] of partsOf(f).entries()) {
    const chunks = cut(part);
    let ended = false;
    for (const c of chunks) {
      const chunk = Buffer.from(c);
      expect(ended, `${f.name}: bytes after the end`).to.equal(chunk.length === 0 ? ended : false);
      const end = s.scan(chunk);
      if (end >= 0) {
        ended = true;
        if (end < chunk.length) rec.relay(chunk, end, chunk.length);
      }
    }
    expect(ended || part.length === 0, `${f.name} part ${i}: end reported`).to.equal(true);
    if (s.awaitingInfile) s.infileSent();
  }
}

/** Every packet of the fixture, with the OKs the editor must see rewritten by `edit`. */
function expectedOutput(f: Fixture, edit: (p: Buffer) => Buffer | null, stripInfo: boolean): Buffer {
  const out: Buffer[] = [];
  for (const part of partsOf(f)) {
    const packets: Buffer[] = [];
    for (let pos = 0; pos < part.length;) {
      const len = part.readUIntLE(pos, 3);
      packets.push(part.subarray(pos, pos + 4 + len));
      pos += 4 + len;
    }
    const oks = okIndexes(f, packets.map((raw) => raw.subarray(4)));
    packets.forEach((raw, i) => {
      const payload = raw.subarray(4);
      const layout = oks.has(i) ? trackedOkLayout(payload) : null;
      const take = layout !== null && ((layout.statusFlags & SERVER_SESSION_STATE_CHANGED) !== 0 || (stripInfo && layout.statusAt + 4 < payload.length));
      const edited = take ? edit(payload) : null;
      out.push(edited === null ? raw : frame(edited, raw[3]!).bytes);
    });
  }
  return Buffer.concat(out);
}

/**
 * Which packets of one response are OK packets: a reference walk of the response structure
 * (MySQL protocol docs), written apart from the scanner's state machine.
 */
function okIndexes(f: Fixture, payloads: Buffer[]): Set<number> {
  const oks = new Set<number>();
  const terminator = (p: Buffer): boolean => p[0] === 0xfe && (f.deprecateEof ? p.length < 0xffffff : p.length < 9);
  const rows = (i: number): number => { // from a row (or terminator) position; returns the index after the terminator
    for (; i < payloads.length; i++) {
      const p = payloads[i]!;
      if (p[0] === 0xff) return payloads.length;
      if (terminator(p)) {
        if (f.deprecateEof) oks.add(i);
        const flags = f.deprecateEof ? trackedOkLayout(p)!.statusFlags : p.readUInt16LE(3);
        return (flags & 0x0008) !== 0 && f.kind !== 'Fetch' ? result(i + 1) : payloads.length;
      }
    }
    return i;
  };
  const result = (i: number): number => {
    const p = payloads[i];
    if (p === undefined) return i;
    if (p[0] === 0x00) {
      oks.add(i);
      return (trackedOkLayout(p)!.statusFlags & 0x0008) !== 0 ? result(i + 1) : payloads.length;
    }
    if (p[0] === 0xff || p[0] === 0xfb) return payloads.length;
    const columns = p[0]!; // < 251 in these fixtures
    let j = i + 1 + columns;
    if (!f.deprecateEof) {
      const eof = payloads[j]!;
      j++;
      if (f.kind === 'CursorResult' && (eof.readUInt16LE(3) & 0x0040) !== 0) return payloads.length;
    }
    return rows(j);
  };
  if (f.kind === 'Result' || f.kind === 'CursorResult') result(0);
  else if (f.kind === 'Fetch') rows(0);
  else if (f.kind === 'Single' && payloads[0]![0] === 0x00) oks.add(0);
  return oks;
}

/** Fixtures with at least one OK that carries session state. */
const withState = FIXTURES.filter((f) => f.deprecateEof && !expectedOutput(f, () => Buffer.alloc(0), false).equals(Buffer.concat(partsOf(f))));

describe('protocol/response-scanner (edit mode)', () => {
  it('has fixtures whose OKs carry session state', () => {
    expect(withState.length).to.be.at.least(3);
  });

  for (const stripInfo of [false, true]) {
    describe(stripInfo ? 'client without session tracking' : 'client with session tracking', () => {
      it('relays every fixture byte for byte when the editor changes nothing, however it is cut', () => {
        for (const f of FIXTURES) {
          const whole = Buffer.concat(partsOf(f));
          for (const step of [0, 1, 2, 3, 5, 7, 64]) {
            const rec = new Recorder(() => null);
            run(f, rec, stripInfo, (b) => (step === 0 ? [b] : Array.from({ length: Math.ceil(b.length / step) }, (_, i) => b.subarray(i * step, (i + 1) * step))));
            expect(rec.bytes().equals(whole), `${f.name} in ${step || 'one'}-byte chunks`).to.equal(true);
            expect(rec.unread, f.name).to.equal(0);
          }
        }
      });

      it('sends exactly the rewritten OKs, with everything else unchanged (random cuts, property)', () => {
        const strip = (p: Buffer): Buffer | null => {
          const l = trackedOkLayout(p);
          return l === null ? null : okForClient(p, l, () => false, stripInfo);
        };
        fc.assert(fc.property(fc.constantFrom(...FIXTURES), fc.array(fc.nat(), { maxLength: 12 }), (f, cuts) => {
          const rec = new Recorder(strip);
          run(f, rec, stripInfo, (b) => cutAt(b, cuts.map((x) => x % (b.length + 1))));
          expect(rec.bytes().toString('hex'), f.name).to.equal(expectedOutput(f, strip, stripInfo).toString('hex'));
        }), { numRuns: 1500 });
      });
    });
  }

  it('shows the editor each OK with state whole, once', () => {
    for (const f of withState) {
      const rec = new Recorder(() => null);
      run(f, rec, false, (b) => Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1)));
      const once = new Recorder(() => null);
      run(f, once, false, (b) => [b]);
      expect(rec.shown.map((b) => b.toString('hex')), f.name).to.deep.equal(once.shown.map((b) => b.toString('hex')));
      expect(once.shown.length, f.name).to.be.greaterThan(0);
    }
  });

  it('never throws, never relays a byte twice or out of order, and holds at most one bounded packet on garbage (property)', () => {
    const packet = fc.tuple(fc.nat({ max: 300 }), fc.constantFrom(0x00, 0x01, 0xfb, 0xfe, 0xff), fc.uint8Array({ maxLength: 300 }))
      .map(([len, first, rest]) => {
        const payload = Buffer.alloc(len);
        if (len > 0) payload[0] = first;
        Buffer.from(rest).copy(payload, 1, 0, Math.max(0, len - 1));
        if (len > 5 && first === 0x00) payload.writeUInt16LE(SERVER_SESSION_STATE_CHANGED, 3); // often "has state"
        return frame(payload, 1).bytes;
      });
    fc.assert(fc.property(fc.boolean(), fc.boolean(), fc.constantFrom(...Object.values(KIND)), fc.array(packet, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 10 }),
      (deprecateEof, stripInfo, kind, packets, cuts) => {
        const bytes = Buffer.concat(packets);
        const rec = new Recorder(() => null);
        const s = new ResponseScanner(deprecateEof);
        s.setEditing(rec, rec, stripInfo);
        s.begin(kind);
        const consumed: Buffer[] = [];
        for (const c of cutAt(bytes, cuts.map((x) => x % (bytes.length + 1)))) {
          const chunk = Buffer.from(c);
          const end = s.scan(chunk);
          consumed.push(chunk);
          if (end >= 0) {
            if (end < chunk.length) rec.relay(chunk, end, chunk.length);
            s.begin(kind);
          }
          const held = (s as unknown as { hold: Buffer }).hold.length;
          expect(held, 'hold').to.be.at.most(64 * 1024 + 4);
        }
        // With an editor that changes nothing, out is a prefix of in (the rest may be held).
        const out = rec.bytes();
        const all = Buffer.concat(consumed);
        expect(out.length).to.be.at.most(all.length);
        expect(out.equals(all.subarray(0, out.length)), 'in order, once').to.equal(true);
      }), { numRuns: 1500 });
  });
});
