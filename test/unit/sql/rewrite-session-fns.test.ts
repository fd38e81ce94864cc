// LAST_INSERT_ID() and ROW_COUNT() replaced by the session's own values, and only where the
// text really calls them.
import { expect } from 'chai';
import fc from 'fast-check';
import { rewriteSessionFunctions } from '../../../src/sql/rewrite-session-fns.js';

/** The typed expressions the rewrite writes (see typed() in the module). */
const L = (v: bigint | number | string): string => `(${v} | 0)`;
const R = (v: number): string => `GREATEST(${v}, -9223372036854775807)`;
const C = (v: number): string => `CAST(${v} AS UNSIGNED)`;

const rw = (sql: string, id: bigint | number = 42, rows = 3) => rewriteSessionFunctions(sql, { lastInsertId: id, rowCount: rows, connectionId: 7 });

describe('sql/rewrite-session-fns', () => {
  it('replaces LAST_INSERT_ID() and ROW_COUNT() in any case', () => {
    expect(rw('SELECT LAST_INSERT_ID()')).to.equal(`SELECT ${L(42)} AS \`LAST_INSERT_ID()\``);
    expect(rw('select last_insert_id(), Row_Count() AS n')).to.equal(`select ${L(42)} AS \`last_insert_id()\`, ${R(3)} AS n`);
    expect(rw('INSERT INTO child (parent_id) VALUES (LAST_INSERT_ID())')).to.equal(`INSERT INTO child (parent_id) VALUES (${L(42)})`);
    expect(rw('SELECT * FROM t WHERE id = LAST_INSERT_ID() OR id = LAST_INSERT_ID();')).to.equal(
      `SELECT * FROM t WHERE id = ${L(42)} OR id = ${L(42)};`);
  });

  it('allows whitespace and comments between the tokens', () => {
    expect(rw('SELECT 0 + LAST_INSERT_ID ( )')).to.equal(`SELECT 0 + ${L(42)}`);
    expect(rw('SELECT 0 + row_count/* c */(\n-- note\n)')).to.equal(`SELECT 0 + ${R(3)}`);
  });

  it('writes 64-bit ids exactly, as expressions of the calls\' own types', () => {
    expect(rw('SELECT 0+LAST_INSERT_ID()', 18446744073709551615n)).to.equal(`SELECT 0+${L('18446744073709551615')}`);
    expect(rw('SELECT 0+LAST_INSERT_ID()', 0)).to.equal(`SELECT 0+${L(0)}`);
    expect(rw('SELECT 1-ROW_COUNT()', 1, -1)).to.equal(`SELECT 1-${R(-1)}`);
    expect(rw('SELECT 0+ROW_COUNT()', 1, -1)).to.equal(`SELECT 0+${R(-1)}`);
  });

  it('keeps the literal apart from the text around it', () => {
    expect(rw('SELECT 0+ROW_COUNT()FROM dual')).to.equal(`SELECT 0+${R(3)} FROM dual`);
    expect(rw('SELECT /*!50000LAST_INSERT_ID()*/')).to.equal(`SELECT /*!50000 ${L(42)}*/`);
  });

  it('replaces calls inside executable comments (their content runs as SQL)', () => {
    expect(rw('SELECT /*!LAST_INSERT_ID()*/ AS id')).to.equal(`SELECT /*!${L(42)}*/ AS id`);
    expect(rw('SELECT /*M!100000 ROW_COUNT() */')).to.equal(`SELECT /*M!100000 ${R(3)} */`);
  });

  it('never touches strings, quoted identifiers or comments', () => {
    expect(rw("SELECT 'LAST_INSERT_ID()', \"ROW_COUNT()\"")).to.equal(null);
    expect(rw('SELECT `LAST_INSERT_ID`(), `row_count()` FROM t')).to.equal(null);
    expect(rw('SELECT 1 /* LAST_INSERT_ID() */ -- ROW_COUNT()\n# ROW_COUNT()')).to.equal(null);
    expect(rw("SELECT 'it''s LAST_INSERT_ID()', 1+LAST_INSERT_ID()")).to.equal(`SELECT 'it''s LAST_INSERT_ID()', 1+${L(42)}`);
    expect(rw("SELECT 'a\\' LAST_INSERT_ID()' , 1+ROW_COUNT()")).to.equal(`SELECT 'a\\' LAST_INSERT_ID()' , 1+${R(3)}`);
  });

  it('leaves LAST_INSERT_ID(expr) alone but looks inside it', () => {
    expect(rw('SELECT LAST_INSERT_ID(5)')).to.equal(null);
    expect(rw('UPDATE seq SET id = LAST_INSERT_ID(id + 1)')).to.equal(null);
    // The statement sets the value itself: its other calls are left to the server too.
    expect(rw('SELECT LAST_INSERT_ID(LAST_INSERT_ID() + 1)')).to.equal(null);
    expect(rw('SELECT LAST_INSERT_ID(LAST_INSERT_ID() + 1), 1 + ROW_COUNT()')).to.equal(`SELECT LAST_INSERT_ID(LAST_INSERT_ID() + 1), 1 + ${R(3)}`);
  });

  it('leaves names that are not the calls alone', () => {
    expect(rw('SELECT last_insert_id FROM t')).to.equal(null);
    expect(rw('SELECT t.row_count, db.LAST_INSERT_ID(), db . row_count ( ) FROM t')).to.equal(null);
    expect(rw('SELECT @last_insert_id, @@row_count, last_insert_ids()')).to.equal(null);
    expect(rw('SELECT 1')).to.equal(null);
    expect(rw('')).to.equal(null);
  });

  it('keeps the column name of a call that is a whole select-list item', () => {
    expect(rw('SELECT CONNECTION_ID()')).to.equal(`SELECT ${C(7)} AS \`CONNECTION_ID()\``);
    expect(rw('select connection_id(), row_count() AS n')).to.equal(`select ${C(7)} AS \`connection_id()\`, ${R(3)} AS n`);
    expect(rw('SELECT DISTINCT CONNECTION_ID() FROM dual')).to.equal(`SELECT DISTINCT ${C(7)} AS \`CONNECTION_ID()\` FROM dual`);
    expect(rw('SELECT (SELECT CONNECTION_ID()), 1')).to.equal(`SELECT (SELECT ${C(7)} AS \`CONNECTION_ID()\`), 1`);
    expect(rw('SELECT 1 + CONNECTION_ID(), CONNECTION_ID() * 2')).to.equal(`SELECT 1 + ${C(7)}, ${C(7)} * 2`);
    expect(rw('SELECT a FROM t WHERE id = CONNECTION_ID() ORDER BY a')).to.equal(`SELECT a FROM t WHERE id = ${C(7)} ORDER BY a`);
    expect(rw('INSERT INTO t VALUES (CONNECTION_ID(), LAST_INSERT_ID())')).to.equal(`INSERT INTO t VALUES (${C(7)}, ${L(42)})`);
    expect(rw('SELECT a, f(CONNECTION_ID()) FROM t GROUP BY a')).to.equal(`SELECT a, f(${C(7)}) FROM t GROUP BY a`);
  });

  it('leaves LAST_INSERT_ID() to the server when the statement sets it, or when the value is not exact', () => {
    expect(rw('SET STATEMENT last_insert_id = 112 FOR SELECT LAST_INSERT_ID()')).to.equal(null);
    expect(rw('SELECT LAST_INSERT_ID(7), LAST_INSERT_ID()')).to.equal(null);
    expect(rw('SELECT 0 + LAST_INSERT_ID()', 2 ** 60)).to.equal(null);
    expect(rw('SELECT 0 + LAST_INSERT_ID()', 2n ** 60n)).to.equal(`SELECT 0 + ${L(2n ** 60n)}`);
  });

  it('leaves a call whose value it is not given to the server', () => {
    expect(rewriteSessionFunctions('SELECT CONNECTION_ID(), LAST_INSERT_ID()', { lastInsertId: null, rowCount: null, connectionId: 9 })).to.equal(
      `SELECT ${C(9)} AS \`CONNECTION_ID()\`, LAST_INSERT_ID()`);
    expect(rewriteSessionFunctions('SELECT CONNECTION_ID()', { lastInsertId: 1, rowCount: 1, connectionId: null })).to.equal(null);
  });

  it('stops at the first statement: a batch may change the values itself', () => {
    expect(rw('INSERT INTO t VALUES (1); SELECT LAST_INSERT_ID()')).to.equal(null);
    expect(rw('SELECT ROW_COUNT(); SELECT ROW_COUNT()')).to.equal(`SELECT ${R(3)} AS \`ROW_COUNT()\`; SELECT ROW_COUNT()`);
  });

  it('leaves bodies evaluated later alone', () => {
    expect(rw('CREATE VIEW v AS SELECT LAST_INSERT_ID()')).to.equal(null);
    expect(rw('create procedure p() select row_count()')).to.equal(null);
    expect(rw('ALTER EVENT e DO INSERT INTO t VALUES (LAST_INSERT_ID())')).to.equal(null);
    expect(rw('BEGIN NOT ATOMIC INSERT INTO t VALUES (1); SELECT LAST_INSERT_ID(); END')).to.equal(null);
  });

  it('changes nothing but the calls (property)', () => {
    // No commas: a call that starts a select-list item also gets its column name (tested above).
    const piece = fc.constantFrom('LAST_INSERT_ID()', 'ROW_COUNT ( )', "'LAST_INSERT_ID()'", '`ROW_COUNT`', 'x.row_count()',
      '/* ROW_COUNT() */', '/*!ROW_COUNT()*/', 'LAST_INSERT_ID(1)', 'x', '(', ')', '+', '1');
    fc.assert(fc.property(fc.array(piece, { maxLength: 12 }), fc.bigInt(0n, 2n ** 64n - 1n), fc.integer({ min: -1, max: 1000 }),
      (pieces, id, rows) => {
        const sql = ['SELECT 0 +', ...pieces].join(' ');
        const setsIt = pieces.includes('LAST_INSERT_ID(1)');
        const expected = ['SELECT 0 +', ...pieces.map((p) =>
          p === 'LAST_INSERT_ID()' ? (setsIt ? p : L(id)) : p === 'ROW_COUNT ( )' ? R(rows) :
            p === '/*!ROW_COUNT()*/' ? `/*!${R(rows)}*/` : p)].join(' ');
        const out = rewriteSessionFunctions(sql, { lastInsertId: id, rowCount: rows, connectionId: null });
        expect(out ?? sql).to.equal(expected);
        expect(out === null).to.equal(expected === sql);
      }));
  });

  it('never throws, whatever the text (property)', () => {
    fc.assert(fc.property(fc.string(), (sql) => {
      const out = rewriteSessionFunctions('SELECT ROW_COUNT() ' + sql, { lastInsertId: 1, rowCount: 2, connectionId: 3 });
      expect(out).to.be.a('string');
    }), { numRuns: 1000 });
  });
});
