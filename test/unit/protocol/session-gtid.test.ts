/**
 * okSessionGtid: the GTID in an OK packet's session-state data, as MariaDB (tracked system
 * variable last_gtid) and MySQL (GTIDS tracker, OWN_GTID) send it.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { okSessionGtid } from '../../../src/protocol/responses.js';

const lenenc = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length]), b]); // < 251 bytes here

/** OK payload: header, affected rows 1, insert id 0, status, warnings, info, state entries. */
function ok(status: number, info: string, entries: Buffer[]): Buffer {
  const state = Buffer.concat(entries);
  return Buffer.concat([
    Buffer.from([0x00, 0x01, 0x00, status & 0xff, status >> 8, 0x00, 0x00]),
    lenenc(Buffer.from(info)),
    ...(entries.length > 0 ? [lenenc(state)] : []),
  ]);
}

const CHANGED = 0x4000 | 0x0002;
const sysVar = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0]), lenenc(Buffer.concat([lenenc(Buffer.from(name)), lenenc(Buffer.from(value))]))]);
const gtids = (set: string): Buffer => Buffer.concat([Buffer.from([3]), lenenc(Buffer.concat([Buffer.from([0]), lenenc(Buffer.from(set))]))]);
const schema = (db: string): Buffer => Buffer.concat([Buffer.from([1]), lenenc(lenenc(Buffer.from(db)))]);

describe('protocol/responses okSessionGtid', () => {
  it("reads MariaDB's last_gtid among other tracked variables", () => {
    const p = ok(CHANGED, 'Rows matched: 1  Changed: 1  Warnings: 0', [schema('app'), sysVar('autocommit', 'ON'), sysVar('last_gtid', '0-1-42')]);
    expect(okSessionGtid(p, 0, p.length)).to.equal('0-1-42');
  });

  it("reads MySQL's GTIDS tracker", () => {
    const set = '3E11FA47-71CA-11E1-9E33-C80AA9429562:23';
    const p = ok(CHANGED, '', [gtids(set)]);
    expect(okSessionGtid(p, 0, p.length)).to.equal(set);
  });

  it('finds nothing without the state-changed flag, or without a GTID entry', () => {
    const p = ok(0x0002, '', [sysVar('last_gtid', '0-1-42')]);
    expect(okSessionGtid(p, 0, p.length)).to.equal(null);
    const q = ok(CHANGED, '', [schema('app'), sysVar('time_zone', '+00:00')]);
    expect(okSessionGtid(q, 0, q.length)).to.equal(null);
  });

  it('never throws and never reads past `avail` on cut or random input (property)', () => {
    const full = ok(CHANGED, 'info', [sysVar('last_gtid', '0-1-42')]);
    for (let n = 0; n <= full.length; n++) {
      const r = okSessionGtid(full, 0, n);
      expect(r === null || (n === full.length && r === '0-1-42'), `cut at ${n}`).to.equal(true);
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const b = Buffer.from(bytes);
      const r = okSessionGtid(b, 0, b.length);
      return r === null || typeof r === 'string';
    }));
  });
});
