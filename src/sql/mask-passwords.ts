/**
 * Statement text safe for logs: the password literals of account statements and of
 * PASSWORD()-like functions become '***' (same quote character). Covered: IDENTIFIED BY
 * [PASSWORD] 'x', IDENTIFIED WITH|VIA plugin BY|AS|USING 'x' (and MariaDB's `OR plugin USING
 * 'y'`), MySQL 8's REPLACE 'current', SET PASSWORD [FOR user] = 'x', PASSWORD('x'),
 * OLD_PASSWORD('x'), and any `*_PASSWORD = 'x'` option (CHANGE MASTER TO MASTER_PASSWORD,
 * SOURCE_PASSWORD, START SLAVE ... PASSWORD, CREATE SERVER ... OPTIONS (PASSWORD 'x')).
 *
 * Statements without "password" or "identified" (nearly all of them) are returned as they
 * came after one regex test; the rest are read with the shared Lexer, so quotes, escapes and
 * comments between the words are handled as the routing code handles them, and the content
 * of executable comments is read as SQL (a password there is masked too).
 */
import { Lexer, TK_EOF, TK_EXEC_CLOSE, TK_EXEC_OPEN, TK_STRING, TK_WORD } from './lexer.js';

const MAY_HOLD_PASSWORD = /password|identified/i;

// Where the reader is; each state says what it waits for.
const S_NONE = 0;
const S_IDENTIFIED = 1; // BY, WITH or VIA
const S_PLUGIN = 2; // a plugin name (any token)
const S_AFTER_PLUGIN = 3; // BY, AS or USING
const S_SECRET = 4; // the password string, maybe after `(`, `=` or an introducer
const S_PASSWORD_WORD = 5; // after PASSWORD / *_PASSWORD: `(`, `=`, a string, or FOR
const S_SET_FOR = 6; // SET PASSWORD FOR account ... until `=`
const S_AFTER_SECRET = 7; // REPLACE 'current' or OR plugin

const lx = new Lexer();

/** Returns the same string object when nothing needed masking. */
export function maskPasswords(sql: string): string {
  if (!MAY_HOLD_PASSWORD.test(sql)) return sql;
  const spans = findSecrets(sql);
  return spans.length === 0 ? sql : rewrite(sql, spans);
}

/** [start, end) pairs of the password string tokens, in order. */
function findSecrets(sql: string): number[] {
  const spans: number[] = [];
  let state = S_NONE;
  lx.reset(sql);
  for (let k = lx.next(); k !== TK_EOF; k = lx.next()) {
    if (k === TK_EXEC_OPEN || k === TK_EXEC_CLOSE) continue;
    state = step(state, k, spans);
  }
  return spans;
}

function step(state: number, kind: number, spans: number[]): number {
  switch (state) {
    case S_SECRET:
    case S_PASSWORD_WORD:
      if (kind === TK_STRING) {
        spans.push(lx.start, lx.end);
        return S_AFTER_SECRET;
      }
      if (lx.isPunct('(') || lx.isPunct('=') || isIntroducer()) return S_SECRET;
      if (state === S_PASSWORD_WORD && lx.is('FOR')) return S_SET_FOR;
      break;
    case S_SET_FOR:
      if (lx.isPunct('=')) return S_SECRET;
      if (lx.isPunct(';') || lx.is('TO')) return S_NONE;
      return S_SET_FOR;
    case S_IDENTIFIED:
      if (lx.is('BY')) return S_SECRET;
      if (lx.is('WITH') || lx.is('VIA')) return S_PLUGIN;
      break;
    case S_PLUGIN:
      return S_AFTER_PLUGIN;
    case S_AFTER_PLUGIN:
      if (lx.is('BY') || lx.is('AS') || lx.is('USING')) return S_SECRET;
      break;
    case S_AFTER_SECRET:
      if (lx.is('REPLACE')) return S_SECRET;
      if (lx.is('OR')) return S_PLUGIN;
      break;
  }
  // Not what the state waited for: this token may start a new match (BY PASSWORD 'x' does).
  if (kind !== TK_WORD) return S_NONE;
  if (lx.is('IDENTIFIED')) return S_IDENTIFIED;
  return isPasswordWord() ? S_PASSWORD_WORD : S_NONE;
}

/** `_utf8mb4'x'`, `N'x'`, `X'...'`: the lexer reads the prefix as a word before the string. */
function isIntroducer(): boolean {
  if (lx.kind !== TK_WORD) return false;
  return lx.sql.charCodeAt(lx.start) === 95 || lx.is('N') || lx.is('X') || lx.is('B');
}

/** PASSWORD, OLD_PASSWORD, MASTER_PASSWORD, SOURCE_PASSWORD, ... */
function isPasswordWord(): boolean {
  if (lx.is('PASSWORD')) return true;
  const suffix = '_PASSWORD';
  const at = lx.end - suffix.length;
  if (at <= lx.start) return false;
  for (let k = 0; k < suffix.length; k++) {
    let c = lx.sql.charCodeAt(at + k);
    if (c >= 97 && c <= 122) c -= 32;
    if (c !== suffix.charCodeAt(k)) return false;
  }
  return true;
}

function rewrite(sql: string, spans: number[]): string {
  let text = '';
  let last = 0;
  for (let k = 0; k < spans.length; k += 2) {
    const start = spans[k] as number;
    const quote = sql[start] as string;
    text += sql.slice(last, start) + quote + '***' + quote;
    last = spans[k + 1] as number;
  }
  return text + sql.slice(last);
}
