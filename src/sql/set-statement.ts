/**
 * SET statements: which assignments touch state dbmesh tracks (and replays on any backend)
 * and which pin the session to its connection. `SET STATEMENT ... FOR <stmt>` classifies
 * the inner statement.
 */
import { Lexer, TK_EOF, TK_PUNCT, TK_STRING, TK_SYSVAR, TK_VARIABLE, TK_WORD } from './lexer.js';
import { PIN_SQL_LOG_BIN, PIN_TRACKING_SETTINGS, PIN_UNTRACKED_SET, PIN_USER_VARIABLE } from './pins.js';
import { isTrackedVariable, isTrackingVariable, sessionVariableName } from './session-vars.js';
import type { Part, StatementKind } from './classifier.js';

type Dispatch = (part: Part) => boolean;
type Body = (part: Part, kind: StatementKind) => boolean;

/** `lx` is on SET. Returns true if more statements follow. */
export function parseSet(lx: Lexer, part: Part, dispatch: Dispatch, body: Body): boolean {
  part.kind = 'session-set';
  part.reason = 'session-set';
  lx.next();
  if (lx.is('STATEMENT')) return setStatement(lx, part, dispatch, body);
  if (lx.is('PASSWORD') || lx.is('DEFAULT')) return body(part, 'ddl');
  if (lx.is('ROLE')) {
    part.pins |= PIN_UNTRACKED_SET;
    return body(part, 'session-set');
  }
  for (;;) {
    part.pins |= assignmentPins(lx);
    const end = skipValue(lx);
    if (end !== 44) return lx.kind !== TK_EOF; // not `,`
    lx.next();
  }
}

function setStatement(lx: Lexer, part: Part, dispatch: Dispatch, body: Body): boolean {
  for (let k = lx.next(); k !== TK_EOF && !lx.isPunct(';'); k = lx.next()) {
    if (lx.is('FOR')) {
      part.reason = '';
      if (lx.next() === TK_WORD) return dispatch(part);
      return body(part, 'other');
    }
  }
  part.kind = 'other';
  return lx.kind !== TK_EOF;
}

/** `lx` is on the first token of one assignment; leaves it on the token after the name. */
function assignmentPins(lx: Lexer): number {
  let global = false;
  if (lx.is('SESSION') || lx.is('LOCAL')) lx.next();
  else if (lx.is('GLOBAL') || lx.is('PERSIST') || lx.is('PERSIST_ONLY')) { global = true; lx.next(); }
  const k = lx.kind;
  if (k === TK_VARIABLE) { lx.next(); return PIN_USER_VARIABLE; }
  if (k === TK_WORD && (lx.is('NAMES') || lx.is('CHARSET') || lx.is('CHARACTER') || lx.is('TRANSACTION'))) {
    lx.next();
    return 0;
  }
  let name = '';
  if (k === TK_SYSVAR) name = sessionVariableName(lx.upper());
  else if (k === TK_WORD) name = lx.upper();
  else return PIN_UNTRACKED_SET;
  lx.next();
  if (name === '' || global) return 0; // a global change: no session state to keep
  if (name === 'SQL_LOG_BIN') return sqlLogBinPins(lx);
  if (isTrackingVariable(name)) return PIN_TRACKING_SETTINGS;
  return isTrackedVariable(name) ? 0 : PIN_UNTRACKED_SET;
}

/** `lx` is after `sql_log_bin`; only reads the value, leaving `lx` on it. */
function sqlLogBinPins(lx: Lexer): number {
  if (lx.isPunct('=') || lx.isPunct(':=')) lx.next();
  const k = lx.kind;
  const v = k === TK_STRING ? lx.sql.slice(lx.start + 1, lx.end - 1).toUpperCase() : lx.upper();
  if (v === '0' || v === 'OFF' || v === 'FALSE') return PIN_SQL_LOG_BIN;
  return PIN_UNTRACKED_SET;
}

/** Skips to a top-level `,` or `;` or EOF; returns the char code it stopped on (0 at EOF). */
function skipValue(lx: Lexer): number {
  let depth = 0;
  for (let k = lx.kind; k !== TK_EOF; k = lx.next()) {
    if (k !== TK_PUNCT) continue;
    const c = lx.sql.charCodeAt(lx.start);
    if (c === 40) depth++;
    else if (c === 41) depth--;
    else if ((c === 44 || c === 59) && depth <= 0) return c;
  }
  return 0;
}
