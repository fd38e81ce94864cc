/**
 * One pass over the tokens of a statement body (up to a top-level `;` or end of input)
 * collecting the features that force the primary or pin the session. Uses one token of
 * look-behind only, so it allocates nothing for ordinary words.
 */
import { Lexer, TK_EOF, TK_EXEC_CLOSE, TK_EXEC_OPEN, TK_PUNCT, TK_SYSVAR, TK_VARIABLE, TK_WORD } from './lexer.js';

export const F_LOCKING_READ = 1 << 0;
export const F_INTO = 1 << 1;
export const F_INTO_VAR = 1 << 2;
export const F_GET_LOCK = 1 << 3;
export const F_LOCK_FN = 1 << 4;
export const F_SESSION_FN = 1 << 5;
export const F_SEQUENCE = 1 << 6;
export const F_CALC_FOUND_ROWS = 1 << 7;
export const F_USER_VAR_ASSIGN = 1 << 8;
export const F_USER_VAR_READ = 1 << 9;
export const F_READ_LOCK = 1 << 10;
/** A write verb right after a `)` at top level: `WITH c AS (...) UPDATE ...`. */
export const F_TOP_WRITE = 1 << 11;

const W_OTHER = 0, W_FOR = 1, W_LOCK = 2, W_INTO = 3, W_NEXT = 4, W_READ = 5;
const W_LOCKED_NOUN = 6, W_IN = 7, W_VALUE = 8, W_WRITE_VERB = 9;

/** Leaves `lx` on the terminating `;` or EOF. */
export function scanBody(lx: Lexer): number {
  let f = 0;
  let depth = 0;
  let prev = W_OTHER;
  let prevKind = TK_EOF;
  let prevClose = false;
  for (let k = lx.next(); k !== TK_EOF; k = lx.next()) {
    if (k === TK_EXEC_OPEN || k === TK_EXEC_CLOSE) continue;
    let cur = W_OTHER;
    let close = false;
    if (k === TK_WORD) {
      cur = wordId(lx);
      f |= wordFeature(lx, cur, prev);
      if (cur === W_WRITE_VERB && prevClose && depth <= 0) f |= F_TOP_WRITE;
    } else if (k === TK_VARIABLE) {
      f |= F_USER_VAR_READ | (prev === W_INTO ? F_INTO_VAR : 0);
    } else if (k === TK_SYSVAR) {
      const u = lx.upper();
      if (u.endsWith('IDENTITY') || u.endsWith('LAST_INSERT_ID')) f |= F_SESSION_FN;
    } else if (k === TK_PUNCT) {
      const c = lx.sql.charCodeAt(lx.start);
      if (c === 59 && depth <= 0) break; // ;
      if (c === 40) depth++;
      else if (c === 41) { depth--; close = true; }
      else if (c === 58 && lx.end - lx.start === 2 && prevKind === TK_VARIABLE) f |= F_USER_VAR_ASSIGN; // :=
    }
    prev = cur;
    prevKind = k;
    prevClose = close;
  }
  return f;
}

function wordId(lx: Lexer): number {
  switch (lx.end - lx.start) {
    case 2: return lx.is('IN') ? W_IN : W_OTHER;
    case 3: return lx.is('FOR') ? W_FOR : W_OTHER;
    case 4:
      if (lx.is('LOCK')) return W_LOCK;
      if (lx.is('INTO')) return W_INTO;
      if (lx.is('NEXT')) return W_NEXT;
      return lx.is('READ') ? W_READ : W_OTHER;
    case 5: return lx.is('SHARE') ? W_LOCKED_NOUN : lx.is('VALUE') ? W_VALUE : W_OTHER;
    case 6:
      if (lx.is('UPDATE')) return W_WRITE_VERB;
      return lx.is('INSERT') || lx.is('DELETE') ? W_WRITE_VERB : W_OTHER;
    case 7: return lx.is('REPLACE') ? W_WRITE_VERB : W_OTHER;
    case 8: return lx.is('PREVIOUS') ? W_NEXT : W_OTHER;
    default: return W_OTHER;
  }
}

/** Features from the current word given the previous one. */
function wordFeature(lx: Lexer, cur: number, prev: number): number {
  if (prev === W_FOR && (cur === W_LOCKED_NOUN || (cur === W_WRITE_VERB && lx.is('UPDATE')))) return F_LOCKING_READ;
  if (prev === W_LOCK && cur === W_IN) return F_LOCKING_READ;
  if (prev === W_READ && cur === W_LOCK) return F_READ_LOCK;
  if (prev === W_NEXT && cur === W_VALUE) return F_SEQUENCE;
  if (cur === W_INTO) return F_INTO;
  if (cur !== W_OTHER) return 0;
  return functionFeature(lx);
}

function functionFeature(lx: Lexer): number {
  switch (lx.end - lx.start) {
    case 6: return lx.is('SETVAL') ? F_SEQUENCE : 0;
    case 7: return lx.is('NEXTVAL') || lx.is('LASTVAL') ? F_SEQUENCE : 0;
    case 8: return lx.is('GET_LOCK') ? F_GET_LOCK : 0;
    case 9: return lx.is('ROW_COUNT') ? F_SESSION_FN : 0;
    case 10: return lx.is('FOUND_ROWS') ? F_SESSION_FN : 0;
    case 12: return lx.is('RELEASE_LOCK') || lx.is('IS_USED_LOCK') || lx.is('IS_FREE_LOCK') ? F_LOCK_FN : 0;
    case 14: return lx.is('LAST_INSERT_ID') ? F_SESSION_FN : 0;
    case 17: return lx.is('RELEASE_ALL_LOCKS') ? F_LOCK_FN : 0;
    case 19: return lx.is('SQL_CALC_FOUND_ROWS') ? F_CALC_FOUND_ROWS : 0;
    default: return 0;
  }
}
