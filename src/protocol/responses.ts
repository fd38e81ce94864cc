/**
 * Generic response packets: OK, ERR, EOF. Encoders build the payloads dbmesh sends itself;
 * decoders read what backends send (only the fields dbmesh acts on).
 */
import { CLIENT_SESSION_TRACK, EOF_HEADER, ERR_HEADER, OK_HEADER, SERVER_SESSION_STATE_CHANGED } from './constants.js';
import { PayloadReader, PayloadWriter, lenencSize, peekLenenc } from './codec.js';

export interface OkFields {
  readonly affectedRows: number;
  readonly lastInsertId: number;
  readonly statusFlags: number;
  readonly warnings: number;
}

export function encodeOk(ok: OkFields, header = OK_HEADER): Buffer {
  const size = 1 + lenencSize(ok.affectedRows) + lenencSize(ok.lastInsertId) + 4;
  return new PayloadWriter(size)
    .u8(header).lenenc(ok.affectedRows).lenenc(ok.lastInsertId).u16(ok.statusFlags).u16(ok.warnings).done();
}

export function encodeErr(errno: number, sqlState: string, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8');
  return new PayloadWriter(1 + 2 + 1 + 5 + msg.length)
    .u8(ERR_HEADER).u16(errno).u8(0x23 /* '#' */).bytes(Buffer.from(sqlState.padEnd(5, '0').slice(0, 5), 'ascii')).bytes(msg).done();
}

export function encodeEof(statusFlags: number, warnings = 0): Buffer {
  return new PayloadWriter(5).u8(EOF_HEADER).u16(warnings).u16(statusFlags).done();
}

export interface ErrFields {
  readonly errno: number;
  readonly sqlState: string;
  readonly message: string;
}

export function decodeErr(payload: Buffer): ErrFields {
  const r = new PayloadReader(payload, 1);
  const errno = r.u16();
  let sqlState = 'HY000';
  if (r.remaining() >= 6 && payload[r.pos] === 0x23) {
    r.skip(1);
    sqlState = r.bytes(5).toString('ascii');
  }
  return { errno, sqlState, message: r.restBytes().toString('utf8') };
}

export function decodeOk(payload: Buffer): OkFields {
  const r = new PayloadReader(payload, 1);
  const affectedRows = r.lenenc();
  const lastInsertId = r.lenenc();
  const statusFlags = r.remaining() >= 2 ? r.u16() : 0;
  const warnings = r.remaining() >= 2 ? r.u16() : 0;
  return { affectedRows, lastInsertId, statusFlags, warnings };
}

const scratch = { pos: 0 };

/**
 * Status flags of an OK (0x00 / 0xfe-as-OK) payload prefix without allocating; -1 when the
 * prefix is too short or malformed. `avail` is how many payload bytes are readable at `off`.
 */
export function okStatusFlags(buf: Buffer, off: number, avail: number): number {
  const end = off + avail;
  if (peekLenenc(buf, off + 1, end, scratch) < 0) return -1;
  if (peekLenenc(buf, scratch.pos, end, scratch) < 0) return -1;
  if (scratch.pos + 2 > end) return -1;
  return buf[scratch.pos]! | (buf[scratch.pos + 1]! << 8);
}

/** Status flags of a classic EOF payload (0xfe, warnings u16, status u16), or -1. */
export function eofStatusFlags(buf: Buffer, off: number, avail: number): number {
  if (avail < 5) return -1;
  return buf[off + 3]! | (buf[off + 4]! << 8);
}

export function hasSessionTrack(capabilities: number, statusFlags: number): boolean {
  return (capabilities & CLIENT_SESSION_TRACK) !== 0 && (statusFlags & SERVER_SESSION_STATE_CHANGED) !== 0;
}


/**
 * The GTID an OK payload's session-state data reports (the connection has
 * CLIENT_SESSION_TRACK): MariaDB's tracked system variable `last_gtid`, or MySQL's GTIDS
 * tracker (session_track_gtids=OWN_GTID). Null when the packet carries neither or is cut
 * short. Reads bytes; allocates only the returned string.
 */
export function okSessionGtid(buf: Buffer, off: number, avail: number): string | null {
  const end = off + avail;
  if (peekLenenc(buf, off + 1, end, scratch) < 0) return null; // affected rows
  if (peekLenenc(buf, scratch.pos, end, scratch) < 0) return null; // last insert id
  let pos = scratch.pos;
  if (pos + 4 > end) return null;
  const flags = buf[pos]! | (buf[pos + 1]! << 8);
  pos += 4; // status flags, warnings
  if ((flags & SERVER_SESSION_STATE_CHANGED) === 0 || pos >= end) return null;
  const infoLen = peekLenenc(buf, pos, end, scratch);
  if (infoLen < 0) return null;
  pos = scratch.pos + infoLen;
  const stateLen = peekLenenc(buf, pos, end, scratch);
  if (stateLen < 0) return null;
  pos = scratch.pos;
  const stateEnd = Math.min(end, pos + stateLen);
  while (pos < stateEnd) {
    const type = buf[pos]!;
    const dataLen = peekLenenc(buf, pos + 1, stateEnd, scratch);
    if (dataLen < 0) return null;
    const dataStart = scratch.pos;
    const dataEnd = dataStart + dataLen;
    if (dataEnd > stateEnd) return null;
    if (type === SESSION_TRACK_SYSTEM_VARIABLES) {
      const nameLen = peekLenenc(buf, dataStart, dataEnd, scratch);
      if (nameLen >= 0 && buf.toString('latin1', scratch.pos, scratch.pos + nameLen) === 'last_gtid') {
        const valueLen = peekLenenc(buf, scratch.pos + nameLen, dataEnd, scratch);
        if (valueLen >= 0 && scratch.pos + valueLen <= dataEnd) return buf.toString('latin1', scratch.pos, scratch.pos + valueLen);
      }
    } else if (type === SESSION_TRACK_GTIDS && dataLen > 1) {
      // int<1> encoding specification (0: the GTID set as text), then string<lenenc>.
      const gtidLen = peekLenenc(buf, dataStart + 1, dataEnd, scratch);
      if (gtidLen >= 0 && scratch.pos + gtidLen <= dataEnd) return buf.toString('latin1', scratch.pos, scratch.pos + gtidLen);
    }
    pos = dataEnd;
  }
  return null;
}

/** Session-state change types (MySQL protocol docs, "OK_Packet"). */
const SESSION_TRACK_SYSTEM_VARIABLES = 0;
const SESSION_TRACK_GTIDS = 3;
