/**
 * A forgiving, index-based MySQL/MariaDB statement scanner for routing decisions. It skips
 * whitespace, `-- ` / `#` line comments and `/* *\/` comments, but treats the content of
 * `/*! ... *\/` and `/*M! ... *\/` executable comments (optional version digits) as SQL and
 * reports their bounds as EXEC_OPEN / EXEC_CLOSE tokens. `/* dbmesh:... *\/` comments are
 * captured as hints. Unterminated strings and comments end at end of input; nothing throws.
 * One Lexer object is reused per statement; tokens are (kind, start, end) fields, no objects.
 */

export const TK_EOF = 0;
export const TK_WORD = 1;
export const TK_NUMBER = 2;
export const TK_STRING = 3;
export const TK_QUOTED_ID = 4;
export const TK_VARIABLE = 5;
export const TK_SYSVAR = 6;
export const TK_PUNCT = 7;
export const TK_EXEC_OPEN = 8;
export const TK_EXEC_CLOSE = 9;

export function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
    c === 95 || c === 36 || c >= 0x80;
}

export function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/**
 * Index after the quote `q` that closes a string or name whose body starts at `i`, or `n`
 * when it is unterminated. Doubled quotes escape; backslashes too, except in backquotes.
 */
export function skipQuoted(s: string, i: number, q: number, n: number): number {
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 92 && q !== 96) i += 2;
    else if (c === q) {
      if (i + 1 >= n || s.charCodeAt(i + 1) !== q) return i + 1;
      i += 2;
    } else i++;
  }
  return n;
}

export class Lexer {
  sql = '';
  pos = 0;
  kind = TK_EOF;
  start = 0;
  end = 0;
  /** Body of the first `/* dbmesh:... *\/` comment seen so far (text after `dbmesh:`). */
  hint: string | null = null;
  private inExec = false;

  constructor(sql = '') {
    this.reset(sql);
  }

  reset(sql: string): this {
    this.sql = sql;
    this.pos = 0;
    this.kind = TK_EOF;
    this.start = this.end = 0;
    this.hint = null;
    this.inExec = false;
    return this;
  }

  /** Advances to the next token and returns its kind. */
  next(): number {
    const s = this.sql;
    const n = s.length;
    let i = this.skipTrivia(this.pos);
    this.start = i;
    if (i >= n) return this.emit(TK_EOF, n);
    const c = s.charCodeAt(i);
    if (this.inExec && c === 42 && s.charCodeAt(i + 1) === 47) {
      this.inExec = false;
      return this.emit(TK_EXEC_CLOSE, i + 2);
    }
    if (c === 47 && s.charCodeAt(i + 1) === 42) return this.execOpen(i);
    if (c === 39 || c === 34) return this.emit(TK_STRING, this.skipQuoted(i + 1, c));
    if (c === 96) return this.emit(TK_QUOTED_ID, this.skipQuoted(i + 1, c));
    if (c === 64) return this.variable(i);
    if (c >= 48 && c <= 57) return this.emit(TK_NUMBER, this.skipNumber(i));
    if (isWordChar(c)) {
      i++;
      while (i < n && isWordChar(s.charCodeAt(i))) i++;
      return this.emit(TK_WORD, i);
    }
    if (c === 58 && s.charCodeAt(i + 1) === 61) return this.emit(TK_PUNCT, i + 2); // :=
    return this.emit(TK_PUNCT, i + 1);
  }

  /** Case-insensitive compare of the current word token with an UPPERCASE literal. */
  is(upper: string): boolean {
    if (this.kind !== TK_WORD || this.end - this.start !== upper.length) return false;
    const s = this.sql;
    for (let k = 0; k < upper.length; k++) {
      let c = s.charCodeAt(this.start + k);
      if (c >= 97 && c <= 122) c -= 32;
      if (c !== upper.charCodeAt(k)) return false;
    }
    return true;
  }

  /** True if the current token is the single punctuation character `ch`. */
  isPunct(ch: string): boolean {
    return this.kind === TK_PUNCT && this.end - this.start === ch.length &&
      this.sql.startsWith(ch, this.start);
  }

  text(): string {
    return this.sql.slice(this.start, this.end);
  }

  upper(): string {
    return this.text().toUpperCase();
  }

  private emit(kind: number, end: number): number {
    this.kind = kind;
    this.end = end;
    this.pos = end;
    return kind;
  }

  /** At `/*` that skipTrivia left: only executable comments reach here. */
  private execOpen(i: number): number {
    const s = this.sql;
    let j = i + 2;
    if (s.charCodeAt(j) === 77) j++; // M
    j++; // !
    while (j < s.length && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) j++;
    this.inExec = true;
    return this.emit(TK_EXEC_OPEN, j);
  }

  private isExecStart(i: number): boolean {
    const s = this.sql;
    const c = s.charCodeAt(i + 2);
    return c === 33 || (c === 77 && s.charCodeAt(i + 3) === 33);
  }

  private skipTrivia(i: number): number {
    const s = this.sql;
    const n = s.length;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (isSpace(c)) i++;
      else if (c === 35) i = this.skipLine(i);
      else if (c === 45 && s.charCodeAt(i + 1) === 45 && (i + 2 >= n || s.charCodeAt(i + 2) <= 32)) {
        i = this.skipLine(i);
      } else if (c === 47 && s.charCodeAt(i + 1) === 42) {
        if (this.isExecStart(i) && !this.inExec) return i;
        i = this.skipBlock(i);
      } else return i;
    }
    return n;
  }

  private skipLine(i: number): number {
    const nl = this.sql.indexOf('\n', i);
    return nl < 0 ? this.sql.length : nl + 1;
  }

  private skipBlock(i: number): number {
    const s = this.sql;
    const close = s.indexOf('*/', i + 2);
    const end = close < 0 ? s.length : close;
    if (this.hint === null) this.captureHint(i + 2, end);
    return close < 0 ? s.length : close + 2;
  }

  private captureHint(from: number, to: number): void {
    const s = this.sql;
    while (from < to && (isSpace(s.charCodeAt(from)) || s.charCodeAt(from) === 43)) from++; // `+`
    if (to - from < 7 || !s.startsWith('dbmesh:', from)) return;
    while (to > from && isSpace(s.charCodeAt(to - 1))) to--;
    this.hint = s.slice(from + 7, to);
  }

  private skipQuoted(i: number, q: number): number {
    return skipQuoted(this.sql, i, q, this.sql.length);
  }

  private skipNumber(i: number): number {
    const s = this.sql;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (isWordChar(c) || c === 46) i++;
      else if ((c === 43 || c === 45) && (s.charCodeAt(i - 1) | 0x20) === 101) i++; // 1e+5
      else break;
    }
    return i;
  }

  private variable(i: number): number {
    const s = this.sql;
    const sys = s.charCodeAt(i + 1) === 64;
    let j = i + (sys ? 2 : 1);
    const q = s.charCodeAt(j);
    if (!sys && (q === 39 || q === 34 || q === 96)) return this.emit(TK_VARIABLE, this.skipQuoted(j + 1, q));
    while (j < s.length && (isWordChar(s.charCodeAt(j)) || (sys && s.charCodeAt(j) === 46))) j++;
    return this.emit(sys ? TK_SYSVAR : TK_VARIABLE, j);
  }
}
