/**
 * Substitutes the session's own LAST_INSERT_ID(), ROW_COUNT() and CONNECTION_ID() into a
 * statement. When client sessions are multiplexed, the next statement may run on a backend
 * connection whose LAST_INSERT_ID()/ROW_COUNT() belong to another session, and whose thread
 * id is not the id the client was given (the one KILL takes). dbmesh knows this session's
 * values (from the OK packets it relayed, and the id it handed out), so it writes them in as
 * literals. A call that is a whole select-list item keeps its column name (`SELECT
 * CONNECTION_ID()` still has a column named `CONNECTION_ID()`).
 *
 * Only the exact calls are replaced (whitespace and comments allowed between the tokens,
 * content of executable comments included). Left alone: strings, quoted identifiers,
 * comments, `LAST_INSERT_ID(expr)` (it sets the value and must run on the server), qualified
 * names (`db.row_count()` is a stored function), anything after the first `;` (an earlier
 * statement of the batch may change the value), and routine, trigger, event and view bodies
 * (CREATE / ALTER / BEGIN ...: they are evaluated later). Pure and synchronous; one
 * module-level Lexer is reused.
 */
import { Lexer, TK_EOF, TK_EXEC_CLOSE, TK_EXEC_OPEN, TK_PUNCT, TK_WORD } from './lexer.js';

/** `last_insert_id` not written as the empty call `LAST_INSERT_ID()`. */
const SETS_LAST_INSERT_ID = /last_insert_id(?!\s*\(\s*\))/i;

/** Cheap pre-check so most statements are never lexed. */
const MAY_CONTAIN = /last_insert_id|row_count|connection_id/i;

const lx = new Lexer();

/** The session's values; null leaves that call to the server. */
export interface SessionValues {
  readonly lastInsertId: bigint | number | null;
  readonly rowCount: number | null;
  readonly connectionId: number | null;
}

/** Words that end a select list at their depth. */
const AFTER_SELECT_LIST = new Set(['FROM', 'WHERE', 'GROUP', 'HAVING', 'ORDER', 'LIMIT', 'UNION', 'INTO', 'FOR', 'LOCK', 'WINDOW', 'EXCEPT', 'INTERSECT', 'OFFSET', 'FETCH', 'RETURNING']);

/** The statement sets LAST_INSERT_ID() itself (LAST_INSERT_ID(expr), SET STATEMENT last_insert_id = ... FOR). */
export function setsLastInsertId(sql: string): boolean {
  return SETS_LAST_INSERT_ID.test(sql);
}

/** `sql` with the session's values written in, or null when nothing was replaced. */
export function rewriteSessionFunctions(sql: string, v: SessionValues): string | null {
  if (!MAY_CONTAIN.test(sql)) return null;
  // The statement sets LAST_INSERT_ID itself (LAST_INSERT_ID(expr), SET STATEMENT
  // last_insert_id = ... FOR): its LAST_INSERT_ID() calls are the server's to answer.
  if (v.lastInsertId !== null && SETS_LAST_INSERT_ID.test(sql)) v = { ...v, lastInsertId: null };
  lx.reset(sql);
  let out = '';
  let copied = 0; // sql[0..copied) is already in `out`
  let prevDot = false;
  let first = true;
  // Select-list tracking, per parenthesis depth: in a select list, and whether the previous
  // token could start an item (SELECT, DISTINCT, ALL or a comma).
  const inList: boolean[] = [false];
  let itemStart = false;
  let inExec = false;
  let k = lx.next();
  while (k !== TK_EOF) {
    if (k === TK_EXEC_OPEN || k === TK_EXEC_CLOSE) {
      inExec = k === TK_EXEC_OPEN;
      k = lx.next();
      continue;
    }
    if (first && (lx.is('CREATE') || lx.is('ALTER') || lx.is('BEGIN'))) return null;
    first = false;
    if (lx.isPunct(';')) break;
    const depth = inList.length - 1;
    if (k !== TK_WORD || prevDot) {
      prevDot = lx.isPunct('.');
      if (k === TK_PUNCT && lx.isPunct('(')) inList.push(false);
      else if (k === TK_PUNCT && lx.isPunct(')') && depth > 0) inList.pop();
      itemStart = k === TK_PUNCT && lx.isPunct(',') && inList[inList.length - 1]!;
      k = lx.next();
      continue;
    }
    const fn = lx.is('LAST_INSERT_ID') ? 1 : lx.is('ROW_COUNT') ? 2 : lx.is('CONNECTION_ID') ? 3 : 0;
    if (fn === 0) {
      if (lx.is('SELECT')) inList[depth] = true;
      else if (AFTER_SELECT_LIST.has(lx.upper())) inList[depth] = false;
      itemStart = inList[depth]! && (lx.is('SELECT') || lx.is('DISTINCT') || lx.is('ALL') || lx.is('DISTINCTROW'));
      k = lx.next();
      continue;
    }
    const wholeItem = itemStart && !inExec;
    itemStart = false;
    const start = lx.start;
    // Raw next() inside the call: a match never spans an executable comment's bounds, so
    // cutting it out cannot leave a `/*!` without its `*\/`.
    k = lx.next();
    if (!lx.isPunct('(')) continue; // the current token is examined next round
    k = lx.next();
    if (!lx.isPunct(')')) continue; // LAST_INSERT_ID(expr): leave it, look inside
    const end = lx.end;
    const value = fn === 1 ? v.lastInsertId : fn === 2 ? v.rowCount : v.connectionId;
    k = lx.next();
    // Unknown, or not known exactly (a number past 2^53): the server's own value stands.
    if (value === null || (typeof value === 'number' && !Number.isSafeInteger(value))) continue;
    // `ROW_COUNT()FROM` must not become `0FROM` (an identifier in MySQL), nor
    // `/*!50000LAST_INSERT_ID()` become `/*!5000042` (version digits).
    const before = start > 0 && needsSpace(sql.charCodeAt(start - 1)) ? ' ' : '';
    const after = end < sql.length && needsSpace(sql.charCodeAt(end)) ? ' ' : '';
    const ends = k === TK_EOF || lx.isPunct(',') || lx.isPunct(';') || lx.isPunct(')') || (k === TK_WORD && AFTER_SELECT_LIST.has(lx.upper()));
    const alias = wholeItem && ends ? ` AS \`${sql.slice(start, end).replace(/`/g, '``')}\`` : '';
    out += sql.slice(copied, start) + before + typed(fn, value) + alias + after;
    copied = end;
  }
  return copied === 0 ? null : out + sql.slice(copied);
}

/**
 * The value as an expression of the same column type the call has (so column metadata, and
 * what drivers decode it as, stay the server's): LAST_INSERT_ID() is BIGINT UNSIGNED,
 * ROW_COUNT() BIGINT, CONNECTION_ID() INT UNSIGNED.
 */
function typed(fn: number, v: bigint | number): string {
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new RangeError(`not an exact integer: ${v}`);
  if (fn === 1) return `(${v} | 0)`;
  if (fn === 2) return `GREATEST(${v}, -9223372036854775807)`;
  return `CAST(${v} AS UNSIGNED)`;
}

/** Characters that would fuse with a number literal written next to them. */
function needsSpace(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
    c === 95 || c === 36 || c === 46 || c >= 0x80;
}
