/**
 * The firewall's built-in guards: pure checks of a statement's text for shapes an
 * application never sends but an injection or a mistake does (an UPDATE with no WHERE, `OR
 * 1=1`, `UNION SELECT ... FROM information_schema` after a predicate, a quote closed and the
 * rest commented out, keywords split or hidden in comments, hex-encoded keywords, SLEEP() in a
 * WHERE), and statements a user must be allowed (file access, schema and privilege changes,
 * several statements in one). One pass of the lexer fills reused token arrays; each guard
 * reads them. No I/O; the first guard that fires gives the verdict.
 */
import {
  Lexer, TK_EOF, TK_EXEC_CLOSE, TK_EXEC_OPEN, TK_NUMBER, TK_PUNCT, TK_QUOTED_ID, TK_STRING, TK_SYSVAR, TK_WORD,
} from './lexer.js';

export const GUARD_NAMES = [
  'unbounded-write', 'tautology', 'union-injection', 'stacked-statements', 'comment-truncation',
  'hidden-keywords', 'encoded-keywords', 'sleep-in-where', 'server-probes', 'file-access', 'admin-statements', 'multi-statements',
] as const;
export type GuardName = typeof GUARD_NAMES[number];

/** Bit of each guard in an enabled-guards mask. */
export function guardBit(name: GuardName): number {
  return 1 << GUARD_NAMES.indexOf(name);
}
export const ALL_GUARDS = (1 << GUARD_NAMES.length) - 1;

/** What the session's user may do (its users[] flags). */
export interface GuardSubject {
  /** `admin`: schema and privilege changes, SET GLOBAL, SHUTDOWN, KILL of other sessions. */
  readonly admin: boolean;
  /** INTO OUTFILE / DUMPFILE, LOAD_FILE(), LOAD DATA (without LOCAL). */
  readonly fileAccess: boolean;
  /** Several statements in one COM_QUERY. */
  readonly multiStatements: boolean;
}

export interface GuardVerdict {
  readonly guard: GuardName;
  readonly detail: string;
}

// ---- token arrays, reused across calls (one worker thread)
const lexer = new Lexer();
let kinds = new Uint8Array(256);
let starts = new Uint32Array(256);
let ends = new Uint32Array(256);
let count = 0;
/** Upper-cased text of word tokens (filled lazily per token). */
let uppers: (string | undefined)[] = [];
let sql = '';
/** The checked session's connection id (KILL of it is no one else's). */
let ownConnectionId = 0;

function tokenize(text: string): void {
  sql = text;
  count = 0;
  lexer.reset(text);
  for (let k = lexer.next(); k !== TK_EOF; k = lexer.next()) {
    if (count === kinds.length) {
      const grow = (a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> => { const b = new Uint32Array(a.length * 2); b.set(a); return b; };
      const k2 = new Uint8Array(kinds.length * 2);
      k2.set(kinds);
      kinds = k2;
      starts = grow(starts);
      ends = grow(ends);
    }
    kinds[count] = k;
    starts[count] = lexer.start;
    ends[count] = lexer.end;
    count++;
  }
  // Two end markers, so that looking one or two tokens ahead never reads a stale token.
  if (count + 2 > kinds.length) {
    const k2 = new Uint8Array(count + 2);
    k2.set(kinds.subarray(0, count));
    kinds = k2;
    const s2 = new Uint32Array(count + 2);
    s2.set(starts.subarray(0, count));
    starts = s2;
    const e2 = new Uint32Array(count + 2);
    e2.set(ends.subarray(0, count));
    ends = e2;
  }
  kinds[count] = kinds[count + 1] = TK_EOF;
  starts[count] = starts[count + 1] = ends[count] = ends[count + 1] = text.length;
  if (uppers.length < count) uppers = new Array(count);
  for (let i = 0; i < count; i++) uppers[i] = undefined;
}

function word(i: number): string {
  if (i < 0 || i >= count || kinds[i] !== TK_WORD) return '';
  return uppers[i] ??= sql.slice(starts[i], ends[i]).toUpperCase();
}

function punct(i: number, ch: string): boolean {
  return i >= 0 && i < count && kinds[i] === TK_PUNCT && ends[i]! - starts[i]! === 1 && sql.charCodeAt(starts[i]!) === ch.charCodeAt(0);
}

/** The body of a string token (quotes off, doubled quotes kept: only compared). */
function stringBody(i: number): string {
  const s = starts[i]!;
  let e = ends[i]!;
  if (e - s >= 2 && sql.charCodeAt(e - 1) === sql.charCodeAt(s)) e--;
  return sql.slice(s + 1, e);
}

const LITERAL_WORDS = new Set(['TRUE', 'FALSE', 'NULL']);

function isLiteral(i: number): boolean {
  const k = kinds[i];
  return k === TK_NUMBER || k === TK_STRING || LITERAL_WORDS.has(word(i));
}

/** A literal's value as a number (MySQL's string-to-number: leading digits), NaN for NULL. */
function numeric(i: number): number {
  if (kinds[i] === TK_NUMBER) {
    const t = sql.slice(starts[i], ends[i]);
    return t.startsWith('0x') || t.startsWith('0X') ? parseInt(t.slice(2), 16) : Number(t);
  }
  const w = word(i);
  if (w === 'TRUE') return 1;
  if (w === 'FALSE') return 0;
  if (w === 'NULL') return NaN;
  const m = /^\s*[-+]?\d+(\.\d+)?/.exec(stringBody(i));
  return m === null ? 0 : Number(m[0]);
}

function sameLiteral(a: number, b: number): boolean {
  if (kinds[a] === TK_STRING && kinds[b] === TK_STRING) return stringBody(a).toLowerCase() === stringBody(b).toLowerCase();
  if (kinds[a] === TK_WORD && kinds[b] === TK_WORD) return word(a) === word(b);
  return numeric(a) === numeric(b) && !Number.isNaN(numeric(a));
}

/** Where the statement containing token `i` ends (index of its `;` or count). */
function statementEnd(i: number): number {
  while (i < count && !punct(i, ';')) i++;
  return i;
}

/**
 * `from` starts a comparison of two literals (or of one thing with itself) that is always
 * true: `1=1`, `'a'='a'`, `2>1`, `1 LIKE 1`, `x=x`, `'a'<>'b'`; or a lone true literal
 * (`1`, `TRUE`) followed by the end of the condition. Returns the index after it, or -1.
 */
function alwaysTrue(from: number, end: number): number {
  let i = from;
  while (punct(i, '(')) i++;
  if (i >= end) return -1;
  const a = i;
  const aOk = isLiteral(a) || kinds[a] === TK_WORD || kinds[a] === TK_QUOTED_ID;
  if (!aOk) return -1;
  let j = a + 1;
  let op = '';
  if (kinds[j] === TK_PUNCT) {
    op = sql[starts[j]!]!;
    j++;
    if (kinds[j] === TK_PUNCT && (op === '<' || op === '>' || op === '!') && (sql[starts[j]!] === '=' || sql[starts[j]!] === '>')) {
      op += sql[starts[j]!];
      j++;
    }
  } else if (word(j) === 'LIKE' || word(j) === 'IS') {
    op = word(j);
    j++;
    if (op === 'IS' && word(j) === 'NOT') {
      op = 'IS NOT';
      j++;
    }
  }
  if (op === '') {
    // A lone literal: true when non-zero, and the condition ends there.
    if (!isLiteral(a) || !(numeric(a) !== 0 && !Number.isNaN(numeric(a)))) return -1;
    while (punct(j, ')')) j++;
    const w = word(j);
    return j >= end || w === 'LIMIT' || w === 'ORDER' || w === 'GROUP' || w === 'AND' || w === 'OR' || punct(j, ';') ? j : -1;
  }
  const b = j;
  if (b >= end) return -1;
  const bothLiteral = isLiteral(a) && isLiteral(b);
  const sameName = (kinds[a] === TK_WORD || kinds[a] === TK_QUOTED_ID) && kinds[b] === kinds[a] &&
    sql.slice(starts[a], ends[a]).toLowerCase() === sql.slice(starts[b], ends[b]).toLowerCase() && !isLiteral(a);
  if (!bothLiteral && !(sameName && (op === '=' || op === 'LIKE' || op === '<=>' || op === '>=' || op === '<='))) return -1;
  let truth = false;
  switch (op) {
    case '=': case 'LIKE': case '<=': case '>=': case '<=>':
      truth = sameName || sameLiteral(a, b) || (op === '<=' && numeric(a) < numeric(b)) || (op === '>=' && numeric(a) > numeric(b));
      break;
    case '<>': case '!=':
      truth = !sameLiteral(a, b);
      break;
    case '<': truth = numeric(a) < numeric(b); break;
    case '>': truth = numeric(a) > numeric(b); break;
    case 'IS NOT': truth = word(b) === 'NULL' && kinds[a] !== TK_WORD; break;
    default: truth = false;
  }
  return truth ? b + 1 : -1;
}

const PREDICATE_START = new Set(['WHERE', 'HAVING', 'ON', 'WHEN']);
const SLEEPY = new Set(['SLEEP', 'BENCHMARK', 'GET_LOCK']);
const SYSTEM_SCHEMAS = new Set(['INFORMATION_SCHEMA', 'MYSQL', 'PERFORMANCE_SCHEMA', 'SYS']);
const PROBE_FUNCTIONS = new Set(['VERSION', 'USER', 'CURRENT_USER', 'SESSION_USER', 'SYSTEM_USER', 'DATABASE', 'SCHEMA', 'LOAD_FILE', 'CONNECTION_ID']);
/** Server facts an injection reads (blind, error-based): functions and server variables. */
const PROBE_FUNCTIONS_STRICT = new Set(['VERSION', 'USER', 'SYSTEM_USER', 'SESSION_USER', 'CONNECTION_ID', 'UUID']);
const PROBE_FUNCTIONS_LIKE = new Set(['DATABASE', 'SCHEMA', 'CURRENT_USER']);
/** Functions that take a value apart character by character (blind extraction). */
const DISSECT = new Set(['SUBSTRING', 'SUBSTR', 'MID', 'ASCII', 'ORD', 'LENGTH', 'CHAR_LENGTH', 'BIT_LENGTH', 'LEFT', 'RIGHT', 'HEX', 'BIN', 'LOCATE', 'INSTR', 'ELT', 'LPAD', 'RPAD', 'LOWER', 'UPPER']);
/** Functions error-based injection uses to make the server print a value in its error. */
const ERROR_FUNCTIONS = new Set(['EXTRACTVALUE', 'UPDATEXML', 'GTID_SUBSET', 'GTID_SUBTRACT', 'NAME_CONST', 'ST_LATFROMGEOHASH', 'ST_LONGFROMGEOHASH', 'ST_POINTFROMGEOHASH', 'JSON_KEYS', 'POLYGON', 'MULTIPOINT', 'GEOMETRYCOLLECTION', 'LINESTRING', 'MULTILINESTRING', 'MULTIPOLYGON']);
const STACKED_STARTS = new Set(['DROP', 'DELETE', 'INSERT', 'UPDATE', 'SHUTDOWN', 'GRANT', 'REVOKE', 'CREATE', 'ALTER', 'TRUNCATE', 'SELECT', 'SET', 'EXEC', 'EXECUTE', 'CALL', 'LOAD', 'RENAME', 'REPLACE', 'KILL', 'DO', 'HANDLER']);
const EXEC_KEYWORDS = /\b(union|select|sleep|benchmark|or|and|from|where|insert|update|delete|drop|load_file|outfile|dumpfile|having|concat|char)\b/i;
const DECODED_KEYWORDS = /\b(select|union|insert|update|delete|drop|sleep|benchmark|load_file|outfile|dumpfile|from|where|admin|root|password|or|and)\b|['"`;]|--|\/\*/i;

/** Text between token i-1 and token i (comments and space). */
function gapBefore(i: number): string {
  return sql.slice(i === 0 ? 0 : ends[i - 1], i < count ? starts[i] : sql.length);
}

function checkOne(enabled: number, who: GuardSubject): GuardVerdict | null {
  const on = (g: GuardName): boolean => (enabled & guardBit(g)) !== 0;
  let statements = 0;
  for (let i = 0; i < count; i = statementEnd(i) + 1) {
    if (statementEnd(i) > i) statements++;
  }
  if (on('multi-statements') && !who.multiStatements && statements > 1) {
    return { guard: 'multi-statements', detail: `${statements} statements in one query; this user may send one at a time (users[].multiStatements)` };
  }
  // Token-level scans over the whole text.
  let inPredicate = false;
  let first = true; // at a statement's first word
  let head = '';
  let sawWhere = false;
  let depth = 0;
  const intro = on('server-probes') && introspection();
  for (let i = 0; i < count; i++) {
    const k = kinds[i];
    if (punct(i, '(')) depth++;
    else if (punct(i, ')') && depth > 0) depth--;
    if (k === TK_EXEC_OPEN && on('hidden-keywords')) {
      let j = i + 1;
      while (j < count && kinds[j] !== TK_EXEC_CLOSE) j++;
      const inside = sql.slice(ends[i], j < count ? starts[j] : sql.length);
      if (EXEC_KEYWORDS.test(inside)) return { guard: 'hidden-keywords', detail: 'SQL keywords inside an executable comment (/*! ... */)' };
    }
    if (k === TK_EXEC_OPEN || k === TK_EXEC_CLOSE) continue;
    if (punct(i, ';')) {
      if (on('stacked-statements') && i > 0 && kinds[i - 1] === TK_STRING && STACKED_STARTS.has(word(i + 1)) && statements > 1) {
        return { guard: 'stacked-statements', detail: `a ${word(i + 1)} statement stacked after a literal` };
      }
      if (on('comment-truncation') && /^\s*(--|#)/.test(sql.slice(ends[i], i + 1 < count ? starts[i + 1] : sql.length)) && i + 1 >= count) {
        return { guard: 'comment-truncation', detail: 'a statement ended and the rest commented out' };
      }
      inPredicate = false;
      first = true;
      sawWhere = false;
      depth = 0;
      continue;
    }
    const w = word(i);
    if (first && k === TK_WORD) {
      head = w;
      first = false;
      const v = statementVerdict(i, head, on, who);
      if (v !== null) return v;
    } else if (first && !punct(i, '(')) first = false;
    if (PREDICATE_START.has(w) || (w === 'SET' && (head === 'UPDATE' || head === 'INSERT'))) {
      inPredicate = true;
      if (w === 'WHERE') sawWhere = true;
    }
    if (inPredicate && on('tautology') && (w === 'OR' || w === 'XOR' || (punct(i, '|') && punct(i + 1, '|') && ends[i] === starts[i + 1]))) {
      const from = w !== '' ? i + 1 : i + 2;
      if (alwaysTrue(from, statementEnd(from)) >= 0) return { guard: 'tautology', detail: `${w || '||'} with an always-true condition` };
      // OR 7 BETWEEN 6 AND 8
      let a = from;
      while (punct(a, '(')) a++;
      if (isLiteral(a) && word(a + 1) === 'BETWEEN' && isLiteral(a + 2) && word(a + 3) === 'AND' && isLiteral(a + 4) &&
          numeric(a) >= numeric(a + 2) && numeric(a) <= numeric(a + 4)) return { guard: 'tautology', detail: `${w} with an always-true BETWEEN` };
    }
    if (inPredicate && on('tautology') && k === TK_STRING && kinds[i + 2] === TK_STRING && (punct(i + 1, '=') || word(i + 1) === 'LIKE') &&
        stringBody(i) === stringBody(i + 2) && !punct(i - 1, '=') && word(i - 1) !== 'LIKE') {
      // AND '1'='1': the tail an injection adds to re-balance the quote it opened.
      return { guard: 'tautology', detail: 'a string literal compared with itself' };
    }
    if (inPredicate && on('tautology') && kinds[i] === TK_STRING && (punct(i - 1, '=') || punct(i - 1, '-')) && kinds[i + 2] === TK_STRING &&
        (punct(i + 1, '=') || punct(i + 1, '-') || punct(i + 1, '+'))) {
      return { guard: 'tautology', detail: 'string literals compared or subtracted in a chain' };
    }
    if (on('server-probes')) {
      const v = probeVerdict(i, inPredicate, inPredicate && depth > 0 && !intro);
      if (v !== null) return v;
    }
    if (on('sleep-in-where') && SLEEPY.has(w) && punct(i + 1, '(') && (inPredicate || w === 'BENCHMARK' || (w === 'SLEEP' && !selectListSleep(i)))) {
      return { guard: 'sleep-in-where', detail: `${w}() ${inPredicate ? 'in a condition' : 'inside another statement'}` };
    }
    if (w === 'ORDER') {
      inPredicate = true; // ORDER BY (SELECT ... SLEEP) counts as a condition
      sawWhere = true;
    }
    if (w === 'VALUES' && head === 'INSERT') inPredicate = true; // 'x' OR '1'='1' in a value
    if (on('union-injection') && w === 'UNION' && sawWhere) {
      const v = unionVerdict(i);
      if (v !== null) return v;
    }
    if (on('comment-truncation') && k === TK_STRING) {
      if (/^(--|#|\/\*(?![!+]))/.test(sql.slice(ends[i], ends[i]! + 3))) return { guard: 'comment-truncation', detail: 'a comment right after a closing quote' };
    }
    if (on('comment-truncation')) {
      // A line comment carrying a quote: the remains of a statement an injection cut off.
      const gap = gapBefore(i + 1);
      if (/(--(\s|$)|#)[^\n]*['"]/.test(gap)) return { guard: 'comment-truncation', detail: 'a line comment holding the rest of a cut statement' };
    }
    if (on('hidden-keywords') && k === TK_NUMBER && /^[-+.\deE]*\d[eE.\d]*(union|select|from|and|or)\b/i.test(sql.slice(starts[i], ends[i]))) {
      return { guard: 'hidden-keywords', detail: 'a keyword glued to a number' };
    }
    if (on('comment-truncation') && sawWhere) {
      // After a condition: a line comment, or a block comment never closed, swallows the rest.
      const gap = gapBefore(i + 1);
      const line = /(^|[^-])(--(\s|$)|#)/.exec(gap);
      if (line !== null || (/\/\*(?![!+])/.test(gap) && !gap.includes('*/'))) return { guard: 'comment-truncation', detail: 'a comment swallowing the rest of a condition' };
    }
    if (on('encoded-keywords')) {
      const v = encodedVerdict(i, inPredicate && sawWhere);
      if (v !== null) return v;
    }
  }
  if (on('hidden-keywords')) {
    const split = /[A-Za-z_]\/\*[^!+][\s\S]*?\*\/[A-Za-z_]/.exec(sql);
    if (split !== null && !insideString(split.index)) return { guard: 'hidden-keywords', detail: 'a word split by a comment' };
  }
  return null;
}

/** Index of the `)` closing the `(` at `open` (or the statement's end). */
function closing(open: number): number {
  let depth = 0;
  for (let i = open; i < count; i++) {
    if (punct(i, '(')) depth++;
    else if (punct(i, ')') && --depth === 0) return i;
    else if (punct(i, ';')) return i;
  }
  return count;
}

/** Whether tokens [from, to) read server facts: a probe function call, a server variable, a subquery. */
function readsServer(from: number, to: number, subqueries: boolean): boolean {
  for (let i = from; i < to; i++) {
    const w = word(i);
    if (kinds[i] === TK_SYSVAR) return true;
    if ((PROBE_FUNCTIONS_STRICT.has(w) || PROBE_FUNCTIONS_LIKE.has(w)) && punct(i + 1, '(')) return true;
    if (w === 'CURRENT_USER' || w === 'SESSION_USER' || w === 'SYSTEM_USER') return true;
    if (subqueries && w === 'SELECT') return true;
  }
  return false;
}

/** Whether the statement's first FROM names a system schema (an introspection query). */
function introspection(): boolean {
  for (let i = 0; i < count; i++) {
    if (word(i) !== 'FROM') continue;
    const t = (word(i + 1) || sql.slice(starts[i + 1], ends[i + 1]).replace(/`/g, '').toUpperCase());
    return SYSTEM_SCHEMAS.has(t.split('.')[0]!);
  }
  return false;
}

/** server-probes at token i (a condition, unless `anywhere`): blind and error-based extraction shapes. */
function probeVerdict(i: number, inCondition: boolean, looksInward: boolean): GuardVerdict | null {
  const w = word(i);
  if (w === '' && kinds[i] !== TK_SYSVAR) return null;
  if (ERROR_FUNCTIONS.has(w) && punct(i + 1, '(')) {
    const end = closing(i + 1);
    const inside = sql.slice(ends[i + 1], starts[end]).toUpperCase();
    if (w === 'EXTRACTVALUE' || w === 'UPDATEXML' ? /CONCAT|0X7E|SELECT|@@|USER\(|VERSION\(|DATABASE\(/.test(inside) : /SELECT|CONCAT|@@|USER\(|VERSION\(/.test(inside)) {
      return { guard: 'server-probes', detail: `${w}() used to print a value in an error` };
    }
  }
  if (w === 'RAND' && punct(i + 1, '(') && kinds[i + 2] === TK_NUMBER && punct(i + 3, ')') && punct(i + 4, '*')) {
    return { guard: 'server-probes', detail: 'FLOOR(RAND(0)*2): a duplicate-key error to print a value' };
  }
  if (w === 'EXP' && punct(i + 1, '(') && punct(i + 2, '~')) return { guard: 'server-probes', detail: 'EXP(~...): an overflow error to print a value' };
  if (!inCondition) return null;
  if (DISSECT.has(w) && punct(i + 1, '(') && readsServer(i + 2, closing(i + 1), true)) {
    return { guard: 'server-probes', detail: `${w}() taking apart a server value or a subquery in a condition` };
  }
  const probe = kinds[i] === TK_SYSVAR || (PROBE_FUNCTIONS_STRICT.has(w) && punct(i + 1, '('));
  const likeOnly = PROBE_FUNCTIONS_LIKE.has(w) && punct(i + 1, '(');
  if (probe || likeOnly) {
    let j = kinds[i] === TK_SYSVAR ? i + 1 : closing(i + 1) + 1;
    if (word(j) === 'NOT') j++;
    const op = word(j);
    if (op === 'LIKE' || op === 'REGEXP' || op === 'RLIKE' || (probe && (punct(j, '=') || punct(j, '>') || punct(j, '<')))) {
      return { guard: 'server-probes', detail: `${kinds[i] === TK_SYSVAR ? sql.slice(starts[i], ends[i]) : `${w.toLowerCase()}()`} compared in a condition` };
    }
  }
  if (w === 'SELECT' && punct(i - 1, '(') && readsServer(i + 1, closing(i - 1), false)) {
    return { guard: 'server-probes', detail: 'a subquery reading server facts in a condition' };
  }
  if (looksInward && (w === 'INFORMATION_SCHEMA' || w === 'MYSQL' || w === 'PERFORMANCE_SCHEMA') && punct(i + 1, '.') && word(i - 1) === 'FROM') {
    return { guard: 'server-probes', detail: `a subquery reading ${w.toLowerCase()} in a condition` };
  }
  return null;
}

/** Whether position p of the text lies inside a string token. */
function insideString(p: number): boolean {
  for (let i = 0; i < count; i++) if (kinds[i] === TK_STRING && starts[i]! <= p && p < ends[i]!) return true;
  return false;
}

/** Guards decided by the statement's first word: file access, admin statements, unbounded writes. */
function statementVerdict(i: number, head: string, on: (g: GuardName) => boolean, who: GuardSubject): GuardVerdict | null {
  const end = statementEnd(i);
  const next = word(i + 1);
  if (on('admin-statements') && !who.admin) {
    let what = '';
    if (head === 'DROP' || head === 'TRUNCATE' || head === 'ALTER' || head === 'GRANT' || head === 'REVOKE' || head === 'SHUTDOWN' || head === 'RENAME') what = head;
    else if (head === 'CREATE' && (next === 'USER' || next === 'ROLE' || next === 'SERVER')) what = `CREATE ${next}`;
    else if (head === 'SET' && (next === 'GLOBAL' || next === 'PERSIST' || next === 'PERSIST_ONLY' || /^@@(global|persist)\./i.test(sql.slice(starts[i + 1], ends[i + 1] + 8)))) what = 'SET GLOBAL';
    else if (head === 'SET' && kinds[i + 1] === TK_SYSVAR && /^@@(global|persist)/i.test(sql.slice(starts[i + 1]!, ends[i + 1]!))) what = 'SET GLOBAL';
    else if (head === 'KILL') {
      let j = i + 1;
      if (next === 'QUERY' || next === 'CONNECTION' || next === 'HARD' || next === 'SOFT') j++;
      if (word(j) === 'QUERY' || word(j) === 'CONNECTION') j++;
      const id = kinds[j] === TK_NUMBER ? Number(sql.slice(starts[j], ends[j])) : NaN;
      if (id !== ownConnectionId) what = 'KILL of another session';
    }
    if (what !== '') return { guard: 'admin-statements', detail: `${what} needs an admin user (users[].admin)` };
  }
  if (on('file-access') && !who.fileAccess) {
    for (let j = i; j < end; j++) {
      const w = word(j);
      if (w === 'INTO' && (word(j + 1) === 'OUTFILE' || word(j + 1) === 'DUMPFILE')) return { guard: 'file-access', detail: `INTO ${word(j + 1)} needs users[].fileAccess` };
      if (w === 'LOAD_FILE' && punct(j + 1, '(')) return { guard: 'file-access', detail: 'LOAD_FILE() needs users[].fileAccess' };
    }
    if (head === 'LOAD' && (next === 'DATA' || next === 'XML')) {
      let j = i + 2;
      while (j < end && word(j) !== 'INFILE') j++;
      const local = sql.slice(ends[i + 1], j < count ? starts[j] : sql.length).toUpperCase().includes('LOCAL');
      if (!local) return { guard: 'file-access', detail: `LOAD ${next} from the server's files needs users[].fileAccess` };
    }
  }
  if (on('unbounded-write') && (head === 'UPDATE' || head === 'DELETE')) {
    let where = -1;
    let limit = false;
    let depth = 0;
    for (let j = i + 1; j < end; j++) {
      if (punct(j, '(')) depth++;
      else if (punct(j, ')')) depth--;
      else if (depth === 0 && word(j) === 'WHERE' && where < 0) where = j;
      else if (depth === 0 && word(j) === 'LIMIT') limit = true;
    }
    if (!limit && where < 0) return { guard: 'unbounded-write', detail: `${head} without WHERE or LIMIT` };
    if (!limit && where >= 0) {
      const after = alwaysTrue(where + 1, end);
      if (after >= 0 && (after >= end || word(after) === 'OR' || word(after) === 'ORDER')) {
        return { guard: 'unbounded-write', detail: `${head} whose WHERE is always true, without LIMIT` };
      }
    }
  }
  return null;
}

/** `UNION [ALL|DISTINCT] SELECT` after a WHERE: an injection when it probes (system schemas, literal-only columns, server functions). */
function unionVerdict(i: number): GuardVerdict | null {
  let j = i + 1;
  while (punct(j, '+')) j++; // UNION+SELECT (URL-decoded spaces)
  if (word(j) === 'ALL' || word(j) === 'DISTINCT') j++;
  while (punct(j, '(') || punct(j, '+')) j++;
  if (word(j) === 'VALUES' || word(j) === 'TABLE') return { guard: 'union-injection', detail: `UNION ${word(j)} after a condition` };
  if (word(j) !== 'SELECT') return null;
  // `... LIMIT 1 UNION SELECT`: an application puts a LIMITed part of a UNION in parentheses.
  if (kinds[i - 1] === TK_NUMBER && (word(i - 2) === 'LIMIT' || (punct(i - 2, ',') && word(i - 4) === 'LIMIT'))) return { guard: 'union-injection', detail: 'UNION SELECT after a LIMIT' };
  const end = statementEnd(j);
  let onlyLiterals = true;
  let from = false;
  for (let t = j + 1; t < end; t++) {
    const w = word(t);
    if (w === 'UNION') break;
    if (w === 'FROM') {
      from = true;
      const target = word(t + 1) || sql.slice(starts[t + 1], ends[t + 1]).replace(/`/g, '').toUpperCase();
      const schema = target.split('.')[0]!;
      if (SYSTEM_SCHEMAS.has(schema) || (word(t + 2) === '' && punct(t + 2, '.') && SYSTEM_SCHEMAS.has(target))) return { guard: 'union-injection', detail: `UNION SELECT from ${schema.toLowerCase()} after a condition` };
      break;
    }
    if (PROBE_FUNCTIONS.has(w) && punct(t + 1, '(')) return { guard: 'union-injection', detail: `UNION SELECT ${w.toLowerCase()}() after a condition` };
    if (kinds[t] === TK_SYSVAR) return { guard: 'union-injection', detail: 'UNION SELECT of a server variable after a condition' };
    if (!(isLiteral(t) || punct(t, ',') || punct(t, '(') || punct(t, ')'))) onlyLiterals = false;
  }
  if (!from && onlyLiterals) return { guard: 'union-injection', detail: 'UNION SELECT of literal columns after a condition' };
  // `id = -1 UNION ...`: a value no row has, so that only the appended SELECT answers.
  let before = i - 1;
  if (punct(before, '+')) before--; // -1+UNION (URL-decoded spaces)
  if (kinds[before] === TK_NUMBER && punct(before - 1, '-') && (punct(before - 2, '=') || punct(before - 2, '('))) return { guard: 'union-injection', detail: 'UNION SELECT after a negative id' };
  // A bare number or NULL as a column (`UNION SELECT 1,pass FROM users`) only pads the column count.
  let at = j + 1;
  let depthU = 0;
  let colStart = true;
  for (let t = j + 1; t < end; t++) {
    if (punct(t, '(')) depthU++;
    else if (punct(t, ')')) depthU--;
    const w = word(t);
    if (depthU === 0 && (w === 'FROM' || w === 'UNION' || w === 'WHERE' || w === 'LIMIT' || w === 'ORDER')) {
      if (w === 'FROM' && word(t + 1) === 'DUAL') return { guard: 'union-injection', detail: 'UNION SELECT ... FROM DUAL after a condition' };
      break;
    }
    if (colStart && (punct(t, '+') || punct(t, '-'))) continue; // SELECT+1,2
    if (colStart && (kinds[t] === TK_NUMBER || w === 'NULL') && (punct(t + 1, ',') || word(t + 1) === 'FROM' || t + 1 >= end)) {
      return { guard: 'union-injection', detail: 'UNION SELECT padding columns with numbers after a condition' };
    }
    if (w === 'CURRENT_USER' || w === 'SESSION_USER' || w === 'SYSTEM_USER') return { guard: 'union-injection', detail: `UNION SELECT ${w.toLowerCase()} after a condition` };
    colStart = depthU === 0 && punct(t, ',');
    at = t;
  }
  void at;
  return null;
}

/**
 * SLEEP() as a column of a plain SELECT or DO (`SELECT SLEEP(1)`, `SELECT ? + 1 AS n, SLEEP(0.01)`,
 * `DO SLEEP(n)`): an application or a test pausing on purpose. Not when it is inside a function
 * or a subquery (`IF(cond, SLEEP(5), 0)`, `(SELECT SLEEP(5))`: the time-based blind shapes),
 * after a FROM, WHERE or UNION, or in any other statement.
 */
function selectListSleep(i: number): boolean {
  let start = i;
  while (start > 0 && !punct(start - 1, ';')) start--;
  const h = word(start);
  if (h !== 'SELECT' && h !== 'DO') return false;
  let depth = 0;
  for (let t = start + 1; t < i; t++) {
    if (punct(t, '(')) depth++;
    else if (punct(t, ')')) depth--;
    else if (depth === 0) {
      const w = word(t);
      if (w === 'FROM' || w === 'WHERE' || w === 'UNION' || w === 'HAVING' || w === 'ORDER' || w === 'GROUP' || w === 'SELECT') return false;
    }
  }
  return depth === 0;
}

/** Hex literals and CHAR() calls that spell SQL, quotes or credentials. */
function encodedVerdict(i: number, inCondition: boolean): GuardVerdict | null {
  let hex: string | null = null;
  if (kinds[i] === TK_NUMBER) {
    const t = sql.slice(starts[i], ends[i]);
    if (t.startsWith('0x') || t.startsWith('0X')) hex = t.slice(2);
  } else if (kinds[i] === TK_STRING && i > 0 && (word(i - 1) === 'X') && ends[i - 1] === starts[i]) {
    hex = stringBody(i); // x'726f6f74'
  }
  if (hex !== null) {
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
    const text = Buffer.from(hex, 'hex').toString('latin1');
    const printable = text.length > 0 && /^[\x20-\x7e]+$/.test(text);
    if (printable && text.length >= 3 && DECODED_KEYWORDS.test(text)) return { guard: 'encoded-keywords', detail: `hex literal spelling '${text.slice(0, 40)}'` };
    // Applications compare text columns with strings, not hex: text in hex in a condition hides a value.
    if (printable && inCondition && text.length >= 2) return { guard: 'encoded-keywords', detail: `hex literal spelling '${text.slice(0, 40)}' in a condition` };
    return null;
  }
  const w = word(i);
  if ((w === 'CHAR' || w === 'CHR') && punct(i + 1, '(')) {
    let text = '';
    let j = i + 2;
    for (; j < count && !punct(j, ')'); j++) {
      if (kinds[j] === TK_NUMBER) {
        const n = Number(sql.slice(starts[j], ends[j]));
        if (!(n >= 32 && n <= 126)) return null;
        text += String.fromCharCode(n);
      } else if (!punct(j, ',')) return null;
    }
    if (text.length >= 1 && DECODED_KEYWORDS.test(text) && (text.length >= 3 || /['"`;]/.test(text))) {
      return { guard: 'encoded-keywords', detail: `CHAR() spelling '${text.slice(0, 40)}'` };
    }
  }
  return null;
}

/**
 * Every guard needs one of these in the text (a keyword, a comment opener, `;`, `0x`, a
 * statement that starts with a write or an admin verb): a statement without any of them (most
 * of an application's reads) skips the token pass. A superset: a match only means "look".
 */
const MAYBE = new RegExp([
  '[;#]', '--', '/\\*', '0x', '\\bchr?\\s*\\(', '\\bchar\\s*\\(', 'sleep', 'benchmark', 'get_lock', '\\bx?or\\b', '\\|\\|', 'union',
  'outfile', 'dumpfile', 'load_file', '^\\s*\\(*\\s*(update|delete|load|drop|truncate|alter|grant|revoke|create|set|shutdown|kill|rename)\\b',
  // server-probes, and their helpers
  '@@', '\\b(user|version|database|schema|current_user|session_user|system_user|connection_id|uuid)\\b', 'substr', 'ascii',
  '\\b(ord|mid|hex|bin|elt|left|right)\\s*\\(', 'length\\s*\\(', 'locate', 'instr', 'lpad', 'rpad', 'extractvalue', 'updatexml',
  'rand\\s*\\(', '\\bexp\\s*\\(', 'gtid_', 'name_const', 'geohash', 'json_keys', 'polygon', 'multipoint', 'linestring',
  'geometrycollection', 'information_schema', 'performance_schema', '\\bmysql\\s*\\.', "\\bx'", '&&', "'\\s*[-+=]\\s*'",
  '\\d(union|select)',
].join('|'), 'i');

/**
 * The first enabled guard the statement text trips, or null. `enabled`: a mask of guardBit()s.
 * The text is a whole COM_QUERY (possibly several statements) or a prepared statement's text;
 * `connectionId` is the session's own id (KILL of it is no one else's).
 */
export function checkGuards(text: string, enabled: number, who: GuardSubject, connectionId: number): GuardVerdict | null {
  if (enabled === 0 || !MAYBE.test(text)) return null;
  tokenize(text);
  ownConnectionId = connectionId;
  try {
    return checkOne(enabled, who);
  } finally {
    sql = '';
  }
}
