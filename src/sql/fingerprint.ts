/**
 * Statement fingerprints: the normalised text that keys a digest. Literals (strings, numbers,
 * hex, bit, dates) become `?`, an `IN (...)` list of literals becomes `(?)`, the rows after
 * the first of a `VALUES (...),(...)` list go, comments go (executable comments and optimizer
 * hints stay, as text), whitespace folds to one space and unquoted words are lowercased.
 *
 * It runs on every relayed statement, so it is one pass over char codes that writes the
 * result into a module-level UTF-16 buffer: no regex, no token objects, no substrings. That
 * is why the scanner is one state machine longer than the usual file: the state (previous
 * token, IN-list check, VALUES rows) is a few numeric fields on one reused object.
 *
 * Memory: the result is decoded from that buffer (`Buffer#toString('utf16le')`), so it is a
 * fresh flat string that shares nothing with the input. A `slice()` of the input (or a cons
 * string of slices) would keep a 16 MiB statement alive behind a 40-character fingerprint.
 *
 * Cost is bounded: only the first FINGERPRINT_SCAN_LIMIT characters are read (a longer text
 * ends in ` …`), and each character read writes at most one, so the buffer never overflows.
 * Nothing throws: unterminated strings and comments end at the end of what is read.
 */
import { isSpace, isWordChar, skipQuoted } from './lexer.js';
import { blockEnd, digitsEnd, exponentEnd, isDigit, isKeptComment, isLineComment, isQuote, lineEnd, numberEnd,
  skipTrivia } from './text-scan.js';

export { digestId } from './digest-id.js';
export { maskPasswords } from './mask-passwords.js';

/** Longest fingerprint returned; a longer one is cut and ends in `…`. */
export const MAX_FINGERPRINT_CHARS = 4096;
/** Characters of a statement read; a longer statement's fingerprint ends in ` …`. */
export const FINGERPRINT_SCAN_LIMIT = 64 * 1024;

const ELLIPSIS = 0x2026;
const QMARK = 63;

// What the previous token was: decides whether a sign folds into a number and where lists start.
const K_START = 0;
const K_OP = 1;
const K_OPEN = 2;
const K_COMMA = 3;
const K_CLOSE = 4;
const K_LIT = 5; // from here on: tokens an account's `@host` may follow
const K_NAME = 6;
const K_WORD = 7;
const K_IN = 8;
const K_VALUES = 9;
const K_NULL = 10;

// Where a VALUES list is: its first row is kept, every following `,(...)` row is dropped.
const V_NONE = 0;
const V_WANT_ROW = 1;
const V_ROW = 2;
const V_AFTER_ROW = 3;

/** Keywords after which `-5` is a signed literal, not a subtraction (`SELECT -5`, `AND -1`). */
const SIGN_KEYWORDS = ['select', 'where', 'having', 'on', 'and', 'or', 'xor', 'not', 'between',
  'case', 'when', 'then', 'else', 'elseif', 'limit', 'offset', 'interval', 'like', 'regexp',
  'rlike', 'div', 'mod', 'return', 'default', 'distinct', 'until'];

// Each character read writes at most one character, plus 2 for the ` …` suffix.
const out = new Uint16Array(FINGERPRINT_SCAN_LIMIT + 2);
const outBytes = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

class Scanner {
  s = '';
  n = 0;
  len = 0;
  /** Whitespace or a comment was seen since the last token: one space before the next. */
  pending = false;
  prev = K_START;
  /** Output bounds of the last word, for SIGN_KEYWORDS. */
  wordStart = 0;
  wordEnd = 0;
  depth = 0;
  /** Output index of the `(` of an `IN (` list that holds only literals so far, or -1. */
  listOpen = -1;
  /** That list wants an item next (just opened, or after a comma). */
  listWant = false;
  vState = V_NONE;
  /** Paren depth outside the rows of the VALUES list being read. */
  vDepth = 0;
  /** Output length to return to when the row being dropped ends, or -1. */
  dropMark = -1;

  /** Scans `s` up to `n` into `out`; returns the output length. */
  run(s: string, n: number): number {
    this.s = s;
    this.n = n;
    this.len = 0;
    this.pending = false;
    this.prev = K_START;
    this.depth = 0;
    this.listOpen = this.dropMark = -1;
    this.vState = V_NONE;
    let i = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (isSpace(c)) {
        this.pending = true;
        i++;
        continue;
      }
      // Past the cap nothing can shrink the output again unless an IN list or a dropped row is open.
      if (this.len > MAX_FINGERPRINT_CHARS && this.listOpen < 0 && this.dropMark < 0) break;
      i = this.token(c, i);
    }
    if (this.dropMark >= 0) this.len = this.dropMark; // a dropped row left open at the end
    return trimEnd(this.len);
  }

  private token(c: number, i: number): number {
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36 || c >= 0x80) return this.word(i);
    if (isDigit(c)) {
      const e = numberEnd(this.s, i, this.n);
      return e < 0 ? this.word(i) : this.literal(e);
    }
    switch (c) {
      case 39: case 34: return this.literal(skipQuoted(this.s, i + 1, c, this.n));
      case 63: return this.literal(i + 1);
      case 96: return this.quotedName(i);
      case 64: return this.variable(i);
      case 35: return this.dropComment(lineEnd(this.s, i, this.n));
      case 45: return isLineComment(this.s, i, this.n) ? this.dropComment(lineEnd(this.s, i, this.n)) : this.sign(i);
      case 43: return this.sign(i);
      case 47: return this.slash(i);
      case 46: return this.dot(i);
      case 40: return this.open(i);
      case 41: return this.close(i);
      case 44: return this.comma(i);
      case 59: return this.semicolon(i);
      default: return this.punct(i);
    }
  }

  /** Writes the pending space. None after `--`: `--` and a space would read as a comment. */
  private flush(): void {
    if (!this.pending) return;
    this.pending = false;
    const len = this.len;
    if (len > 0 && !(out[len - 1] === 45 && out[len - 2] === 45)) out[this.len++] = 32;
  }

  /** Bookkeeping after any token other than `(`, `)`, `,` and `;`. */
  private after(kind: number): void {
    if (this.listOpen >= 0) {
      if ((kind === K_LIT || kind === K_NULL) && this.listWant) this.listWant = false;
      else this.listOpen = -1;
    }
    if (this.vState !== V_ROW) this.vState = V_NONE;
    this.prev = kind;
  }

  private literal(end: number): number {
    this.flush();
    out[this.len++] = QMARK;
    this.after(K_LIT);
    return end;
  }

  private punct(i: number): number {
    this.flush();
    out[this.len++] = this.s.charCodeAt(i);
    this.after(K_OP);
    return i + 1;
  }

  private dropComment(end: number): number {
    this.pending = true;
    return end;
  }

  /** Copies `s[i, end)` verbatim (backquoted names, quoted variable names). */
  private copy(i: number, end: number): void {
    const s = this.s;
    let len = this.len;
    for (; i < end; i++) out[len++] = s.charCodeAt(i);
    this.len = len;
  }

  /** An unquoted word, lowercased; or a literal it introduces (X'1F', _utf8mb4'x', DATE '...'). */
  private word(i: number): number {
    const s = this.s;
    const n = this.n;
    this.flush();
    const start = this.len;
    let len = start;
    let j = i;
    do {
      const c = s.charCodeAt(j++);
      out[len++] = c >= 65 && c <= 90 ? c + 32 : c;
    } while (j < n && isWordChar(s.charCodeAt(j)));
    this.len = len;
    const size = len - start;
    const first = out[start];
    if (size === 1 && j < n && s.charCodeAt(j) === 39 && (first === 120 || first === 98 || first === 110)) {
      return this.replaceWord(start, skipQuoted(s, j + 1, 39, n)); // X'1F', b'101', N'text'
    }
    if (first === 95 || this.isDateType(start, len)) {
      const k = skipTrivia(s, j, n);
      if (k < n && isQuote(s.charCodeAt(k))) {
        const end = skipQuoted(s, k + 1, s.charCodeAt(k), n);
        if (first === 95) return this.replaceWord(start, end); // charset introducer: _utf8mb4'x'
        this.pending = k > j; // DATE '2024-01-01' -> date ?
        return this.literal(end);
      }
    }
    this.wordStart = start;
    this.wordEnd = len;
    this.after(this.wordKind(start, len));
    if (this.prev === K_VALUES && this.vState !== V_ROW) this.vState = V_WANT_ROW;
    return j;
  }

  private replaceWord(start: number, end: number): number {
    this.len = start;
    out[this.len++] = QMARK;
    this.after(K_LIT);
    return end;
  }

  private wordKind(start: number, end: number): number {
    switch (end - start) {
      case 2: return this.outIs(start, end, 'in') ? K_IN : K_WORD;
      case 4: return this.outIs(start, end, 'null') ? K_NULL : K_WORD;
      case 5: return this.outIs(start, end, 'value') ? K_VALUES : K_WORD;
      case 6: return this.outIs(start, end, 'values') ? K_VALUES : K_WORD;
      default: return K_WORD;
    }
  }

  private isDateType(start: number, end: number): boolean {
    return this.outIs(start, end, 'date') || this.outIs(start, end, 'time') || this.outIs(start, end, 'timestamp');
  }

  /** The output in [start, end) is `lower` (a lowercase ASCII word). */
  private outIs(start: number, end: number, lower: string): boolean {
    if (end - start !== lower.length) return false;
    for (let k = 0; k < lower.length; k++) {
      if (out[start + k] !== lower.charCodeAt(k)) return false;
    }
    return true;
  }

  /** `-`/`+` right before a number folds into it after an operator, `(`, `,`, the start or SIGN_KEYWORDS. */
  private sign(i: number): number {
    const s = this.s;
    const n = this.n;
    const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
    if ((isDigit(d) || (d === 46 && i + 2 < n && isDigit(s.charCodeAt(i + 2)))) && this.signFolds()) {
      const e = d === 46 ? exponentEnd(s, digitsEnd(s, i + 2, n), n) : numberEnd(s, i + 1, n);
      if (e >= 0) return this.literal(e);
    }
    return this.punct(i);
  }

  private signFolds(): boolean {
    const p = this.prev;
    if (p <= K_COMMA) return true;
    if (p !== K_WORD) return false;
    for (const w of SIGN_KEYWORDS) {
      if (this.outIs(this.wordStart, this.wordEnd, w)) return true;
    }
    return false;
  }

  /** `.5` is a number unless the dot follows a name or literal directly (`t.5`, `` `t`.5 ``, `1e0.5`). */
  private dot(i: number): number {
    const s = this.s;
    const n = this.n;
    if (i + 1 < n && isDigit(s.charCodeAt(i + 1)) && (this.pending || this.prev < K_LIT)) {
      return this.literal(exponentEnd(s, digitsEnd(s, i + 1, n), n));
    }
    return this.punct(i);
  }

  private slash(i: number): number {
    const s = this.s;
    const n = this.n;
    if (i + 1 >= n || s.charCodeAt(i + 1) !== 42) return this.punct(i);
    if (isKeptComment(s, i, n)) return this.keptComment(i);
    return this.dropComment(blockEnd(s, i + 2, n));
  }

  /** Copies an executable comment or optimizer hint, folding whitespace inside it. */
  private keptComment(i: number): number {
    const s = this.s;
    const n = this.n;
    this.flush();
    out[this.len++] = 47;
    out[this.len++] = 42;
    let space = false;
    let j = i + 2;
    for (; j < n; j++) {
      const c = s.charCodeAt(j);
      if (isSpace(c)) {
        space = true;
        continue;
      }
      if (space) out[this.len++] = 32;
      space = false;
      out[this.len++] = c;
      if (c === 42 && j + 1 < n && s.charCodeAt(j + 1) === 47) {
        out[this.len++] = 47;
        j += 2;
        break;
      }
    }
    // Transparent for a following sign; but no IN list or VALUES row is read through it.
    this.listOpen = -1;
    if (this.vState !== V_ROW) this.vState = V_NONE;
    return j;
  }

  private quotedName(i: number): number {
    const end = skipQuoted(this.s, i + 1, 96, this.n);
    this.flush();
    this.copy(i, end);
    this.after(K_NAME);
    return end;
  }

  /** `@var`, `@@sys.var`, `@'quoted'`; or the `@` between an account's user and host. */
  private variable(i: number): number {
    if (!this.pending && this.prev >= K_LIT) return this.punct(i); // 'user'@'host'
    const s = this.s;
    const n = this.n;
    this.flush();
    let j = i + 1;
    const sys = j < n && s.charCodeAt(j) === 64;
    if (sys) j++;
    const q = j < n ? s.charCodeAt(j) : 0;
    if (!sys && (isQuote(q) || q === 96)) {
      j = skipQuoted(s, j + 1, q, n);
      this.copy(i, j);
    } else {
      this.copy(i, j);
      for (; j < n; j++) {
        const c = s.charCodeAt(j);
        if (!isWordChar(c) && !(sys && c === 46)) break;
        out[this.len++] = c >= 65 && c <= 90 ? c + 32 : c;
      }
    }
    this.after(K_NAME);
    return j;
  }

  private open(i: number): number {
    this.flush();
    this.listOpen = this.prev === K_IN ? this.len : -1; // a `(` inside a list ends the check too
    this.listWant = true;
    out[this.len++] = 40;
    if (this.vState === V_WANT_ROW) {
      this.vState = V_ROW;
      this.vDepth = this.depth;
    } else if (this.vState !== V_ROW) this.vState = V_NONE;
    this.depth++;
    this.prev = K_OPEN;
    return i + 1;
  }

  private close(i: number): number {
    this.flush();
    out[this.len++] = 41;
    if (this.depth > 0) this.depth--;
    if (this.listOpen >= 0) {
      // Only literals since the `(` (any `(` would have ended the check), so this closes the list.
      if (!this.listWant) {
        this.len = this.listOpen + 1;
        out[this.len++] = QMARK;
        out[this.len++] = 41;
      }
      this.listOpen = -1;
    }
    if (this.vState === V_ROW && this.depth === this.vDepth) {
      this.vState = V_AFTER_ROW;
      if (this.dropMark >= 0) this.len = this.dropMark;
      this.dropMark = -1;
    } else if (this.vState !== V_ROW) this.vState = V_NONE;
    this.prev = K_CLOSE;
    return i + 1;
  }

  private comma(i: number): number {
    const s = this.s;
    const k = this.vState === V_AFTER_ROW ? skipTrivia(s, i + 1, this.n) : this.n;
    if (k < this.n && s.charCodeAt(k) === 40) {
      // Another row: read it like the first, then return to here (`,` and space included).
      this.dropMark = this.len;
      this.pending = false;
      this.vState = V_WANT_ROW;
      return i + 1;
    }
    this.flush();
    out[this.len++] = 44;
    if (this.listOpen >= 0) {
      if (this.listWant) this.listOpen = -1;
      this.listWant = true;
    }
    if (this.vState !== V_ROW) this.vState = V_NONE;
    this.prev = K_COMMA;
    return i + 1;
  }

  private semicolon(i: number): number {
    if (this.dropMark >= 0) this.len = this.dropMark; // a row left open ends with its statement
    this.dropMark = -1;
    this.flush();
    out[this.len++] = 59;
    this.prev = K_START;
    this.depth = 0;
    this.listOpen = -1;
    this.vState = V_NONE;
    return i + 1;
  }
}

/**
 * Drops what an unterminated name may leave at the end (whitespace), and a final `--` (from
 * `a--#x`): read again, `--` at the end is a comment, and fingerprints must be fixed points.
 */
function trimEnd(len: number): number {
  while (len > 0) {
    if (isSpace(out[len - 1])) len--;
    else if (out[len - 1] === 45 && out[len - 2] === 45) len -= 2;
    else return len;
  }
  return 0;
}

const scanner = new Scanner();

function decode(len: number): string {
  if (len === 0) return '';
  if (LITTLE_ENDIAN) return outBytes.toString('utf16le', 0, 2 * len);
  return String.fromCharCode.apply(null, Array.from(out.subarray(0, len)));
}

/** Normalised statement text: the digest's key. Bounded: at most MAX_FINGERPRINT_CHARS characters. */
export function fingerprint(sql: string): string {
  let n = sql.length;
  const cut = n > FINGERPRINT_SCAN_LIMIT;
  if (cut) n = isHighSurrogate(sql.charCodeAt(FINGERPRINT_SCAN_LIMIT - 1)) ? FINGERPRINT_SCAN_LIMIT - 1 : FINGERPRINT_SCAN_LIMIT;
  let len = scanner.run(sql, n);
  if (cut) {
    if (len > 0) out[len++] = 32;
    out[len++] = ELLIPSIS;
  }
  if (len > MAX_FINGERPRINT_CHARS) {
    len = cutEnd(MAX_FINGERPRINT_CHARS - 1);
    out[len++] = ELLIPSIS;
  }
  return decode(len);
}

/**
 * Where to cut the output at `len` or a little before: not inside a surrogate pair, and not
 * right after `/*` or `/*M`, where the cut would leave a kept comment's opener without its
 * `!` and the text, read again, would drop it as a plain comment.
 */
function cutEnd(len: number): number {
  if (isHighSurrogate(out[len - 1])) len--;
  if (out[len - 2] === 47 && out[len - 1] === 42) return len - 2;
  if (out[len - 3] === 47 && out[len - 2] === 42 && out[len - 1] === 77) return len - 3;
  return len;
}
