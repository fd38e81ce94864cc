/**
 * `USE db`: the schema a successful statement switches to, so a multiplexed session can
 * select it again on whichever connection runs its next statement.
 */
import { Lexer, TK_EXEC_CLOSE, TK_EXEC_OPEN, TK_QUOTED_ID, TK_STRING, TK_WORD } from './lexer.js';

const lx = new Lexer();

/** The schema named by a single `USE` statement, or null when the text is anything else. */
export function useTarget(sql: string): string | null {
  lx.reset(sql);
  let k = lx.next();
  while (k === TK_EXEC_OPEN || k === TK_EXEC_CLOSE) k = lx.next();
  if (k !== TK_WORD || !lx.is('USE')) return null;
  k = lx.next();
  let name: string;
  if (k === TK_WORD) name = lx.sql.slice(lx.start, lx.end);
  else if (k === TK_QUOTED_ID) name = lx.sql.slice(lx.start + 1, lx.end - 1).replace(/``/g, '`');
  else if (k === TK_STRING) name = lx.sql.slice(lx.start + 1, lx.end - 1);
  else return null;
  k = lx.next();
  while (k === TK_EXEC_CLOSE) k = lx.next();
  if (lx.isPunct(';')) k = lx.next();
  return k === 0 ? name : null;
}
