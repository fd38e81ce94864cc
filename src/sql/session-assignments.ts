/**
 * Session SET statements that can be replayed. When client sessions are multiplexed over
 * pooled backend connections, session state set by the client (character set, sql_mode,
 * time zone, isolation level, ...) must be re-applied on whichever connection runs the
 * client's next statement. This module decides which SET statements are safe to replay
 * verbatim and keeps the replay list: one entry per piece of state, in order of last change.
 *
 * Only literal values qualify: a value that reads other state (`@@x`, `@v`, a function, a
 * subquery, an expression) could evaluate differently on another connection. GLOBAL scope,
 * one-shot `SET TRANSACTION` (next transaction only) and `SET STATEMENT ... FOR` are not
 * session state; they give null and the caller decides. Callers apply the result only after
 * the server answered OK, so a statement the server rejects is never replayed.
 * Pure and synchronous; one module-level Lexer is reused.
 */
import { Lexer, TK_EOF, TK_EXEC_CLOSE, TK_EXEC_OPEN, TK_NUMBER, TK_PUNCT, TK_QUOTED_ID, TK_STRING,
  TK_SYSVAR, TK_WORD } from './lexer.js';
import { isTrackedVariable, sessionVariableName } from './session-vars.js';

export interface SessionAssignment {
  /** Which piece of state this sets; a later assignment with the same key replaces it. */
  readonly key: string;
  /** The assignment as it follows `SET ` in a replay statement. */
  readonly text: string;
}

/**
 * SET NAMES and SET CHARACTER SET each set character_set_client, _connection, _results and
 * collation_connection, so either one makes earlier assignments of all of these moot.
 */
const CHARSET_KEYS = ['NAMES', 'CHARSET', 'CHARACTER_SET_CLIENT', 'CHARACTER_SET_CONNECTION',
  'CHARACTER_SET_RESULTS', 'COLLATION_CONNECTION'];

/** Keywords that read like bare words but evaluate as functions without parentheses. */
const FUNCTION_WORDS = new Set(['CURRENT_USER', 'CURRENT_ROLE', 'CURRENT_DATE', 'CURRENT_TIME',
  'CURRENT_TIMESTAMP', 'LOCALTIME', 'LOCALTIMESTAMP', 'UTC_DATE', 'UTC_TIME', 'UTC_TIMESTAMP']);

/**
 * `/*!NNNNN ... *\/` runs only on servers at least version NNNNN, and MySQL ignores `/*M!`.
 * Content replayed without its comment must run everywhere the original ran, so only
 * unversioned `/*!` or versions every supported server exceeds (MySQL 5.7, MariaDB 10.x
 * reporting 10xxxx, TiDB reporting 5.7.25 or 8.0.11) are accepted, as mysqldump writes them.
 */
const EXEC_VERSION_FLOOR = 50700;

const lx = new Lexer();
/** Set when an executable comment is not known to run on every server. */
let rejected = false;

/** The assignments of a single SET statement when all are replayable session state, else null. */
export function sessionAssignments(sql: string): SessionAssignment[] | null {
  lx.reset(sql);
  rejected = false;
  advance();
  if (!lx.is('SET')) return null;
  advance();
  const out: SessionAssignment[] = [];
  for (let first = true; ; first = false) {
    const scoped = lx.is('SESSION') || lx.is('LOCAL');
    if (scoped) advance();
    if (scoped && first && lx.is('TRANSACTION')) {
      // SET SESSION TRANSACTION takes the whole statement (MySQL grammar: no other assignments).
      if (!characteristics(out)) return null;
      break;
    }
    if (!assignment(out, scoped)) return null;
    if (!lx.isPunct(',')) break;
    advance();
  }
  if (lx.isPunct(';')) advance();
  return lx.kind === TK_EOF && !rejected ? out : null;
}

/**
 * Record `list` in `map` (key -> text). Each key is deleted and re-inserted, so iteration
 * order is the order of last assignment, which is the order replay must follow (for example
 * character_set_client set after SET NAMES must stay after it).
 */
export function applyAssignments(map: Map<string, string>, list: readonly SessionAssignment[]): void {
  for (const a of list) {
    if (a.key === 'NAMES' || a.key === 'CHARSET') for (const k of CHARSET_KEYS) map.delete(k);
    else map.delete(a.key);
    map.set(a.key, a.text);
  }
}

/** One SET statement per recorded piece of state, in the order they must run. */
export function replayStatements(map: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const text of map.values()) out.push('SET ' + text);
  return out;
}

/** Next token, stepping over executable-comment bounds (their content is SQL). */
function advance(): void {
  lx.next();
  settle();
}

function settle(): void {
  for (;;) {
    if (lx.kind === TK_EXEC_OPEN) {
      if (!runsEverywhere()) rejected = true;
    } else if (lx.kind !== TK_EXEC_CLOSE) return;
    lx.next();
  }
}

/** The current EXEC_OPEN token (`/*!`, `/*!40101`, `/*M!100000`) runs on every server. */
function runsEverywhere(): boolean {
  const s = lx.sql;
  if (s.charCodeAt(lx.start + 2) !== 33) return false; // `/*M!`
  return lx.end === lx.start + 3 || Number(s.slice(lx.start + 3, lx.end)) <= EXEC_VERSION_FLOOR;
}

/** One assignment; `lx` is on its first token (after any SESSION/LOCAL). */
function assignment(out: SessionAssignment[], scoped: boolean): boolean {
  if (lx.kind === TK_SYSVAR) {
    if (scoped) return false;
    const upper = lx.upper();
    const bare = sessionVariableName(upper); // '' for @@GLOBAL. and @@PERSIST.
    if (bare === '') return false;
    return variable(out, lx.text().slice(upper.length - bare.length));
  }
  if (lx.kind !== TK_WORD) return false; // @user variables, quoted names
  if (!scoped && lx.is('NAMES')) return names(out);
  if (!scoped && lx.is('CHARSET')) return charset(out);
  if (!scoped && lx.is('CHARACTER')) {
    advance();
    return lx.is('SET') && charset(out);
  }
  // GLOBAL / PERSIST read as a variable name here and fail isTrackedVariable.
  return variable(out, lx.text());
}

/** `lx` is on the variable name; `name` is as written, without `@@` and scope. */
function variable(out: SessionAssignment[], name: string): boolean {
  const upper = name.toUpperCase();
  if (!isTrackedVariable(upper)) return false;
  advance();
  if (!lx.isPunct('=') && !lx.isPunct(':=')) return false;
  advance();
  const v = literal();
  if (v === null) return false;
  out.push({ key: variableKey(upper), text: `@@SESSION.${name} = ${v}` });
  return true;
}

/** tx_* are the older names of transaction_*: one piece of state, one key. */
function variableKey(upper: string): string {
  if (upper === 'TX_ISOLATION') return 'TRANSACTION_ISOLATION';
  if (upper === 'TX_READ_ONLY') return 'TRANSACTION_READ_ONLY';
  return upper;
}

/** `lx` is on NAMES: `NAMES cs [COLLATE coll]`. */
function names(out: SessionAssignment[]): boolean {
  advance();
  const cs = nameLiteral();
  if (cs === null) return false;
  let text = 'NAMES ' + cs;
  if (lx.is('COLLATE')) {
    advance();
    const coll = nameLiteral();
    if (coll === null) return false;
    text += ' COLLATE ' + coll;
  }
  out.push({ key: 'NAMES', text });
  return true;
}

/** `lx` is on CHARSET or on the SET of CHARACTER SET. */
function charset(out: SessionAssignment[]): boolean {
  advance();
  const cs = nameLiteral();
  if (cs === null) return false;
  out.push({ key: 'CHARSET', text: 'CHARACTER SET ' + cs });
  return true;
}

/** `lx` is on TRANSACTION: `characteristic [, characteristic]`. */
function characteristics(out: SessionAssignment[]): boolean {
  for (;;) {
    advance();
    if (lx.is('ISOLATION')) {
      advance();
      if (!lx.is('LEVEL')) return false;
      advance();
      const level = isolationLevel();
      if (level === null) return false;
      out.push({ key: 'TRANSACTION_ISOLATION', text: 'SESSION TRANSACTION ISOLATION LEVEL ' + level });
    } else if (lx.is('READ')) {
      advance();
      const mode = lx.is('ONLY') ? 'READ ONLY' : lx.is('WRITE') ? 'READ WRITE' : null;
      if (mode === null) return false;
      advance();
      out.push({ key: 'TRANSACTION_READ_ONLY', text: 'SESSION TRANSACTION ' + mode });
    } else return false;
    if (!lx.isPunct(',')) return true;
  }
}

function isolationLevel(): string | null {
  let level: string | null = null;
  if (lx.is('SERIALIZABLE')) level = 'SERIALIZABLE';
  else if (lx.is('REPEATABLE')) {
    advance();
    if (lx.is('READ')) level = 'REPEATABLE READ';
  } else if (lx.is('READ')) {
    advance();
    level = lx.is('COMMITTED') ? 'READ COMMITTED' : lx.is('UNCOMMITTED') ? 'READ UNCOMMITTED' : null;
  }
  if (level !== null) advance();
  return level;
}

/** A character set or collation: a bare word, a string or a quoted name, as written. */
function nameLiteral(): string | null {
  const k = lx.kind;
  if (k !== TK_STRING && k !== TK_QUOTED_ID && (k !== TK_WORD || FUNCTION_WORDS.has(lx.upper()))) return null;
  const text = lx.text();
  advance();
  return text;
}

/**
 * A literal value as written: a number (optionally signed), a string, a quoted name, or bare
 * words joined by `-` (REPEATABLE-READ). Leaves `lx` on the next token; whatever follows
 * (`(`, an operator, another string) makes the caller see no `,`/`;`/end and refuse.
 */
function literal(): string | null {
  const start = lx.start;
  if (lx.isPunct('-') || lx.isPunct('+')) {
    if (lx.next() !== TK_NUMBER) return null; // raw next: no comment bounds inside a value
    const end = lx.end;
    advance();
    return lx.sql.slice(start, end);
  }
  const k = lx.kind;
  if (k === TK_NUMBER) {
    const text = lx.text();
    advance();
    return text;
  }
  if (k !== TK_WORD) return nameLiteral();
  if (FUNCTION_WORDS.has(lx.upper())) return null;
  let end = lx.end;
  while (lx.next() === TK_PUNCT && lx.isPunct('-')) {
    if (lx.next() !== TK_WORD || FUNCTION_WORDS.has(lx.upper())) return null;
    end = lx.end;
  }
  settle();
  return lx.sql.slice(start, end);
}
