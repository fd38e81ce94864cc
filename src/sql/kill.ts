/**
 * KILL statements. dbmesh hands out its own connection ids, so `KILL [HARD|SOFT]
 * [CONNECTION|QUERY] <id>` is translated to the backend thread serving that dbmesh session.
 * `KILL QUERY ID <query id>` and `KILL USER <name>` are not about connection ids and pass
 * through unchanged. Any other KILL (an expression such as `KILL 0x1f` or `KILL 15+1`, or a
 * KILL inside an executable comment) is refused: the server would read its value as a
 * backend thread id, which is not an id the client was ever shown. Pure.
 */
import { Lexer, TK_EOF, TK_EXEC_CLOSE, TK_EXEC_OPEN, TK_NUMBER, TK_WORD } from './lexer.js';

export interface KillStatement {
  readonly scope: 'connection' | 'query';
  /** Modifier as written (HARD / SOFT) or empty. */
  readonly modifier: string;
  readonly id: number;
}

export type KillVerdict =
  | { readonly kind: 'translate'; readonly stmt: KillStatement }
  | { readonly kind: 'pass' }
  | { readonly kind: 'refuse' };

const PASS: KillVerdict = { kind: 'pass' };
const REFUSE: KillVerdict = { kind: 'refuse' };
const LITERAL_RE = /^kill\s+(?:(hard|soft)\s+)?(?:(connection|query)\s+)?(\d{1,10})\s*;?\s*$/i;
const PASS_RE = /^kill\s+(?:(?:hard|soft)\s+)?(?:query\s+id\s|user\s)/i;
const KILL_WORD_RE = /^kill\b/i;

/**
 * Cheap pre-check on a raw COM_QUERY payload whose command byte is at `start` (the text
 * follows it). Allocates nothing.
 */
export function mayBeKill(buf: Buffer, start = 0): boolean {
  let i = start + 1;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
  const c = buf[i];
  if (c === 0x2f || c === 0x2d || c === 0x23) return true; // a leading comment: look closer
  return i + 4 <= buf.length && (buf[i]! | 0x20) === 0x6b && (buf[i + 1]! | 0x20) === 0x69 &&
    (buf[i + 2]! | 0x20) === 0x6c && (buf[i + 3]! | 0x20) === 0x6c;
}

/**
 * Skip leading white space and plain comments. Returns the rest, or, when the text opens an
 * executable comment (`/*!...`, `/*M!...`), the comment's content prefixed with `!`.
 */
function afterComments(sql: string): string {
  let s = sql.trimStart();
  for (;;) {
    if (s.startsWith('/*!') || s.startsWith('/*M!')) return '!' + s.replace(/^\/\*M?!\d*/, '').trimStart();
    if (s.startsWith('/*')) {
      const end = s.indexOf('*/', 2);
      if (end < 0) return '';
      s = s.slice(end + 2).trimStart();
    } else if (s.startsWith('--') || s.startsWith('#')) {
      const nl = s.indexOf('\n');
      if (nl < 0) return '';
      s = s.slice(nl + 1).trimStart();
    } else return s;
  }
}

export function classifyKill(sql: string): KillVerdict {
  const s = afterComments(sql);
  if (s.startsWith('!')) return KILL_WORD_RE.test(s.slice(1)) ? REFUSE : PASS;
  if (!KILL_WORD_RE.test(s)) return PASS;
  const m = LITERAL_RE.exec(s);
  if (m) {
    const id = Number(m[3]);
    if (id > 0xffffffff) return REFUSE;
    return { kind: 'translate', stmt: { scope: (m[2]?.toLowerCase() as 'connection' | 'query' | undefined) ?? 'connection', modifier: m[1]?.toUpperCase() ?? '', id } };
  }
  return PASS_RE.test(s) ? PASS : REFUSE;
}

/** The translated statement, or null when `sql` is not a KILL of a literal id. */
export function parseKill(sql: string): KillStatement | null {
  const v = classifyKill(sql);
  return v.kind === 'translate' ? v.stmt : null;
}

/** A KILL of a literal id inside a multi-statement text, and where it is. */
export interface KillInBatch {
  readonly stmt: KillStatement;
  /** Which statement of the text it is (0-based). */
  readonly index: number;
  /** The whole KILL statement [start, end), without its `;`. */
  readonly start: number;
  readonly end: number;
}

export interface Batch {
  /** Top-level statements in the text. */
  readonly statements: number;
  readonly kills: readonly KillInBatch[];
}

const batchLexer = new Lexer();

/**
 * The KILL statements of a (possibly multi-statement) text that name a connection id, for
 * translating each to a backend thread; 'refuse' when one names it any other way the server
 * would read as a backend thread id (an expression, a KILL inside an executable comment).
 * KILL QUERY ID and KILL USER are left as they are. Statements are split at top-level `;`.
 */
export function killsInBatch(sql: string): Batch | 'refuse' {
  const lx = batchLexer.reset(sql);
  const kills: KillInBatch[] = [];
  let statements = 0;
  let k = lx.next();
  while (k !== TK_EOF) {
    let inExec = false;
    while (k === TK_EXEC_OPEN || k === TK_EXEC_CLOSE) {
      inExec = k === TK_EXEC_OPEN;
      k = lx.next();
    }
    if (k === TK_EOF) break;
    if (lx.isPunct(';')) {
      k = lx.next();
      continue;
    }
    statements++;
    // A stored program's body (CREATE PROCEDURE ... KILL x, BEGIN NOT ATOMIC ... END) is
    // defined or run by the server later, not split here: its KILLs are not this text's.
    if (k === TK_WORD && startsProgram(lx)) return kills.length === 0 ? { statements: 0, kills } : 'refuse';
    if (k === TK_WORD && lx.is('KILL')) {
      if (inExec) return 'refuse';
      const one = killStatementAt(lx, statements - 1);
      if (one === 'refuse') return 'refuse';
      if (one !== null) kills.push(one);
    }
    while (lx.kind !== TK_EOF && !lx.isPunct(';')) lx.next();
    k = lx.kind;
  }
  return { statements, kills };
}

/**
 * `lx` is on a statement's first word: whether the statement holds a stored-program body
 * (CREATE/ALTER of a procedure, function, trigger, event or package, or a BEGIN NOT ATOMIC
 * block). CREATE and ALTER are taken whole (a CREATE TABLE holds no KILL either); `lx` moves on.
 */
function startsProgram(lx: Lexer): boolean {
  if (lx.is('CREATE') || lx.is('ALTER')) return true;
  if (!lx.is('BEGIN')) return false;
  lx.next();
  return lx.kind === TK_WORD && lx.is('NOT');
}

/** `lx` is on KILL: the statement, null when it is not about a connection id, or 'refuse'. */
function killStatementAt(lx: Lexer, index: number): KillInBatch | null | 'refuse' {
  const start = lx.start;
  let k = lx.next();
  let modifier = '';
  let scope: 'connection' | 'query' = 'connection';
  if (k === TK_WORD && (lx.is('HARD') || lx.is('SOFT'))) {
    modifier = lx.upper();
    k = lx.next();
  }
  if (k === TK_WORD && (lx.is('CONNECTION') || lx.is('QUERY'))) {
    scope = lx.is('QUERY') ? 'query' : 'connection';
    k = lx.next();
    if (scope === 'query' && k === TK_WORD && lx.is('ID')) return null;
  }
  if (k === TK_WORD && lx.is('USER')) return null;
  if (k !== TK_NUMBER || !/^\d{1,10}$/.test(lx.sql.slice(lx.start, lx.end))) return 'refuse';
  const id = Number(lx.sql.slice(lx.start, lx.end));
  const end = lx.end;
  k = lx.next();
  if (id > 0xffffffff || (k !== TK_EOF && !lx.isPunct(';'))) return 'refuse';
  return { stmt: { scope, modifier, id }, index, start, end };
}

export function formatKill(k: KillStatement, backendThreadId: number): string {
  return `KILL ${k.modifier ? k.modifier + ' ' : ''}${k.scope === 'query' ? 'QUERY' : 'CONNECTION'} ${backendThreadId}`;
}
