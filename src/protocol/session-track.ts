/**
 * Session-state information in OK packets (CLIENT_SESSION_TRACK): reading what the server
 * reports changed (current schema, system variables, "something else changed", GTIDs), and
 * writing an OK for a client that must see less of it than the backend connection asked for.
 *
 * Layout (MySQL protocol docs "OK_Packet", MariaDB KB "OK_Packet"): header, affected rows
 * <lenenc>, last insert id <lenenc>, status flags <2>, warnings <2>; then, on a connection
 * with CLIENT_SESSION_TRACK, info <lenenc string> (written when non-empty or when state
 * follows) and, when SERVER_SESSION_STATE_CHANGED is set, the state <lenenc string>: a list of
 * (type <1>, data <lenenc string>) entries. Without CLIENT_SESSION_TRACK, info is the rest of
 * the packet (<EOF string>) and there is no state.
 *
 * Pure; reads only the bytes given; never throws on malformed input (it answers null).
 */
import {
  SERVER_SESSION_STATE_CHANGED, SESSION_TRACK_GTIDS, SESSION_TRACK_SCHEMA, SESSION_TRACK_STATE_CHANGE,
  SESSION_TRACK_SYSTEM_VARIABLES,
} from './constants.js';
import { lenencSize, peekLenenc, writeLenenc } from './codec.js';

/** Where the parts of a tracked OK payload are (payload offsets). */
export interface OkLayout {
  /** Offset of the status flags (u16); warnings follow. */
  readonly statusAt: number;
  readonly statusFlags: number;
  /** The info text [infoStart, infoEnd). */
  readonly infoStart: number;
  readonly infoEnd: number;
  /** The state entries [stateStart, stateEnd); equal when there is no state. */
  readonly stateStart: number;
  readonly stateEnd: number;
}

const cursor = { pos: 0 };

/** The layout of an OK payload sent on a connection with CLIENT_SESSION_TRACK; null if malformed. */
export function trackedOkLayout(p: Buffer): OkLayout | null {
  const end = p.length;
  if (peekLenenc(p, 1, end, cursor) < 0 || peekLenenc(p, cursor.pos, end, cursor) < 0) return null;
  const statusAt = cursor.pos;
  if (statusAt + 4 > end) return null;
  const statusFlags = p.readUInt16LE(statusAt);
  let pos = statusAt + 4;
  if (pos === end) return { statusAt, statusFlags, infoStart: pos, infoEnd: pos, stateStart: pos, stateEnd: pos };
  const infoLen = peekLenenc(p, pos, end, cursor);
  if (infoLen < 0 || cursor.pos + infoLen > end) return null;
  const infoStart = cursor.pos;
  const infoEnd = infoStart + infoLen;
  pos = infoEnd;
  if ((statusFlags & SERVER_SESSION_STATE_CHANGED) === 0 || pos === end) {
    return { statusAt, statusFlags, infoStart, infoEnd, stateStart: pos, stateEnd: pos };
  }
  const stateLen = peekLenenc(p, pos, end, cursor);
  if (stateLen < 0 || cursor.pos + stateLen > end) return null;
  return { statusAt, statusFlags, infoStart, infoEnd, stateStart: cursor.pos, stateEnd: cursor.pos + stateLen };
}

/** What one OK's state entries say changed. */
export interface ReportedState {
  /** The current schema after the statement ('' = none), or undefined when not reported. */
  schema: string | undefined;
  /** A SESSION_TRACK_STATE_CHANGE entry: some session state changed (which, it does not say). */
  stateChanged: boolean;
  /** Tracked system variables reported, in order (name, value). */
  readonly variables: [string, string][];
  /** A GTID the statement produced (MariaDB `last_gtid` variable or MySQL's GTIDS tracker). */
  gtid: string | null;
}

/** Read the state entries of a tracked OK; null when they are malformed. */
export function readReportedState(p: Buffer, layout: OkLayout): ReportedState | null {
  const out: ReportedState = { schema: undefined, stateChanged: false, variables: [], gtid: null };
  const end = layout.stateEnd;
  for (let pos = layout.stateStart; pos < end;) {
    const type = p[pos]!;
    const dataLen = peekLenenc(p, pos + 1, end, cursor);
    if (dataLen < 0 || cursor.pos + dataLen > end) return null;
    const data = cursor.pos;
    const dataEnd = data + dataLen;
    if (type === SESSION_TRACK_SCHEMA || type === SESSION_TRACK_SYSTEM_VARIABLES) {
      const first = stringAt(p, data, dataEnd);
      if (first === null) return null;
      if (type === SESSION_TRACK_SCHEMA) out.schema = first;
      else {
        const value = stringAt(p, cursor.pos, dataEnd);
        if (value === null) return null;
        out.variables.push([first, value]);
        if (first === 'last_gtid' && value !== '') out.gtid = value;
      }
    } else if (type === SESSION_TRACK_STATE_CHANGE) {
      out.stateChanged = true;
    } else if (type === SESSION_TRACK_GTIDS && dataLen > 1) {
      // int<1> encoding specification (0: the GTID set as text), then string<lenenc>.
      const g = stringAt(p, data + 1, dataEnd);
      if (g !== null && g !== '') out.gtid = g;
    }
    pos = dataEnd;
  }
  return out;
}

/** A <lenenc string> at `pos` (utf8); sets cursor.pos past it; null when it runs past `end`. */
function stringAt(p: Buffer, pos: number, end: number): string | null {
  const n = peekLenenc(p, pos, end, cursor);
  if (n < 0 || cursor.pos + n > end) return null;
  const s = p.toString('utf8', cursor.pos, cursor.pos + n);
  cursor.pos += n;
  return s;
}

/** Which state entries a client gets: by type, and for system variables by name. */
export type EntryFilter = (type: number, p: Buffer, dataStart: number, dataEnd: number) => boolean;

/** For a client without CLIENT_SESSION_TRACK: no entry. */
export const NO_ENTRIES: EntryFilter = () => false;

/**
 * The OK payload a client should get, or null when the backend's bytes are already right.
 * `keep` picks the state entries the client sees (those it would get from the server with its
 * own settings; none for a client without CLIENT_SESSION_TRACK). `infoAsRest`: write the info
 * as the rest of the packet, as MySQL does for a client without CLIENT_SESSION_TRACK (MariaDB
 * writes it length-encoded either way).
 */
export function okForClient(p: Buffer, layout: OkLayout, keep: EntryFilter, infoAsRest: boolean): Buffer | null {
  const infoLen = layout.infoEnd - layout.infoStart;
  if (infoAsRest) {
    if (layout.statusAt + 4 === p.length) return null; // nothing after the warnings: same bytes
    const out = Buffer.allocUnsafe(layout.statusAt + 4 + infoLen);
    p.copy(out, 0, 0, layout.statusAt + 4);
    out.writeUInt16LE(layout.statusFlags & ~SERVER_SESSION_STATE_CHANGED, layout.statusAt);
    p.copy(out, layout.statusAt + 4, layout.infoStart, layout.infoEnd);
    return out;
  }
  if (layout.stateStart === layout.stateEnd) return null;
  // Keep the wanted entries, in order.
  let keptLen = 0;
  let dropped = false;
  for (let pos = layout.stateStart; pos < layout.stateEnd;) {
    const dataLen = peekLenenc(p, pos + 1, layout.stateEnd, cursor);
    const next = cursor.pos + dataLen;
    if (dataLen < 0 || next > layout.stateEnd) return null; // malformed: leave it as it came
    if (keep(p[pos]!, p, cursor.pos, next)) keptLen += next - pos;
    else dropped = true;
    pos = next;
  }
  if (!dropped) return null;
  const hasState = keptLen > 0;
  const infoField = hasState || infoLen > 0 ? lenencSize(infoLen) + infoLen : 0;
  const out = Buffer.allocUnsafe(layout.statusAt + 4 + infoField + (hasState ? lenencSize(keptLen) + keptLen : 0));
  p.copy(out, 0, 0, layout.statusAt + 4);
  if (!hasState) out.writeUInt16LE(layout.statusFlags & ~SERVER_SESSION_STATE_CHANGED, layout.statusAt);
  let w = layout.statusAt + 4;
  if (infoField > 0) {
    w = writeLenenc(out, w, infoLen);
    w += p.copy(out, w, layout.infoStart, layout.infoEnd);
  }
  if (hasState) {
    w = writeLenenc(out, w, keptLen);
    for (let pos = layout.stateStart; pos < layout.stateEnd;) {
      const dataLen = peekLenenc(p, pos + 1, layout.stateEnd, cursor);
      const next = cursor.pos + dataLen;
      if (keep(p[pos]!, p, cursor.pos, next)) w += p.copy(out, w, pos, next);
      pos = next;
    }
  }
  return out;
}

/** The system variable name of a SESSION_TRACK_SYSTEM_VARIABLES entry's data (for filters). */
export function variableNameIs(p: Buffer, dataStart: number, dataEnd: number, name: string): boolean {
  const n = peekLenenc(p, dataStart, dataEnd, cursor);
  return n === name.length && cursor.pos + n <= dataEnd && p.toString('latin1', cursor.pos, cursor.pos + n) === name;
}
