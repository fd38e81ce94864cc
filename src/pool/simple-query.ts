/**
 * A minimal text-protocol query client over a logged-in backend connection, for dbmesh's own
 * control queries (role probe, monitor). Not for client traffic: results are small and
 * collected whole. The connection must have been opened without CLIENT_DEPRECATE_EOF.
 */
import type { BackendSession } from './backend-connect.js';
import { COM_QUERY, EOF_HEADER, ERR_HEADER, OK_HEADER } from '../protocol/constants.js';
import { PacketAssembler, frame } from '../protocol/framing.js';
import { PayloadReader } from '../protocol/codec.js';
import { decodeErr } from '../protocol/responses.js';

export type Row = (string | null)[];

/** A whole result: column names (as the server labels them) and rows in text form. */
export interface QueryResult {
  readonly columns: string[];
  readonly rows: Row[];
}

export class QueryError extends Error {
  constructor(readonly errno: number, readonly sqlState: string, message: string) {
    super(message);
  }
}

function parseRow(payload: Buffer): Row {
  const r = new PayloadReader(payload);
  const row: Row = [];
  while (r.remaining() > 0) {
    if (payload[r.pos] === 0xfb) {
      r.skip(1);
      row.push(null);
    } else row.push(r.lenencString());
  }
  return row;
}

/** The column's name (its alias) from a Protocol::ColumnDefinition41 payload. */
function columnName(payload: Buffer): string {
  const r = new PayloadReader(payload);
  for (let i = 0; i < 4; i++) r.lenencBytes(); // catalog, schema, table, org_table
  return r.lenencString();
}

/** Run one statement; resolves with its rows (empty for statements without a result set). */
export async function simpleQuery(conn: Pick<BackendSession, 'socket' | 'input'>, sql: string, timeoutMs = 5000): Promise<Row[]> {
  return (await simpleQueryResult(conn, sql, timeoutMs)).rows;
}

/**
 * Run one statement; resolves with its column names and rows (both empty for statements
 * without a result set). For results read by name, such as SHOW REPLICA STATUS.
 */
export function simpleQueryResult(conn: Pick<BackendSession, 'socket' | 'input'>, sql: string, timeoutMs = 5000): Promise<QueryResult> {
  const socket = conn.socket;
  return new Promise((resolve, reject) => {
    const packets = new PacketAssembler();
    const columns: string[] = [];
    const rows: Row[] = [];
    let stage: 'first' | 'columns' | 'rows' = 'first';
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      conn.input.handler = () => {};
      socket.removeListener('close', onClose);
      if (err) reject(err);
      else resolve({ columns, rows });
    };
    const timer = setTimeout(() => done(new Error(`query timed out after ${timeoutMs} ms: ${sql}`)), timeoutMs);
    const onClose = (): void => done(new Error('connection closed during query'));
    const onData = (chunk: Buffer): void => {
      packets.push(Buffer.from(chunk));
      try {
        for (let p = packets.next(); p !== null; p = packets.next()) {
          const head = p.payload[0];
          if (head === ERR_HEADER) {
            const e = decodeErr(p.payload);
            return done(new QueryError(e.errno, e.sqlState, e.message));
          }
          if (stage === 'first') {
            if (head === OK_HEADER) return done(null);
            stage = 'columns';
          } else if (stage === 'columns') {
            if (head === EOF_HEADER && p.payload.length < 9) stage = 'rows';
            else columns.push(columnName(p.payload));
          } else if (head === EOF_HEADER && p.payload.length < 9) {
            return done(null);
          } else rows.push(parseRow(p.payload));
        }
      } catch (err) {
        done(err as Error);
      }
    };
    conn.input.handler = onData;
    socket.on('close', onClose);
    const payload = Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(sql, 'utf8')]);
    socket.write(frame(payload, 0).bytes);
  });
}
