/**
 * Peek-then-relay scanner for backend responses.
 *
 * The session relays backend bytes to the client chunk by chunk, unchanged; this scanner walks
 * the same chunks, reading only each packet's 4-byte header and the first bytes of its payload,
 * to learn (a) where the response to the current command ends, (b) the server status flags
 * (transaction / autocommit state), (c) when the server asks for LOCAL INFILE data.
 * Rows are never decoded or copied. A packet's head is copied into a small scratch buffer only
 * when it straddles two chunks.
 *
 * The state machine follows the MySQL protocol docs: "Text Resultset", "Binary Protocol
 * Resultset", "COM_STMT_PREPARE Response", "COM_STMT_FETCH", "COM_FIELD_LIST", and the
 * CLIENT_DEPRECATE_EOF rules (an OK packet with header 0xfe replaces the closing EOF; it is told
 * apart from a row by its length being below 0xffffff, an EOF by its length being below 9).
 * It is longer than most modules because the protocol has this many states.
 */
import {
  EOF_HEADER, ERR_HEADER, LOCAL_INFILE_HEADER, MAX_PACKET_PAYLOAD, OK_HEADER,
  SERVER_MORE_RESULTS_EXISTS, SERVER_STATUS_CURSOR_EXISTS,
} from './constants.js';
import { peekLenenc } from './codec.js';
import { eofStatusFlags, okStatusFlags, okSessionGtid } from './responses.js';

/** What the command expects back. */
export const enum ResponseKind {
  /** COM_QUERY, COM_STMT_EXECUTE: OK | ERR | LOCAL INFILE | result set(s). */
  Result = 1,
  /** COM_STMT_PREPARE: OK header + param defs + column defs, or ERR. */
  Prepare,
  /** COM_STMT_FETCH: rows + terminator, or ERR. */
  Fetch,
  /** COM_FIELD_LIST: column defs + terminator, or ERR. */
  FieldList,
  /** Exactly one packet: OK/ERR/EOF or COM_STATISTICS' string. */
  Single,
  /**
   * COM_STMT_EXECUTE that asked for a cursor (CURSOR_TYPE_READ_ONLY): as Result, except that
   * a result set may end right after its column definitions when the server opened a cursor.
   */
  CursorResult,
}

const enum Phase {
  Idle,
  First,
  Columns,
  ColumnsEof,
  Rows,
  PrepareFirst,
  Params,
  ParamsEof,
  PrepColumns,
  PrepColumnsEof,
  FieldList,
  Single,
  Infile,
}

/** Bytes of a packet head made available to the state machine (enough for any OK/EOF/ERR head). */
const HEAD_CAPTURE = 256; // an OK with its info text and session-track data fits

const lenencOut = { pos: 0 };

export class ResponseScanner {
  /** Status flags from the last OK/EOF seen, or -1 before any. */
  statusFlags = -1;
  /** Packets seen in the current response (for stats and tests). */
  packets = 0;
  /** The response (or one of its results) was an ERR. */
  failed = false;
  /** The last result was a result set (ROW_COUNT() is then -1). */
  resultSet = false;
  /** From the last OK of a Result response: affected rows and last insert id (0 when none). */
  affectedRows = 0;
  insertId = 0;
  /** Read the GTID from OK packets' session-track data (causal reads). */
  trackGtid = false;
  /** The last GTID an OK of the current response reported, or null. */
  lastGtid: string | null = null;
  private phase = Phase.Idle;
  private counter = 0;
  private prepColumns = 0;
  private doneAtEnd = false;
  private continuation = false;
  /**
   * Which status flags may change where the response ends. Servers set flags that describe
   * the session, not this response: a stored program with an open cursor reports
   * SERVER_STATUS_CURSOR_EXISTS on a plain COM_QUERY's result sets, and a fetch's EOF may
   * carry SERVER_MORE_RESULTS_EXISTS left by the execute that opened the cursor. Each flag
   * is believed only for the commands it can describe.
   */
  private moreResultsMatter = false;
  private cursorMatters = false;
  // current packet
  private remaining = 0; // payload bytes still to pass
  private curLen = 0;
  private hdr = Buffer.alloc(4);
  private hdrFill = 0;
  private head = Buffer.alloc(HEAD_CAPTURE);
  private headWant = 0; // bytes still to copy into `head`
  private headFill = 0;

  constructor(private deprecateEof: boolean) {}

  setDeprecateEof(on: boolean): void {
    this.deprecateEof = on;
  }

  get busy(): boolean {
    return this.phase !== Phase.Idle;
  }

  /** The server asked for LOCAL INFILE data; the client's packets go through until an empty one. */
  get awaitingInfile(): boolean {
    return this.phase === Phase.Infile;
  }

  begin(kind: ResponseKind): void {
    this.packets = 0;
    this.failed = false;
    this.resultSet = false;
    this.affectedRows = 0;
    this.insertId = 0;
    this.lastGtid = null;
    this.doneAtEnd = false;
    this.continuation = false;
    this.moreResultsMatter = kind === ResponseKind.Result || kind === ResponseKind.CursorResult;
    this.cursorMatters = kind === ResponseKind.CursorResult;
    switch (kind) {
      case ResponseKind.Result: case ResponseKind.CursorResult: this.phase = Phase.First; break;
      case ResponseKind.Prepare: this.phase = Phase.PrepareFirst; break;
      case ResponseKind.Fetch: this.phase = Phase.Rows; break;
      case ResponseKind.FieldList: this.phase = Phase.FieldList; break;
      default: this.phase = Phase.Single;
    }
  }

  /** The client finished sending LOCAL INFILE data; the server answers with OK/ERR next. */
  infileSent(): void {
    if (this.phase === Phase.Infile) this.phase = Phase.First;
  }

  /** Forget everything (backend connection replaced). */
  reset(): void {
    this.phase = Phase.Idle;
    this.remaining = 0;
    this.hdrFill = 0;
    this.headWant = 0;
    this.continuation = false;
    this.doneAtEnd = false;
  }

  /**
   * Scan chunk[start..]. Returns the offset just past the packet that ends the response (or
   * that asks for LOCAL INFILE data), or -1 when the response goes on past this chunk.
   */
  scan(chunk: Buffer, start = 0): number {
    const end = chunk.length;
    let pos = start;
    while (pos < end) {
      if (this.remaining > 0 || this.headWant > 0) {
        if (this.headWant > 0) {
          const n = Math.min(this.headWant, end - pos);
          chunk.copy(this.head, this.headFill, pos, pos + n);
          this.headFill += n;
          this.headWant -= n;
          if (this.headWant === 0) this.onPacket(this.head, 0, this.headFill);
        }
        const skip = Math.min(this.remaining, end - pos);
        this.remaining -= skip;
        pos += skip;
        if (this.remaining === 0 && this.headWant === 0 && this.doneAtEnd) return this.finish(pos);
        continue;
      }
      // At a packet header.
      if (this.hdrFill > 0 || end - pos < 4) {
        const n = Math.min(4 - this.hdrFill, end - pos);
        chunk.copy(this.hdr, this.hdrFill, pos, pos + n);
        this.hdrFill += n;
        pos += n;
        if (this.hdrFill < 4) continue;
        this.hdrFill = 0;
        this.curLen = this.hdr[0]! | (this.hdr[1]! << 8) | (this.hdr[2]! << 16);
      } else {
        this.curLen = chunk[pos]! | (chunk[pos + 1]! << 8) | (chunk[pos + 2]! << 16);
        pos += 4;
      }
      this.packets++;
      const want = Math.min(this.curLen, HEAD_CAPTURE);
      this.remaining = this.curLen;
      if (end - pos >= want) {
        this.onPacket(chunk, pos, want);
      } else {
        this.headWant = want;
        this.headFill = 0;
        continue;
      }
      if (this.remaining === 0 && this.doneAtEnd) return this.finish(pos);
    }
    return -1;
  }

  private finish(pos: number): number {
    this.doneAtEnd = false;
    if (this.phase !== Phase.Infile) this.phase = Phase.Idle;
    return pos;
  }

  private isTerminator(first: number): boolean {
    return first === EOF_HEADER && (this.deprecateEof ? this.curLen < MAX_PACKET_PAYLOAD : this.curLen < 9);
  }

  private endOfResult(flags: number): void {
    if (flags >= 0) this.statusFlags = flags;
    if (this.moreResultsMatter && flags >= 0 && flags & SERVER_MORE_RESULTS_EXISTS) this.phase = Phase.First;
    else this.doneAtEnd = true;
  }

  /** One packet's head is available: advance the state machine. */
  private onPacket(buf: Buffer, off: number, avail: number): void {
    const continued = this.continuation;
    this.continuation = this.curLen === MAX_PACKET_PAYLOAD;
    if (continued) return; // a continuation's first byte means nothing
    const first = avail > 0 ? buf[off]! : -1;
    switch (this.phase) {
      case Phase.First:
        if (first === OK_HEADER) {
          this.resultSet = false;
          this.readOkCounts(buf, off, avail);
          if (this.trackGtid) this.lastGtid = okSessionGtid(buf, off, avail) ?? this.lastGtid;
          this.endOfResult(okStatusFlags(buf, off, avail));
        } else if (first === ERR_HEADER) {
          this.failed = true;
          this.doneAtEnd = true;
        } else if (first === LOCAL_INFILE_HEADER) {
          this.phase = Phase.Infile;
          this.doneAtEnd = true;
        } else {
          const cols = peekLenenc(buf, off, off + avail, lenencOut);
          if (cols <= 0) this.doneAtEnd = true; // malformed: end here, the client will judge it
          else {
            this.resultSet = true;
            this.counter = cols;
            this.phase = Phase.Columns;
          }
        }
        return;
      case Phase.Columns:
        if (--this.counter === 0) this.phase = this.deprecateEof ? Phase.Rows : Phase.ColumnsEof;
        return;
      case Phase.ColumnsEof: {
        if (first === ERR_HEADER) {
          this.failed = true;
          this.doneAtEnd = true;
          return;
        }
        const flags = eofStatusFlags(buf, off, avail);
        if (flags >= 0) this.statusFlags = flags;
        // The execute asked for a cursor and the server opened one: rows come later through
        // COM_STMT_FETCH. (With CLIENT_DEPRECATE_EOF an OK-terminator says so instead, and
        // the Rows phase ends the result on it.)
        if (this.cursorMatters && flags >= 0 && flags & SERVER_STATUS_CURSOR_EXISTS) this.endOfResult(flags);
        else this.phase = Phase.Rows;
        return;
      }
      case Phase.Rows:
        if (first === ERR_HEADER) {
          this.failed = true;
          this.doneAtEnd = true;
        }
        else if (this.isTerminator(first)) {
          this.endOfResult(this.deprecateEof ? okStatusFlags(buf, off, avail) : eofStatusFlags(buf, off, avail));
        }
        return;
      case Phase.PrepareFirst:
        this.onPrepareOk(buf, off, avail, first);
        return;
      case Phase.Params:
        if (--this.counter === 0) {
          if (!this.deprecateEof) this.phase = Phase.ParamsEof;
          else this.afterParams();
        }
        return;
      case Phase.ParamsEof:
        this.afterParams();
        return;
      case Phase.PrepColumns:
        if (--this.counter === 0) {
          if (!this.deprecateEof) this.phase = Phase.PrepColumnsEof;
          else this.doneAtEnd = true;
        }
        return;
      case Phase.PrepColumnsEof:
        this.doneAtEnd = true;
        return;
      case Phase.FieldList:
        if (first === ERR_HEADER || this.isTerminator(first)) this.doneAtEnd = true;
        return;
      case Phase.Single:
        if (first === ERR_HEADER) this.failed = true;
        if (first === OK_HEADER) {
          const flags = okStatusFlags(buf, off, avail);
          if (flags >= 0) this.statusFlags = flags;
        }
        this.doneAtEnd = true;
        return;
      default:
        // Idle or Infile: bytes the server sent unasked (e.g. an ERR before it closes).
        return;
    }
  }

  /** Affected rows and last insert id of an OK head (lenenc values after the header byte). */
  private readOkCounts(buf: Buffer, off: number, avail: number): void {
    const end = off + avail;
    const rows = peekLenenc(buf, off + 1, end, lenencOut);
    if (rows < 0) return;
    const id = peekLenenc(buf, lenencOut.pos, end, lenencOut);
    this.affectedRows = rows;
    if (id > 0) this.insertId = id;
  }

  private onPrepareOk(buf: Buffer, off: number, avail: number, first: number): void {
    if (first !== OK_HEADER || avail < 9) {
      if (first === ERR_HEADER) this.failed = true;
      this.doneAtEnd = true;
      return;
    }
    const columns = buf[off + 5]! | (buf[off + 6]! << 8);
    const params = buf[off + 7]! | (buf[off + 8]! << 8);
    this.prepColumns = columns;
    if (params > 0) {
      this.counter = params;
      this.phase = Phase.Params;
    } else this.afterParams();
  }

  private afterParams(): void {
    if (this.prepColumns > 0) {
      this.counter = this.prepColumns;
      this.phase = Phase.PrepColumns;
    } else this.doneAtEnd = true;
  }
}
