/**
 * Index scanners over SQL text for the fingerprint: each takes (text, index, end) and returns
 * where a number, comment or run of trivia ends, reading nothing at or past `end` (the scan
 * limit). Pure functions on char codes; no substrings.
 */
import { isSpace, isWordChar } from './lexer.js';

export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function digitsEnd(s: string, i: number, n: number): number {
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  return i;
}

/** End of an exponent (`e5`, `E-3`) at `i`, or `i` when there is none. */
export function exponentEnd(s: string, i: number, n: number): number {
  if (i >= n || (s.charCodeAt(i) | 0x20) !== 101) return i;
  let k = i + 1;
  const c = k < n ? s.charCodeAt(k) : 0;
  if (c === 43 || c === 45) k++;
  return k < n && isDigit(s.charCodeAt(k)) ? digitsEnd(s, k, n) : i;
}

/**
 * End of the number literal starting with the digit at `i`, or -1 when the word there is an
 * identifier (`1abc`, `0xg`). 0x/0b prefixes are taken in either case so that lowercasing an
 * identifier like `0X1F` can never turn it into a literal.
 */
export function numberEnd(s: string, i: number, n: number): number {
  const p = i + 1 < n ? s.charCodeAt(i + 1) | 0x20 : 0;
  if (s.charCodeAt(i) === 48 && (p === 120 || p === 98)) {
    let j = i + 2;
    while (j < n && isRadixDigit(s.charCodeAt(j), p)) j++;
    return j > i + 2 && !(j < n && isWordChar(s.charCodeAt(j))) ? j : -1;
  }
  let j = digitsEnd(s, i, n);
  const fraction = j < n && s.charCodeAt(j) === 46;
  if (fraction) j = digitsEnd(s, j + 1, n);
  j = exponentEnd(s, j, n);
  return !fraction && j < n && isWordChar(s.charCodeAt(j)) ? -1 : j;
}

function isRadixDigit(c: number, x: number): boolean {
  if (x === 98) return c === 48 || c === 49;
  return isDigit(c) || ((c | 0x20) >= 97 && (c | 0x20) <= 102);
}

/** Index of the newline that ends a `#` or `-- ` comment starting at `i` (or `n`). */
export function lineEnd(s: string, i: number, n: number): number {
  while (i < n && s.charCodeAt(i) !== 10) i++;
  return i;
}

/** Index after the `*\/` that closes a comment whose body starts at `i` (or `n`). */
export function blockEnd(s: string, i: number, n: number): number {
  for (; i + 1 < n; i++) {
    if (s.charCodeAt(i) === 42 && s.charCodeAt(i + 1) === 47) return i + 2;
  }
  return n;
}

/** `--` followed by whitespace, a control character or the end (MySQL needs the space). */
export function isLineComment(s: string, i: number, n: number): boolean {
  return i + 1 < n && s.charCodeAt(i + 1) === 45 && (i + 2 >= n || s.charCodeAt(i + 2) <= 32);
}

/** `/*!`, `/*M!` and optimizer hints `/*+` stay; a `/*+ dbmesh:` routing hint does not. */
export function isKeptComment(s: string, i: number, n: number): boolean {
  const c = i + 2 < n ? s.charCodeAt(i + 2) : 0;
  if (c === 33 || (c === 77 && i + 3 < n && s.charCodeAt(i + 3) === 33)) return true;
  if (c !== 43) return false;
  let k = i + 3;
  while (k < n && (isSpace(s.charCodeAt(k)) || s.charCodeAt(k) === 43)) k++;
  return !(k + 7 <= n && s.startsWith('dbmesh:', k));
}

/** The first index at or after `i` that is neither whitespace nor a dropped comment. */
export function skipTrivia(s: string, i: number, n: number): number {
  while (i < n) {
    const c = s.charCodeAt(i);
    if (isSpace(c)) i++;
    else if (c === 35 || (c === 45 && isLineComment(s, i, n))) i = lineEnd(s, i, n);
    else if (c === 47 && i + 1 < n && s.charCodeAt(i + 1) === 42 && !isKeptComment(s, i, n)) i = blockEnd(s, i + 2, n);
    else return i;
  }
  return n;
}

export function isQuote(c: number): boolean {
  return c === 39 || c === 34;
}
