/**
 * The tables a statement names, lower-cased, without schema or quotes: the words after FROM,
 * JOIN, INTO, UPDATE, TABLE and USING (and each one of a comma list after FROM). For the
 * firewall's `tables` rule match: approximate by design (subquery aliases and CTE names count
 * as names too), never throws, allocates only the returned list.
 */
import { Lexer, TK_EOF, TK_PUNCT, TK_QUOTED_ID, TK_WORD } from './lexer.js';

const INTRODUCERS = new Set(['FROM', 'JOIN', 'INTO', 'UPDATE', 'TABLE', 'USING']);
const NOT_A_TABLE = new Set(['SELECT', 'LATERAL', 'DUAL', 'IGNORE', 'LOW_PRIORITY', 'IF', 'NOT', 'EXISTS', 'OUTFILE', 'DUMPFILE', 'TEMPORARY', 'JSON_TABLE']);
const lexer = new Lexer();

function name(lx: Lexer): string {
  const t = lx.text();
  return (lx.kind === TK_QUOTED_ID ? t.slice(1, -1).replace(/``/g, '`') : t).toLowerCase();
}

export function tableNames(sql: string): string[] {
  const out: string[] = [];
  const lx = lexer.reset(sql);
  let expect = false;
  let list = false;
  for (let k = lx.next(); k !== TK_EOF; k = lx.next()) {
    if (k === TK_WORD && INTRODUCERS.has(lx.upper())) {
      expect = true;
      list = lx.is('FROM');
      continue;
    }
    if (expect && (k === TK_WORD || k === TK_QUOTED_ID)) {
      if (k === TK_WORD && NOT_A_TABLE.has(lx.upper())) {
        if (lx.is('SELECT')) expect = false; // a derived table: its own FROM names the tables
        continue;
      }
      let n = name(lx);
      // schema.table: keep the table.
      while (lx.next() === TK_PUNCT && lx.isPunct('.')) {
        const k2 = lx.next();
        if (k2 !== TK_WORD && k2 !== TK_QUOTED_ID) break;
        n = name(lx);
      }
      if (!out.includes(n)) out.push(n);
      expect = false;
      // The token after the name: a comma continues a FROM list (aliases skipped).
      if (list && lx.isPunct(',')) expect = true;
      else if (list && lx.kind === TK_WORD && !INTRODUCERS.has(lx.upper())) {
        // an alias: the next token may be the comma
        if (lx.is('AS')) lx.next();
        if (lx.next() === TK_PUNCT && lx.isPunct(',')) expect = true;
      }
      if (lx.kind === TK_WORD && INTRODUCERS.has(lx.upper())) {
        expect = true;
        list = lx.is('FROM');
      }
      continue;
    }
    if (expect && !(k === TK_PUNCT && lx.isPunct('('))) expect = false;
    if (k === TK_PUNCT && lx.isPunct(',') && list) continue;
  }
  return out;
}
