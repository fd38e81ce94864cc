// LAST_INSERT_ID() and ROW_COUNT() replaced by the session's own values, and only where the
// text really calls them.
import { expect } from 'chai';
import fc from 'fast-check';
import { rewriteSessionFunctions } from '../../../src/sql/rewrite-session-fns.js';

const rw = (sql: string, id: bigint | number = 42, rows = 3) => rewriteSessionFunctions(sql, id, rows);

describe('sql/rewrite-session-fns', () => {
  it('replaces LAST_INSERT_ID() and ROW_COUNT() in any case', () => {
    expect(rw('SELECT LAST_INSERT_ID()')).to.equal('SELECT 42');
    expect(rw('select last_insert_id(), Row_Count() AS n')).to.equal('select 42, 3 AS n');
    expect(rw('INSERT INTO child (parent_id) VALUES (LAST_INSERT_ID())')).to.equal('INSERT INTO child (parent_id) VALUES (42)');
    expect(rw('SELECT * FROM t WHERE id = LAST_INSERT_ID() OR id = LAST_INSERT_ID();')).to.equal(
      'SELECT * FROM t WHERE id = 42 OR id = 42;');
  });

  it('allows whitespace and comments between the tokens', () => {
    expect(rw('SELECT LAST_INSERT_ID ( )')).to.equal('SELECT 42');
    expect(rw('SELECT row_count/* c */(\n-- note\n)')).to.equal('SELECT 3');
  });

  it('writes 64-bit ids exactly and parenthesises negatives', () => {
    expect(rw('SELECT LAST_INSERT_ID()', 18446744073709551615n)).to.equal('SELECT 18446744073709551615');
    expect(rw('SELECT LAST_INSERT_ID()', 0)).to.equal('SELECT 0');
    expect(rw('SELECT 1-ROW_COUNT()', 1, -1)).to.equal('SELECT 1-(-1)');
    expect(rw('SELECT ROW_COUNT()', 1, -1)).to.equal('SELECT (-1)');
  });

  it('keeps the literal apart from the text around it', () => {
    expect(rw('SELECT ROW_COUNT()FROM dual')).to.equal('SELECT 3 FROM dual');
    expect(rw('SELECT /*!50000LAST_INSERT_ID()*/')).to.equal('SELECT /*!50000 42*/');
  });

  it('replaces calls inside executable comments (their content runs as SQL)', () => {
    expect(rw('SELECT /*!LAST_INSERT_ID()*/ AS id')).to.equal('SELECT /*!42*/ AS id');
    expect(rw('SELECT /*M!100000 ROW_COUNT() */')).to.equal('SELECT /*M!100000 3 */');
  });

  it('never touches strings, quoted identifiers or comments', () => {
    expect(rw("SELECT 'LAST_INSERT_ID()', \"ROW_COUNT()\"")).to.equal(null);
    expect(rw('SELECT `LAST_INSERT_ID`(), `row_count()` FROM t')).to.equal(null);
    expect(rw('SELECT 1 /* LAST_INSERT_ID() */ -- ROW_COUNT()\n# ROW_COUNT()')).to.equal(null);
    expect(rw("SELECT 'it''s LAST_INSERT_ID()', LAST_INSERT_ID()")).to.equal("SELECT 'it''s LAST_INSERT_ID()', 42");
    expect(rw("SELECT 'a\\' LAST_INSERT_ID()' , ROW_COUNT()")).to.equal("SELECT 'a\\' LAST_INSERT_ID()' , 3");
  });

  it('leaves LAST_INSERT_ID(expr) alone but looks inside it', () => {
    expect(rw('SELECT LAST_INSERT_ID(5)')).to.equal(null);
    expect(rw('UPDATE seq SET id = LAST_INSERT_ID(id + 1)')).to.equal(null);
    expect(rw('SELECT LAST_INSERT_ID(LAST_INSERT_ID() + 1)')).to.equal('SELECT LAST_INSERT_ID(42 + 1)');
  });

  it('leaves names that are not the calls alone', () => {
    expect(rw('SELECT last_insert_id FROM t')).to.equal(null);
    expect(rw('SELECT t.row_count, db.LAST_INSERT_ID(), db . row_count ( ) FROM t')).to.equal(null);
    expect(rw('SELECT @last_insert_id, @@row_count, last_insert_ids()')).to.equal(null);
    expect(rw('SELECT 1')).to.equal(null);
    expect(rw('')).to.equal(null);
  });

  it('stops at the first statement: a batch may change the values itself', () => {
    expect(rw('INSERT INTO t VALUES (1); SELECT LAST_INSERT_ID()')).to.equal(null);
    expect(rw('SELECT ROW_COUNT(); SELECT ROW_COUNT()')).to.equal('SELECT 3; SELECT ROW_COUNT()');
  });

  it('leaves bodies evaluated later alone', () => {
    expect(rw('CREATE VIEW v AS SELECT LAST_INSERT_ID()')).to.equal(null);
    expect(rw('create procedure p() select row_count()')).to.equal(null);
    expect(rw('ALTER EVENT e DO INSERT INTO t VALUES (LAST_INSERT_ID())')).to.equal(null);
    expect(rw('BEGIN NOT ATOMIC INSERT INTO t VALUES (1); SELECT LAST_INSERT_ID(); END')).to.equal(null);
  });

  it('changes nothing but the calls (property)', () => {
    const piece = fc.constantFrom('LAST_INSERT_ID()', 'ROW_COUNT ( )', "'LAST_INSERT_ID()'", '`ROW_COUNT`', 'x.row_count()',
      '/* ROW_COUNT() */', '/*!ROW_COUNT()*/', 'LAST_INSERT_ID(1)', ',', 'x', '(', ')', '+', '1');
    fc.assert(fc.property(fc.array(piece, { maxLength: 12 }), fc.bigInt(0n, 2n ** 64n - 1n), fc.integer({ min: -1, max: 1000 }),
      (pieces, id, rows) => {
        const sql = ['SELECT', ...pieces].join(' ');
        const rowLiteral = rows < 0 ? `(${rows})` : String(rows);
        const expected = ['SELECT', ...pieces.map((p) =>
          p === 'LAST_INSERT_ID()' ? String(id) : p === 'ROW_COUNT ( )' ? rowLiteral :
            p === '/*!ROW_COUNT()*/' ? `/*!${rowLiteral}*/` : p)].join(' ');
        const out = rewriteSessionFunctions(sql, id, rows);
        expect(out ?? sql).to.equal(expected);
        expect(out === null).to.equal(expected === sql);
      }));
  });

  it('never throws, whatever the text (property)', () => {
    fc.assert(fc.property(fc.string(), (sql) => {
      const out = rewriteSessionFunctions('SELECT ROW_COUNT() ' + sql, 1, 2);
      expect(out).to.be.a('string');
    }), { numRuns: 1000 });
  });
});
