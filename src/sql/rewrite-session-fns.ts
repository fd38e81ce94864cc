/**
 * Substitutes the session's own LAST_INSERT_ID() and ROW_COUNT() values into a statement.
 * When client sessions are multiplexed, the next statement may run on a backend connection
 * whose LAST_INSERT_ID()/ROW_COUNT() belong to another session. dbmesh knows this session's
 * values from the OK packets it relayed, so it writes them in as literals.
 *
 * Only the exact calls `LAST_INSERT_ID()` and `ROW_COUNT()` are replaced (whitespace and
 * comments allowed between the tokens, content of executable comments included). Left alone:
 * strings, quoted identifiers, comments, `LAST_INSERT_ID(expr)` (it sets the value and must
 * run on the server), qualified names (`db.row_count()` is a stored function), anything
 * after the first `;` (an earlier statement of the batch may change the value), and routine,
 * trigger, event and view bodies (CREATE / ALTER / BEGIN ...: they are evaluated later).
 * Pure and synchronous; one module-level Lexer is reused.
 */
import { Lexer, TK_EOF, TK_EXEC_CLOSE, TK_EXEC_OPEN, TK_WORD } from './lexer.js';

/** Cheap pre-check so most statements are never lexed. */
const MAY_CONTAIN = /last_insert_id|row_count/i;

const lx = new Lexer();

/**
 * `sql` with every `LAST_INSERT_ID()` replaced by `lastInsertId` and every `ROW_COUNT()` by
 * `rowCount` (negatives parenthesised), or null when nothing was replaced.
 */
export function rewriteSessionFunctions(sql: string, lastInsertId: bigint | number, rowCount: number): string | null {
  if (!MAY_CONTAIN.test(sql)) return null;
  lx.reset(sql);
  let out = '';
  let copied = 0; // sql[0..copied) is already in `out`
  let prevDot = false;
  let first = true;
  let k = nextToken();
  while (k !== TK_EOF) {
    if (first && (lx.is('CREATE') || lx.is('ALTER') || lx.is('BEGIN'))) return null;
    first = false;
    if (lx.isPunct(';')) break;
    if (k !== TK_WORD || prevDot) {
      prevDot = lx.isPunct('.');
      k = nextToken();
      continue;
    }
    const fn = lx.is('LAST_INSERT_ID') ? 1 : lx.is('ROW_COUNT') ? 2 : 0;
    const start = lx.start;
    // Raw next() inside the call: a match never spans an executable comment's bounds, so
    // cutting it out cannot leave a `/*!` without its `*\/`.
    k = lx.next();
    if (fn === 0 || !lx.isPunct('(')) continue; // the current token is examined next round
    k = lx.next();
    if (!lx.isPunct(')')) continue; // LAST_INSERT_ID(expr): leave it, look inside
    const end = lx.end;
    const value = fn === 1 ? literal(lastInsertId) : literal(rowCount);
    // `ROW_COUNT()FROM` must not become `0FROM` (an identifier in MySQL), nor
    // `/*!50000LAST_INSERT_ID()` become `/*!5000042` (version digits).
    const before = start > 0 && needsSpace(sql.charCodeAt(start - 1)) ? ' ' : '';
    const after = end < sql.length && needsSpace(sql.charCodeAt(end)) ? ' ' : '';
    out += sql.slice(copied, start) + before + value + after;
    copied = end;
    k = nextToken();
  }
  return copied === 0 ? null : out + sql.slice(copied);
}

/** Next token, stepping over executable-comment bounds: their content runs as SQL. */
function nextToken(): number {
  let k = lx.next();
  while (k === TK_EXEC_OPEN || k === TK_EXEC_CLOSE) k = lx.next();
  return k;
}

function literal(v: bigint | number): string {
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new RangeError(`not an integer: ${v}`);
  return v < 0 ? `(${v})` : String(v);
}

/** Characters that would fuse with a number literal written next to them. */
function needsSpace(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
    c === 95 || c === 36 || c === 46 || c >= 0x80;
}
