/**
 * Commands dbmesh itself sends on a pooled connection (state restore, re-prepare, reset,
 * keep-alive ping, GTID wait) and whose responses it reads instead of relaying. The
 * connection's owner is swapped for the exchange and put back after it. Responses are small
 * and collected whole, up to a bound.
 */
import { CLIENT_DEPRECATE_EOF, CLIENT_SESSION_TRACK, COM_QUERY, ERR_HEADER, MAX_PACKET_PAYLOAD, SESSION_STATUS_FLAGS } from '../protocol/constants.js';
import { PacketAssembler, frame, type Packet } from '../protocol/framing.js';
import { ResponseKind, ResponseScanner } from '../protocol/response-scanner.js';
import { decodeErr, type ErrFields } from '../protocol/responses.js';
import { PayloadReader } from '../protocol/codec.js';
import type { BackendConn, ConnOwner } from './backend-conn.js';

/** A control response bigger than this is a protocol problem, not data. */
const MAX_CONTROL_RESPONSE = 4 * 1024 * 1024;

export class ExchangeError extends Error {
  constructor(readonly err: ErrFields, readonly errPayload: Buffer) {
    super(`${err.errno} ${err.message}`);
  }
}

export interface ExchangeResult {
  /** Every packet of the response, copied. */
  readonly packets: Packet[];
  readonly statusFlags: number;
}

/**
 * Send `payload` (one packet, seq 0) and collect the whole response of the given kind.
 * Rejects with ExchangeError for an ERR response, with Error on a lost connection or timeout.
 */
export function exchange(conn: BackendConn, payload: Buffer, kind: ResponseKind, timeoutMs: number): Promise<ExchangeResult> {
  return new Promise((resolve, reject) => {
    const previous = conn.owner;
    const scanner = new ResponseScanner((conn.capabilities & CLIENT_DEPRECATE_EOF) !== 0);
    const assembler = new PacketAssembler();
    let total = 0;
    const finish = (err: Error | null, result?: ExchangeResult): void => {
      clearTimeout(timer);
      if (!conn.dead) conn.owner = previous;
      if (err) reject(err);
      else resolve(result!);
    };
    const timer = setTimeout(() => {
      conn.kill('control command timed out');
      finish(new Error(`backend ${conn.backendId} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const owner: ConnOwner = {
      onBackendData(chunk: Buffer): void {
        total += chunk.length;
        if (total > MAX_CONTROL_RESPONSE) {
          conn.kill('control response too large');
          return;
        }
        assembler.push(Buffer.from(chunk));
        const end = scanner.scan(chunk);
        if (end < 0) return;
        if (end !== chunk.length) {
          conn.kill('bytes after a control response');
          return;
        }
        const packets: Packet[] = [];
        for (let p = assembler.next(); p !== null; p = assembler.next()) packets.push(p);
        if (scanner.statusFlags >= 0) conn.statusFlags = scanner.statusFlags & SESSION_STATUS_FLAGS;
        const first = packets[0];
        if (first !== undefined && first.payload[0] === ERR_HEADER) {
          return finish(new ExchangeError(decodeErr(first.payload), Buffer.from(first.payload)));
        }
        finish(null, { packets, statusFlags: scanner.statusFlags });
      },
      onBackendDrain(): void {},
      onBackendLost(): void {
        finish(new Error(`backend ${conn.backendId} connection lost`));
      },
    };
    conn.owner = owner;
    scanner.begin(kind);
    if (payload.length >= MAX_PACKET_PAYLOAD) return finish(new Error('control command too large'));
    conn.commands++;
    conn.writeCommand(frame(payload, 0).bytes);
  });
}

/** Run a text statement; resolves with the first column of the first row (or null). */
export async function queryScalar(conn: BackendConn, sql: string, timeoutMs: number): Promise<string | null> {
  const r = await exchange(conn, Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(sql, 'utf8')]), ResponseKind.Result, timeoutMs);
  const deprecateEof = (conn.capabilities & CLIENT_DEPRECATE_EOF) !== 0;
  const head = r.packets[0];
  if (head === undefined || head.payload[0] === 0x00) return null;
  const columns = new PayloadReader(head.payload).lenenc();
  const rowAt = 1 + columns + (deprecateEof ? 0 : 1);
  const row = r.packets[rowAt];
  // No row: the packet there is the terminator (the last one).
  if (row === undefined || rowAt === r.packets.length - 1 || row.payload[0] === 0xfb) return null;
  return new PayloadReader(row.payload).lenencString();
}

/** Run a text statement that returns no rows (SET ...). */
export async function command(conn: BackendConn, sql: string, timeoutMs: number): Promise<void> {
  await exchange(conn, Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(sql, 'utf8')]), ResponseKind.Result, timeoutMs);
}

/**
 * What dbmesh asks every backend connection to report in its OK packets: the current schema
 * (MariaDB and MySQL default, made sure of) and that some other session state changed
 * (default off). Sent after login and after every reset, before any session uses the
 * connection. A client that sets these itself pins its session (PIN_TRACKING_SETTINGS).
 */
export const TRACKING_SQL = 'SET SESSION session_track_schema = ON, SESSION session_track_state_change = ON';

/** Ask the server for state-change reports on this connection (when it can give them). */
export async function enableTracking(conn: BackendConn, timeoutMs: number): Promise<void> {
  if ((conn.capabilities & CLIENT_SESSION_TRACK) === 0) return;
  await command(conn, TRACKING_SQL, timeoutMs);
  conn.trackingPending = false;
}
