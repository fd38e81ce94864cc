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
 *
 * Edit mode (setEditing): on a backend connection with CLIENT_SESSION_TRACK the OK packets
 * that carry session state (or, for a client without CLIENT_SESSION_TRACK, any info text)
 * are taken whole and handed to an OkEditor, which reads what changed and decides what the
 * client sees; everything else still passes through unchanged. In this mode the scanner
 * itself hands the bytes to a RelaySink, in order: a packet that might be such an OK is held
 * back (copied, bounded) only while it straddles two chunks and its head is not yet known.
 */
import {
  EOF_HEADER, ERR_HEADER, LOCAL_INFILE_HEADER, MAX_PACKET_PAYLOAD, OK_HEADER,
  SERVER_MORE_RESULTS_EXISTS, SERVER_SESSION_STATE_CHANGED, SERVER_STATUS_CURSOR_EXISTS,
} from './constants.js';
import { peekLenenc } from './codec.js';
import { frame } from './framing.js';
import { eofStatusFlags, okStatusFlags } from './responses.js';

/** Where edit mode sends the response's bytes, in order. */
export interface RelaySink {
  /** chunk[from..to) as it came (the chunk may be a reused read buffer: copy to keep it). */
  relay(chunk: Buffer, from: number, to: number): void;
  /** A packet dbmesh built or held; the callee owns it. */
  emit(packet: Buffer): void;
}

/** Decides what the client sees of an OK packet that carries session state or info. */
export interface OkEditor {
  /** The whole OK payload (valid during the call); returns the payload to send instead, or null to send it as it is. */
  onTrackedOk(payload: Buffer): Buffer | null;
  /** An OK too large to hold carried session state: it went through unread. */
  onUnreadState(): void;
}

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
const HEAD_CAPTURE = 256;
/** Largest OK packet edit mode holds whole (real ones are tens of bytes). */
const OK_HOLD_MAX = 64 * 1024;

const enum Hold { None, Header, Head, Whole }

const lenencOut = { pos: 0 };

export class ResponseScanner {
  /** Status flags from the last OK/EOF seen, or -1 before any. */
  statusFlags = -1;
  /** Packets seen in the current response (for stats and tests). */
  packets = 0;
  /** The response (or one of its results) was an ERR. */
  failed = false;
  /** Results ended so far in this response (OK, result set, or the ERR that stops a batch): statements run. */
  results = 0;
  /** The last result was a result set (ROW_COUNT() is then -1). */
  resultSet = false;
  /** From the last OK of a Result response: affected rows and last insert id (0 when none). */
  affectedRows = 0;
  insertId: number | bigint = 0;
  /** Rows in the response's result sets (statistics). */
  rows = 0;
  /** Affected rows summed over the response's OKs (a multi-statement's are added up). */
  affectedTotal = 0;
  /** The error number of the response's ERR, or 0. */
  errno = 0;
  /** SERVER_SESSION_STATE_CHANGED was set in a classic EOF of this response (which state, it cannot say). */
  eofStateChanged = false;
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
  // edit mode
  private sink: RelaySink | null = null;
  private editor: OkEditor | null = null;
  private editing = false;
  /** The client has no CLIENT_SESSION_TRACK: every OK with info is rewritten too. */
  private stripInfo = false;
  /** The packet whose head was just read is an OK to hand to the editor. */
  private takeWhole = false;
  private relayFrom = 0;
  private hold: Buffer = Buffer.alloc(0);
  private holdLen = 0;
  private holdNeed = 0;
  private holdStage = Hold.None;

  constructor(private deprecateEof: boolean) {}

  /**
   * Edit mode for the next responses (see the top of this file); `sink` and `editor` null
   * turns it off. `stripInfo`: the client lacks CLIENT_SESSION_TRACK.
   */
  setEditing(sink: RelaySink | null, editor: OkEditor | null, stripInfo: boolean): void {
    this.sink = sink;
    this.editor = editor;
    this.editing = sink !== null && editor !== null;
    this.stripInfo = stripInfo;
  }

  get isEditing(): boolean {
    return this.editing;
  }

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
    this.results = 0;
    this.resultSet = false;
    this.affectedRows = 0;
    this.insertId = 0;
    this.rows = 0;
    this.affectedTotal = 0;
    this.errno = 0;
    this.eofStateChanged = false;
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
    this.holdStage = Hold.None;
    this.holdNeed = 0;
    this.holdLen = 0;
    this.takeWhole = false;
  }

  /**
   * Scan chunk[start..]. Returns the offset just past the packet that ends the response (or
   * that asks for LOCAL INFILE data), or -1 when the response goes on past this chunk.
   */
  scan(chunk: Buffer, start = 0): number {
    if (this.editing) return this.scanEditing(chunk, start);
    const end = chunk.length;
    let pos = start;
    while (pos < end) {
      if (this.remaining > 0 || this.headWant > 0) {
        pos = this.passBody(chunk, pos, end);
        if (this.remaining === 0 && this.headWant === 0 && this.doneAtEnd) return this.finish(pos);
        continue;
      }
      // At a packet header.
      pos = this.headerAt(chunk, pos, end);
      if (this.remaining === 0 && this.headWant === 0 && this.hdrFill === 0 && this.doneAtEnd) return this.finish(pos);
    }
    return -1;
  }

  /**
   * scan() in edit mode: the same walk, but the bytes go to the sink here (the caller relays
   * nothing of chunk[start..returned offset)), and OK packets the editor must see are taken
   * whole, held across chunks when they straddle.
   */
  private scanEditing(chunk: Buffer, start: number): number {
    const end = chunk.length;
    let pos = start;
    this.relayFrom = start;
    while (pos < end) {
      if (this.holdNeed > 0) {
        const n = Math.min(this.holdNeed, end - pos);
        this.holdAppend(chunk, pos, n);
        pos += n;
        this.relayFrom = pos;
        this.holdNeed -= n;
        if (this.holdNeed > 0) break;
        this.onHoldFilled();
        if (this.holdNeed === 0 && this.remaining === 0 && this.doneAtEnd) return this.finishEditing(chunk, pos);
        continue;
      }
      if (this.remaining > 0 || this.headWant > 0) {
        pos = this.passBody(chunk, pos, end);
        if (this.remaining === 0 && this.headWant === 0 && this.doneAtEnd) return this.finishEditing(chunk, pos);
        continue;
      }
      if (!this.mayBeTakenWhole() || this.hdrFill > 0) {
        pos = this.headerAt(chunk, pos, end);
        if (this.remaining === 0 && this.headWant === 0 && this.hdrFill === 0 && this.doneAtEnd) return this.finishEditing(chunk, pos);
        continue;
      }
      // A packet that may be an OK to take whole: decide with its head in hand.
      const avail = end - pos;
      const len = avail >= 4 ? chunk[pos]! | (chunk[pos + 1]! << 8) | (chunk[pos + 2]! << 16) : 0;
      const want = Math.min(len, HEAD_CAPTURE);
      if (avail < 4 || avail < 4 + want) {
        this.startHold(chunk, pos, end, avail < 4 ? Hold.Header : Hold.Head, avail < 4 ? 4 - avail : 4 + want - avail, len);
        pos = end;
        break;
      }
      this.curLen = len;
      this.packets++;
      this.takeWhole = false;
      this.onPacket(chunk, pos + 4, want);
      if (!this.takeWhole) {
        this.remaining = len;
        pos += 4;
      } else if (len > OK_HOLD_MAX) {
        this.editor!.onUnreadState();
        this.remaining = len;
        pos += 4;
      } else if (avail >= 4 + len) {
        this.relayTo(chunk, pos);
        const edited = this.editor!.onTrackedOk(chunk.subarray(pos + 4, pos + 4 + len));
        if (edited !== null) {
          this.sink!.emit(frame(edited, chunk[pos + 3]!).bytes);
          this.relayFrom = pos + 4 + len;
        }
        pos += 4 + len;
      } else {
        this.startHold(chunk, pos, end, Hold.Whole, 4 + len - avail, len);
        pos = end;
        break;
      }
      if (this.remaining === 0 && this.doneAtEnd) return this.finishEditing(chunk, pos);
    }
    this.relayTo(chunk, pos);
    return -1;
  }

  /** Inside a packet: complete its head if it straddled, skip the rest of its payload. */
  private passBody(chunk: Buffer, pos: number, end: number): number {
    if (this.headWant > 0) {
      const n = Math.min(this.headWant, end - pos);
      chunk.copy(this.head, this.headFill, pos, pos + n);
      this.headFill += n;
      this.headWant -= n;
      if (this.headWant === 0) this.onPacket(this.head, 0, this.headFill);
    }
    const skip = Math.min(this.remaining, end - pos);
    this.remaining -= skip;
    return pos + skip;
  }

  /** At a packet header (no holding): returns the position after what it consumed. */
  private headerAt(chunk: Buffer, pos: number, end: number): number {
    if (this.hdrFill > 0 || end - pos < 4) {
      const n = Math.min(4 - this.hdrFill, end - pos);
      chunk.copy(this.hdr, this.hdrFill, pos, pos + n);
      this.hdrFill += n;
      pos += n;
      if (this.hdrFill < 4) return pos;
      this.hdrFill = 0;
      this.curLen = this.hdr[0]! | (this.hdr[1]! << 8) | (this.hdr[2]! << 16);
    } else {
      this.curLen = chunk[pos]! | (chunk[pos + 1]! << 8) | (chunk[pos + 2]! << 16);
      pos += 4;
    }
    this.packets++;
    const want = Math.min(this.curLen, HEAD_CAPTURE);
    this.remaining = this.curLen;
    if (end - pos >= want) this.onPacket(chunk, pos, want);
    else {
      this.headWant = want;
      this.headFill = 0;
    }
    return pos;
  }

  /** Whether the packet starting at the next header may be an OK the editor must see. */
  private mayBeTakenWhole(): boolean {
    return this.phase === Phase.First || this.phase === Phase.Single || (this.phase === Phase.Rows && this.deprecateEof);
  }

  /** Hold chunk[pos..end) back: the packet starting at pos needs `need` more bytes first. */
  private startHold(chunk: Buffer, pos: number, end: number, stage: Hold, need: number, len: number): void {
    this.relayTo(chunk, pos);
    this.holdLen = 0;
    this.holdAppend(chunk, pos, end - pos);
    this.relayFrom = end;
    this.holdStage = stage;
    this.holdNeed = need;
    this.curLen = len;
    this.remaining = 0;
  }

  private holdAppend(chunk: Buffer, pos: number, n: number): void {
    if (this.holdLen + n > this.hold.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.holdLen + n, Math.min(2 * this.hold.length, OK_HOLD_MAX + 4), 64));
      this.hold.copy(grown, 0, 0, this.holdLen);
      this.hold = grown;
    }
    chunk.copy(this.hold, this.holdLen, pos, pos + n);
    this.holdLen += n;
  }

  /** The held bytes reached what their stage needs: read the header, decide, or edit. */
  private onHoldFilled(): void {
    const h = this.hold;
    if (this.holdStage === Hold.Header) {
      this.curLen = h[0]! | (h[1]! << 8) | (h[2]! << 16);
      this.holdStage = Hold.Head;
      this.holdNeed = Math.min(this.curLen, HEAD_CAPTURE);
      if (this.holdNeed > 0) return;
    }
    if (this.holdStage === Hold.Head) {
      const want = this.holdLen - 4;
      this.packets++;
      this.takeWhole = false;
      this.onPacket(h, 4, want);
      if (!this.takeWhole || this.curLen > OK_HOLD_MAX) {
        if (this.takeWhole) this.editor!.onUnreadState();
        this.releaseHold();
        this.remaining = this.curLen - want;
        return;
      }
      this.holdStage = Hold.Whole;
      this.holdNeed = this.curLen - want;
      if (this.holdNeed > 0) return;
    }
    // Hold.Whole: the OK is all here.
    const edited = this.editor!.onTrackedOk(h.subarray(4, 4 + this.curLen));
    if (edited !== null) {
      this.sink!.emit(frame(edited, h[3]!).bytes);
      this.holdStage = Hold.None;
      this.holdLen = 0;
    } else this.releaseHold();
    this.remaining = 0;
  }

  /** Send the held bytes on as they came. */
  private releaseHold(): void {
    this.sink!.emit(Buffer.from(this.hold.subarray(0, this.holdLen)));
    this.holdStage = Hold.None;
    this.holdLen = 0;
  }

  private relayTo(chunk: Buffer, pos: number): void {
    if (pos > this.relayFrom) this.sink!.relay(chunk, this.relayFrom, pos);
    this.relayFrom = pos;
  }

  private finishEditing(chunk: Buffer, pos: number): number {
    this.relayTo(chunk, pos);
    return this.finish(pos);
  }

  /**
   * An OK's head was read (edit mode): take the packet whole when the editor must see it,
   * i.e. it carries session state, or info a client without session tracking reads otherwise.
   */
  private considerOk(buf: Buffer, off: number, avail: number, flags: number): void {
    if (!this.editing || flags < 0) return;
    if ((flags & SERVER_SESSION_STATE_CHANGED) !== 0) this.takeWhole = true;
    else if (this.stripInfo && this.curLen > okFixedLength(buf, off, avail)) this.takeWhole = true;
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
    this.results++;
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
          const flags = okStatusFlags(buf, off, avail);
          this.considerOk(buf, off, avail, flags);
          this.endOfResult(flags);
        } else if (first === ERR_HEADER) {
          this.onErr(buf, off, avail);
          this.results++;
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
          this.onErr(buf, off, avail);
          this.results++;
          this.doneAtEnd = true;
          return;
        }
        const flags = eofStatusFlags(buf, off, avail);
        if (flags >= 0) this.statusFlags = flags;
        if (flags >= 0 && (flags & SERVER_SESSION_STATE_CHANGED) !== 0) this.eofStateChanged = true;
        // The execute asked for a cursor and the server opened one: rows come later through
        // COM_STMT_FETCH. (With CLIENT_DEPRECATE_EOF an OK-terminator says so instead, and
        // the Rows phase ends the result on it.)
        if (this.cursorMatters && flags >= 0 && flags & SERVER_STATUS_CURSOR_EXISTS) this.endOfResult(flags);
        else this.phase = Phase.Rows;
        return;
      }
      case Phase.Rows:
        if (first === ERR_HEADER) {
          this.onErr(buf, off, avail);
          this.results++;
          this.doneAtEnd = true;
        }
        else if (this.isTerminator(first)) {
          if (this.deprecateEof) {
            const flags = okStatusFlags(buf, off, avail);
            this.considerOk(buf, off, avail, flags);
            this.endOfResult(flags);
          } else {
            const flags = eofStatusFlags(buf, off, avail);
            if (flags >= 0 && (flags & SERVER_SESSION_STATE_CHANGED) !== 0) this.eofStateChanged = true;
            this.endOfResult(flags);
          }
        } else this.rows++;
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
        if (first === ERR_HEADER) this.onErr(buf, off, avail);
        if (first === OK_HEADER) {
          const flags = okStatusFlags(buf, off, avail);
          if (flags >= 0) this.statusFlags = flags;
          this.considerOk(buf, off, avail, flags);
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
    const idAt = lenencOut.pos;
    const id = peekLenenc(buf, idAt, end, lenencOut);
    this.affectedRows = rows;
    this.affectedTotal += rows;
    // Ids past 2^53 (an 8-byte lenenc) are kept exact, as a bigint.
    if (id > Number.MAX_SAFE_INTEGER) this.insertId = buf.readBigUInt64LE(idAt + 1);
    else if (id > 0) this.insertId = id;
  }

  private onErr(buf: Buffer, off: number, avail: number): void {
    this.failed = true;
    if (avail >= 3) this.errno = buf[off + 1]! | (buf[off + 2]! << 8);
  }

  private onPrepareOk(buf: Buffer, off: number, avail: number, first: number): void {
    if (first !== OK_HEADER || avail < 9) {
      if (first === ERR_HEADER) this.onErr(buf, off, avail);
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

/** Bytes of an OK payload up to and including its warnings; Infinity when the head is cut short. */
function okFixedLength(buf: Buffer, off: number, avail: number): number {
  const end = off + avail;
  if (peekLenenc(buf, off + 1, end, lenencOut) < 0 || peekLenenc(buf, lenencOut.pos, end, lenencOut) < 0) return Infinity;
  return lenencOut.pos + 4 - off;
}
