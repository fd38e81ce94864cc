/**
 * Per-statement facts for the read/write split: the statement kind, whether it must run on
 * the primary (and why), which session pins it creates, and any routing hint. Loose by
 * design: anything not recognised goes to the primary. Multi-statement text takes the most
 * restrictive of its parts. Pure and synchronous; one module-level Lexer is reused.
 */
import { Lexer, TK_EOF, TK_EXEC_CLOSE, TK_EXEC_OPEN, TK_WORD } from './lexer.js';
import { parseHint, type RouteHint } from './hints.js';
import { scanBody, F_CALC_FOUND_ROWS, F_GET_LOCK, F_INTO, F_INTO_VAR, F_LOCK_FN, F_LOCKING_READ,
  F_READ_LOCK, F_SEQUENCE, F_SESSION_FN, F_USER_VAR_ASSIGN, F_USER_VAR_READ, F_TOP_WRITE } from './body-scan.js';
import { parseSet } from './set-statement.js';
import { PIN_BACKUP, PIN_FOUND_ROWS, PIN_HANDLER, PIN_LOCK_TABLES, PIN_TEMP_TABLE, PIN_TEXT_PREPARE, PIN_USER_LOCK,
  PIN_USER_VARIABLE } from './pins.js';

export * from './pins.js';
export type { RouteHint } from './hints.js';

export type StatementKind = 'read' | 'write' | 'ddl' | 'transaction-begin' |
  'transaction-begin-read-only' | 'transaction-end' | 'session-set' | 'lock' | 'call' | 'show' |
  'use' | 'other';

export interface StatementFacts {
  kind: StatementKind;
  mustUsePrimary: boolean;
  /** Why the primary is required; '' when it is not. */
  primaryReason: string;
  /** Bitmask of PIN_* constants. */
  pins: number;
  /** PIN_* reasons the statement ends (UNLOCK TABLES, BACKUP STAGE END, BACKUP UNLOCK). */
  unpins: number;
  hint: RouteHint | null;
  /** A statement of the text is a KILL (its ids are dbmesh's: the session translates them). */
  kill: boolean;
}

/** Mutable per-statement state filled by the head parsers. */
export interface Part {
  kind: StatementKind;
  reason: string;
  pins: number;
  unpins: number;
}

const RANK: Record<StatementKind, number> = {
  'read': 0, 'transaction-begin-read-only': 1, 'show': 2, 'use': 3, 'session-set': 4,
  'transaction-end': 5, 'transaction-begin': 6, 'call': 7, 'lock': 8, 'write': 9, 'ddl': 10,
  'other': 11,
};

const DDL_HEADS = ['CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE', 'ANALYZE', 'OPTIMIZE',
  'REPAIR', 'CHECK', 'CHECKSUM', 'GRANT', 'REVOKE', 'FLUSH', 'INSTALL', 'UNINSTALL', 'RESET',
  'PURGE', 'CHANGE'];
const WRITE_HEADS = ['INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'LOAD'];
const READ_HEADS = ['SELECT', 'TABLE', 'VALUES'];

const lx = new Lexer();
/** A part of the text being classified starts with KILL. */
let sawKill = false;

export function classify(sql: string): StatementFacts {
  lx.reset(sql);
  const facts: StatementFacts = { kind: 'other', mustUsePrimary: true, primaryReason: 'empty statement', pins: 0, unpins: 0, hint: null, kill: false };
  sawKill = false;
  const part: Part = { kind: 'other', reason: '', pins: 0, unpins: 0 };
  let seen = false;
  let roTxn = false;
  for (;;) {
    part.kind = 'other'; part.reason = ''; part.pins = 0; part.unpins = 0;
    const more = classifyOne(part);
    if (part.reason !== 'empty statement') {
      roTxn = merge(facts, part, seen, roTxn);
      seen = true;
    }
    if (!more) break;
  }
  facts.hint = parseHint(lx.hint);
  facts.kill = sawKill;
  return facts;
}

/** Folds one part into the result; returns whether a replica-safe read-only transaction is open. */
function merge(facts: StatementFacts, part: Part, seen: boolean, roTxn: boolean): boolean {
  const partPrimary = part.reason !== '';
  // START TRANSACTION READ ONLY; SELECT ...; COMMIT may run on a replica as a whole.
  if (seen && roTxn && !facts.mustUsePrimary && !partPrimary) return true;
  if (seen && roTxn && !facts.mustUsePrimary && part.kind === 'transaction-end' && part.pins === 0) return false;
  if (!seen) {
    facts.kind = part.kind;
    facts.mustUsePrimary = partPrimary;
    facts.primaryReason = part.reason;
    facts.pins = part.pins;
    facts.unpins = part.unpins;
    return part.kind === 'transaction-begin-read-only';
  }
  if (RANK[part.kind] > RANK[facts.kind]) facts.kind = part.kind;
  if (partPrimary && !facts.mustUsePrimary) {
    facts.mustUsePrimary = true;
    facts.primaryReason = part.reason;
  }
  // Later parts win: LOCK TABLES; UNLOCK TABLES ends unpinned, the other way round pinned.
  facts.pins = (facts.pins & ~part.unpins) | part.pins;
  facts.unpins = (facts.unpins & ~part.pins) | part.unpins;
  return false;
}

/** Classifies up to the next top-level `;`. Returns true if more text follows it. */
function classifyOne(part: Part): boolean {
  let k = lx.next();
  while (k === TK_EXEC_OPEN || k === TK_EXEC_CLOSE || lx.isPunct('(')) k = lx.next();
  if (k === TK_EOF || lx.isPunct(';')) {
    part.reason = 'empty statement';
    return k !== TK_EOF;
  }
  if (k !== TK_WORD) return body(part, 'other');
  return dispatch(part);
}

/** `lx` is on the statement's first word. */
function dispatch(part: Part): boolean {
  if (isAny(READ_HEADS)) return body(part, 'read');
  if (isAny(WRITE_HEADS)) return body(part, 'write');
  // WITH ... is a read unless scanBody sees a write verb after the CTE list (F_TOP_WRITE).
  if (lx.is('WITH')) return body(part, 'read');
  if (lx.is('CREATE')) return create(part);
  if (isAny(DDL_HEADS)) return body(part, 'ddl');
  if (lx.is('SET')) return parseSet(lx, part, dispatch, body);
  if (lx.is('BEGIN')) return body(part, 'transaction-begin');
  if (lx.is('START')) return start(part);
  if (lx.is('COMMIT')) return body(part, 'transaction-end');
  if (lx.is('ROLLBACK')) return rollback(part);
  if (lx.is('XA')) return xa(part);
  if (lx.is('LOCK')) return pinned(part, 'lock', PIN_LOCK_TABLES);
  if (lx.is('UNLOCK')) {
    part.unpins |= PIN_LOCK_TABLES;
    return body(part, 'lock');
  }
  if (lx.is('BACKUP')) return backup(part);
  if (lx.is('CALL')) return body(part, 'call');
  if (lx.is('SHOW')) return body(part, 'show');
  if (lx.is('USE')) return body(part, 'use');
  if (lx.is('PREPARE')) return pinned(part, 'other', PIN_TEXT_PREPARE);
  if (lx.is('HANDLER')) return handler(part);
  if (lx.is('KILL')) {
    sawKill = true;
    return body(part, 'other');
  }
  if (lx.is('EXPLAIN') || lx.is('DESCRIBE') || lx.is('DESC')) return explain(part);
  return body(part, 'other');
}

function isAny(words: readonly string[]): boolean {
  for (let i = 0; i < words.length; i++) if (lx.is(words[i]!)) return true;
  return false;
}

function pinned(part: Part, kind: StatementKind, pin: number): boolean {
  part.pins |= pin;
  return body(part, kind);
}

/** Scans the rest of the statement and applies what it found to `part`. */
function body(part: Part, kind: StatementKind): boolean {
  // A head parser may already stand on the `;` that ends this statement.
  const f = lx.kind === TK_EOF || lx.isPunct(';') ? 0 : scanBody(lx);
  part.kind = kind;
  if (kind === 'read' && (f & F_TOP_WRITE) !== 0) part.kind = kind = 'write';
  if (kind === 'read' && (f & F_INTO) !== 0) {
    part.kind = 'write';
    part.reason = 'SELECT ... INTO';
    if ((f & F_INTO_VAR) !== 0) part.pins |= PIN_USER_VARIABLE;
  }
  applyFeatures(part, f);
  if (part.reason === '' && part.kind !== 'read' && part.kind !== 'transaction-begin-read-only') {
    part.reason = part.kind;
  }
  return lx.kind !== TK_EOF;
}

function applyFeatures(part: Part, f: number): void {
  if ((f & F_GET_LOCK) !== 0) part.pins |= PIN_USER_LOCK;
  if ((f & F_CALC_FOUND_ROWS) !== 0) part.pins |= PIN_FOUND_ROWS;
  if ((f & F_USER_VAR_ASSIGN) !== 0) part.pins |= PIN_USER_VARIABLE;
  if ((f & F_READ_LOCK) !== 0) part.pins |= PIN_LOCK_TABLES;
  if (part.reason !== '') return;
  if ((f & F_LOCKING_READ) !== 0) part.reason = 'locking read';
  else if ((f & (F_GET_LOCK | F_LOCK_FN)) !== 0) part.reason = 'user lock function';
  else if ((f & F_SESSION_FN) !== 0) part.reason = 'session-dependent function';
  else if ((f & F_SEQUENCE) !== 0) part.reason = 'sequence';
  else if ((f & F_CALC_FOUND_ROWS) !== 0) part.reason = 'SQL_CALC_FOUND_ROWS';
  else if ((f & F_USER_VAR_ASSIGN) !== 0) part.reason = 'user variable assignment';
  else if ((f & F_USER_VAR_READ) !== 0) part.reason = 'user variable';
}

function create(part: Part): boolean {
  let k = lx.next();
  if (lx.is('OR')) { lx.next(); lx.next(); k = lx.kind; } // OR REPLACE
  if (k === TK_WORD && lx.is('TEMPORARY')) part.pins |= PIN_TEMP_TABLE;
  return body(part, 'ddl');
}

function start(part: Part): boolean {
  lx.next();
  if (!lx.is('TRANSACTION')) return body(part, 'other');
  let readOnly = false;
  let readWrite = false;
  let prevRead = false;
  for (let k = lx.next(); k !== TK_EOF && !lx.isPunct(';'); k = lx.next()) {
    if (prevRead && lx.is('ONLY')) readOnly = true;
    if (prevRead && lx.is('WRITE')) readWrite = true;
    prevRead = lx.is('READ');
  }
  part.kind = readOnly && !readWrite ? 'transaction-begin-read-only' : 'transaction-begin';
  if (part.kind === 'transaction-begin') part.reason = 'transaction-begin';
  return lx.kind !== TK_EOF;
}

function rollback(part: Part): boolean {
  lx.next();
  if (lx.is('WORK')) lx.next();
  if (lx.is('TO')) return body(part, 'other');
  return body(part, 'transaction-end');
}

/**
 * MariaDB's BACKUP STAGE START..END and BACKUP LOCK / UNLOCK hold server-wide locks for the
 * connection that took them (a reset ends them).
 */
function backup(part: Part): boolean {
  lx.next();
  if (lx.is('UNLOCK')) part.unpins |= PIN_BACKUP;
  else if (lx.is('LOCK')) part.pins |= PIN_BACKUP;
  else if (lx.is('STAGE')) {
    lx.next();
    if (lx.is('END')) part.unpins |= PIN_BACKUP;
    else part.pins |= PIN_BACKUP;
  }
  return body(part, 'lock');
}

/** `HANDLER t OPEN` keeps a handler on the connection (READ and CLOSE use it). */
function handler(part: Part): boolean {
  lx.next(); // the table
  while (lx.kind !== TK_EOF && !lx.isPunct(';') && !lx.is('OPEN') && !lx.is('READ') && !lx.is('CLOSE')) lx.next();
  if (lx.is('OPEN')) part.pins |= PIN_HANDLER;
  return body(part, 'other');
}

function xa(part: Part): boolean {
  lx.next();
  if (lx.is('START') || lx.is('BEGIN')) return body(part, 'transaction-begin');
  if (lx.is('COMMIT') || lx.is('ROLLBACK')) return body(part, 'transaction-end');
  return body(part, 'other');
}

function explain(part: Part): boolean {
  let k = lx.next();
  while (k === TK_WORD && (lx.is('EXTENDED') || lx.is('PARTITIONS') || lx.is('FORMAT') ||
    lx.is('JSON') || lx.is('TREE') || lx.is('TRADITIONAL')) || lx.isPunct('=')) k = lx.next();
  if (k === TK_WORD && (isAny(READ_HEADS) || lx.is('WITH'))) return body(part, 'read');
  if (lx.isPunct('(')) return body(part, 'read');
  if (k === TK_WORD && isAny(WRITE_HEADS)) {
    part.reason = 'EXPLAIN of a write';
    return body(part, 'other');
  }
  return body(part, 'show');
}

