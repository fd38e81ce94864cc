import { expect } from 'chai';
import fc from 'fast-check';
import { Lexer, TK_EOF, TK_EXEC_CLOSE, TK_EXEC_OPEN, TK_NUMBER, TK_PUNCT, TK_QUOTED_ID, TK_STRING,
  TK_SYSVAR, TK_VARIABLE, TK_WORD } from '../../../src/sql/lexer.js';

function tokens(sql: string): Array<[number, string]> {
  const lx = new Lexer(sql);
  const out: Array<[number, string]> = [];
  for (let k = lx.next(); k !== TK_EOF; k = lx.next()) out.push([k, lx.text()]);
  return out;
}

describe('sql/lexer', () => {
  it('yields words, numbers, strings, identifiers, variables and punctuation', () => {
    expect(tokens("SELECT a1, 3.5e+2, 'it''s', `sel``ect`, @x, @@session.autocommit, @'q' FROM t;")).to.deep.equal([
      [TK_WORD, 'SELECT'], [TK_WORD, 'a1'], [TK_PUNCT, ','], [TK_NUMBER, '3.5e+2'], [TK_PUNCT, ','],
      [TK_STRING, "'it''s'"], [TK_PUNCT, ','], [TK_QUOTED_ID, '`sel``ect`'], [TK_PUNCT, ','],
      [TK_VARIABLE, '@x'], [TK_PUNCT, ','], [TK_SYSVAR, '@@session.autocommit'], [TK_PUNCT, ','],
      [TK_VARIABLE, "@'q'"], [TK_WORD, 'FROM'], [TK_WORD, 't'], [TK_PUNCT, ';'],
    ]);
  });

  it('handles backslash escapes in strings', () => {
    expect(tokens("'a\\'b' x")).to.deep.equal([[TK_STRING, "'a\\'b'"], [TK_WORD, 'x']]);
  });

  it('skips line and block comments', () => {
    expect(tokens('a -- INSERT\nb # DELETE\nc /* UPDATE */ d --\ne')).to.deep.equal(
      [[TK_WORD, 'a'], [TK_WORD, 'b'], [TK_WORD, 'c'], [TK_WORD, 'd'], [TK_WORD, 'e']]);
  });

  it('does not treat `--x` as a comment (MySQL needs a space)', () => {
    expect(tokens('1--1').map((t) => t[1])).to.deep.equal(['1', '-', '-', '1']);
  });

  it('reads :=', () => {
    expect(tokens('@a:=1')).to.deep.equal([[TK_VARIABLE, '@a'], [TK_PUNCT, ':='], [TK_NUMBER, '1']]);
  });

  it('treats executable comment content as SQL', () => {
    expect(tokens('/*!40101 SET x=1 */ /*M!100000 b */ /*!c*/')).to.deep.equal([
      [TK_EXEC_OPEN, '/*!40101'], [TK_WORD, 'SET'], [TK_WORD, 'x'], [TK_PUNCT, '='], [TK_NUMBER, '1'],
      [TK_EXEC_CLOSE, '*/'], [TK_EXEC_OPEN, '/*M!100000'], [TK_WORD, 'b'], [TK_EXEC_CLOSE, '*/'],
      [TK_EXEC_OPEN, '/*!'], [TK_WORD, 'c'], [TK_EXEC_CLOSE, '*/'],
    ]);
  });

  it('captures the first dbmesh hint', () => {
    const lx = new Lexer('SELECT /* dbmesh:backend=db-2 */ 1 /*+ dbmesh:primary */');
    while (lx.next() !== TK_EOF);
    expect(lx.hint).to.equal('backend=db-2');
    const lx2 = new Lexer('/*+ dbmesh:replica */ SELECT 1');
    lx2.next();
    expect(lx2.hint).to.equal('replica');
  });

  it('ends unterminated strings and comments at end of input', () => {
    expect(tokens("SELECT 'abc")).to.deep.equal([[TK_WORD, 'SELECT'], [TK_STRING, "'abc"]]);
    expect(tokens('SELECT /* abc')).to.deep.equal([[TK_WORD, 'SELECT']]);
    expect(tokens('SELECT `abc')).to.deep.equal([[TK_WORD, 'SELECT'], [TK_QUOTED_ID, '`abc']]);
    expect(tokens('/*!40101 SELECT')).to.deep.equal([[TK_EXEC_OPEN, '/*!40101'], [TK_WORD, 'SELECT']]);
  });

  it('compares words case-insensitively', () => {
    const lx = new Lexer('sElEcT _x9');
    lx.next();
    expect(lx.is('SELECT')).to.equal(true);
    expect(lx.is('SELECTS')).to.equal(false);
    lx.next();
    expect(lx.is('_X9')).to.equal(true);
  });

  it('never throws and always advances on random input', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
      const lx = new Lexer(s);
      let last = 0;
      let n = 0;
      for (let k = lx.next(); k !== TK_EOF; k = lx.next()) {
        expect(lx.start).to.be.at.least(last);
        expect(lx.end).to.be.greaterThan(lx.start);
        last = lx.end;
        if (++n > s.length + 1) throw new Error('no progress');
      }
    }), { numRuns: 2000 });
  });
});
