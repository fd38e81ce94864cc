import { expect } from 'chai';
import fc from 'fast-check';
import { classify, PIN_FOUND_ROWS, PIN_LOCK_TABLES, PIN_SQL_LOG_BIN, PIN_TEMP_TABLE, PIN_TEXT_PREPARE,
  PIN_UNTRACKED_SET, PIN_USER_LOCK, PIN_USER_VARIABLE, PIN_TRACKING_SETTINGS, PIN_HANDLER, PIN_BACKUP, type StatementKind } from '../../../src/sql/classifier.js';

const P = true;
const R = false;
type Row = [sql: string, kind: StatementKind, primary: boolean, pins?: number, hint?: unknown];

const TABLE: Row[] = [
  ['SELECT 1', 'read', R],
  ['select * from t where a = 1', 'read', R],
  ['  \n\tSELECT a FROM t', 'read', R],
  ["SELECT 'FOR UPDATE' FROM t", 'read', R],
  ['SELECT "x FOR SHARE" AS `for update`', 'read', R],
  ['SELECT 1 /* INSERT INTO t VALUES (1) */', 'read', R],
  ['/* INSERT */ SELECT 1', 'read', R],
  ['-- DELETE FROM t\nSELECT 1', 'read', R],
  ['# UPDATE t\nSELECT 1', 'read', R],
  ['SELECT `select` FROM `select`', 'read', R],
  ['SELECT `insert`, `update` FROM t', 'read', R],
  ['(SELECT 1) UNION (SELECT 2)', 'read', R],
  ['SELECT * FROM t FOR UPDATE', 'read', P],
  ['select * from t for update', 'read', P],
  ['SELECT * FROM t\n  For\n\tUpdate NOWAIT', 'read', P],
  ['SELECT * FROM t FOR /* c */ UPDATE SKIP LOCKED', 'read', P],
  ['SELECT * FROM t FOR SHARE', 'read', P],
  ['SELECT * FROM t LOCK IN SHARE MODE', 'read', P],
  ['SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP now()', 'read', R],
  ["select get_lock('a',1)", 'read', P, PIN_USER_LOCK],
  ["SELECT RELEASE_LOCK('a')", 'read', P],
  ['SELECT RELEASE_ALL_LOCKS()', 'read', P],
  ["SELECT IS_USED_LOCK('a')", 'read', P],
  ['SELECT LAST_INSERT_ID()', 'read', P],
  ['SELECT @@identity', 'read', P],
  ['SELECT FOUND_ROWS()', 'read', P],
  ['SELECT ROW_COUNT()', 'read', P],
  ['SELECT NEXTVAL(s)', 'read', P],
  ['SELECT NEXT VALUE FOR s', 'read', P],
  ['SELECT LASTVAL(s)', 'read', P],
  ['SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10', 'read', P, PIN_FOUND_ROWS],
  ['SELECT @a := 1', 'read', P, PIN_USER_VARIABLE],
  ['SELECT @a', 'read', P],
  ['SELECT @@version', 'read', R],
  ['SELECT a INTO @x FROM t', 'write', P, PIN_USER_VARIABLE],
  ["SELECT * FROM t INTO OUTFILE '/tmp/x'", 'write', P],
  ['SELECT * INTO DUMPFILE \'/tmp/x\' FROM t', 'write', P],
  ['WITH c AS (SELECT 1) SELECT * FROM c', 'read', R],
  ['WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n<5) SELECT * FROM c', 'read', R],
  ['WITH c AS (SELECT id FROM t) UPDATE t JOIN c USING (id) SET a = 1', 'write', P],
  ['WITH c AS (SELECT id FROM t), d AS (SELECT 2) DELETE FROM t WHERE id IN (SELECT id FROM c)', 'write', P],
  ["SELECT REPLACE(a, 'x', 'y') FROM t", 'read', R],
  ['TABLE t', 'read', R],
  ['VALUES ROW(1,2)', 'read', R],
  ['INSERT INTO t VALUES (1)', 'write', P],
  ['insert into t select * from u', 'write', P],
  ['INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2', 'write', P],
  ['UPDATE t SET a = 1', 'write', P],
  ['DELETE FROM t WHERE a = 1', 'write', P],
  ['REPLACE INTO t VALUES (1)', 'write', P],
  ["LOAD DATA INFILE '/x' INTO TABLE t", 'write', P],
  ["LOAD XML LOCAL INFILE 'x' INTO TABLE t", 'write', P],
  ['UPDATE t SET a = @n := @n + 1', 'write', P, PIN_USER_VARIABLE],
  ['CREATE TABLE t (a int)', 'ddl', P],
  ['CREATE TEMPORARY TABLE tmp (a int)', 'ddl', P, PIN_TEMP_TABLE],
  ['create temporary table tmp select 1', 'ddl', P, PIN_TEMP_TABLE],
  ['CREATE OR REPLACE TEMPORARY TABLE tmp (a int)', 'ddl', P, PIN_TEMP_TABLE],
  ['CREATE SEQUENCE s', 'ddl', P],
  ['DROP TEMPORARY TABLE tmp', 'ddl', P],
  ['ALTER TABLE t ADD COLUMN b int', 'ddl', P],
  ['DROP TABLE t', 'ddl', P],
  ['TRUNCATE TABLE t', 'ddl', P],
  ['RENAME TABLE a TO b', 'ddl', P],
  ['GRANT SELECT ON *.* TO u', 'ddl', P],
  ['ANALYZE TABLE t', 'ddl', P],
  ['FLUSH TABLES WITH READ LOCK', 'ddl', P, PIN_LOCK_TABLES],
  ['LOCK TABLES t READ', 'lock', P, PIN_LOCK_TABLES],
  ['lock table t write, u read', 'lock', P, PIN_LOCK_TABLES],
  ['UNLOCK TABLES', 'lock', P],
  ['BEGIN', 'transaction-begin', P],
  ['BEGIN WORK', 'transaction-begin', P],
  ['START TRANSACTION', 'transaction-begin', P],
  ['START TRANSACTION READ ONLY', 'transaction-begin-read-only', R],
  ['start transaction with consistent snapshot, read only', 'transaction-begin-read-only', R],
  ['START TRANSACTION READ WRITE', 'transaction-begin', P],
  ['XA START \'x\'', 'transaction-begin', P],
  ["XA END 'x'", 'other', P],
  ["XA COMMIT 'x'", 'transaction-end', P],
  ['COMMIT', 'transaction-end', P],
  ['ROLLBACK', 'transaction-end', P],
  ['ROLLBACK TO SAVEPOINT a', 'other', P],
  ['SAVEPOINT a', 'other', P],
  ['CALL p(1)', 'call', P],
  ['SET autocommit = 0', 'session-set', P, 0],
  ['SET NAMES utf8mb4 COLLATE utf8mb4_general_ci', 'session-set', P, 0],
  ['SET CHARACTER SET utf8', 'session-set', P, 0],
  ['SET character_set_results = NULL, collation_connection = utf8mb4_bin', 'session-set', P, 0],
  ["SET SESSION sql_mode = 'ANSI'", 'session-set', P, 0],
  ["SET @@session.time_zone = '+00:00'", 'session-set', P, 0],
  ['SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', 'session-set', P, 0],
  ['SET TRANSACTION READ ONLY', 'session-set', P, 0],
  ["SET tx_isolation = 'READ-COMMITTED', transaction_isolation = 'READ-COMMITTED'", 'session-set', P, 0],
  // dbmesh sets session_track_* itself to learn state from the server: a client's own change pins.
  ['SET session_track_schema = 1', 'session-set', P, PIN_TRACKING_SETTINGS],
  ['SET SESSION session_track_state_change = OFF, time_zone = SYSTEM', 'session-set', P, PIN_TRACKING_SETTINGS],
  ['HANDLER t1 OPEN', 'other', P, PIN_HANDLER],
  ['HANDLER t1 READ FIRST', 'other', P, 0],
  ['SET @a := 1', 'session-set', P, PIN_USER_VARIABLE],
  ['SET @a = 1, @b = (SELECT 2)', 'session-set', P, PIN_USER_VARIABLE],
  ['SET sql_log_bin = 0', 'session-set', P, PIN_SQL_LOG_BIN],
  ["SET SESSION sql_log_bin = 'OFF'", 'session-set', P, PIN_SQL_LOG_BIN],
  ['SET max_execution_time = 100', 'session-set', P, PIN_UNTRACKED_SET],
  ['SET @@foreign_key_checks = 0, autocommit = 1', 'session-set', P, PIN_UNTRACKED_SET],
  ['SET GLOBAL max_connections = 100', 'session-set', P, 0],
  ['SET @@global.read_only = 1', 'session-set', P, 0],
  ['/*!40101 SET NAMES utf8 */', 'session-set', P, 0],
  ['/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE */', 'session-set', P, PIN_USER_VARIABLE],
  ['/*!40014 SET FOREIGN_KEY_CHECKS=0 */', 'session-set', P, PIN_UNTRACKED_SET],
  ['/*M!100000 INSERT INTO t VALUES (1) */', 'write', P],
  ['SELECT 1 /*!50000 FOR UPDATE */', 'read', P],
  ['SELECT /*M! SQL_CALC_FOUND_ROWS */ a FROM t', 'read', P, PIN_FOUND_ROWS],
  ['SET STATEMENT max_statement_time=1 FOR SELECT 1', 'read', R],
  ['SET STATEMENT max_statement_time=1 FOR UPDATE t SET a=1', 'write', P],
  ["PREPARE s FROM 'SELECT 1'", 'other', P, PIN_TEXT_PREPARE],
  ['EXECUTE s', 'other', P],
  ['DEALLOCATE PREPARE s', 'other', P],
  ['HANDLER t OPEN', 'other', P],
  ["DO GET_LOCK('x', 0)", 'other', P, PIN_USER_LOCK],
  ['DO 1', 'other', P],
  ['SHOW TABLES', 'show', P],
  ['SHOW WARNINGS', 'show', P],
  ['EXPLAIN SELECT * FROM t', 'read', R],
  ['EXPLAIN FORMAT=JSON SELECT 1', 'read', R],
  ['EXPLAIN UPDATE t SET a = 1', 'other', P],
  ['DESCRIBE t', 'show', P],
  ['USE db', 'use', P],
  ['FOO BAR', 'other', P],
  ['', 'other', P],
  [';;', 'other', P],
  ['-- only a comment', 'other', P],
  ['SELECT 1; SELECT 2', 'read', R],
  ['SELECT 1;', 'read', R],
  ['SELECT 1; INSERT INTO t VALUES (1)', 'write', P],
  ["SELECT ';'; SELECT 2", 'read', R],
  ['BEGIN; SELECT 1', 'transaction-begin', P],
  ['START TRANSACTION READ ONLY; SELECT 1; COMMIT', 'transaction-begin-read-only', R],
  ['START TRANSACTION READ ONLY; UPDATE t SET a=1; COMMIT', 'write', P],
  ['SET @a = 1; SELECT @a', 'session-set', P, PIN_USER_VARIABLE],
  ['CREATE TEMPORARY TABLE x (a int); LOCK TABLES t READ', 'ddl', P, PIN_TEMP_TABLE | PIN_LOCK_TABLES],
  ['XA; CREATE TEMPORARY TABLE t (a int)', 'other', P, PIN_TEMP_TABLE],
  ['START; SELECT GET_LOCK(1, 1)', 'other', P, PIN_USER_LOCK],
  ['EXPLAIN; SET @a = 1', 'session-set', P, PIN_USER_VARIABLE],
  ['ROLLBACK; SET sql_log_bin = 0', 'transaction-end', P, PIN_SQL_LOG_BIN],
  ['/* dbmesh:primary */ SELECT 1', 'read', R, 0, { target: 'primary' }],
  ['SELECT 1 /* dbmesh:replica */', 'read', R, 0, { target: 'replica' }],
  ['SELECT /*+ dbmesh:backend=db-2 */ 1', 'read', R, 0, { target: 'backend', id: 'db-2' }],
  ['/* dbmesh:nonsense */ SELECT 1', 'read', R, 0, null],
  ["SELECT '/* dbmesh:primary */'", 'read', R, 0, null],
];

describe('sql/classifier table', () => {
  for (const [sql, kind, primary, pins, hint] of TABLE) {
    it(JSON.stringify(sql), () => {
      const f = classify(sql);
      expect(f.kind, 'kind').to.equal(kind);
      expect(f.mustUsePrimary, 'mustUsePrimary').to.equal(primary);
      expect(f.primaryReason === '', 'primaryReason empty iff not primary').to.equal(!primary);
      if (pins !== undefined) expect(f.pins, 'pins').to.equal(pins);
      if (hint !== undefined) expect(f.hint, 'hint').to.deep.equal(hint);
    });
  }

  it('says which pins a statement ends; later statements of a batch win', () => {
    const u = (sql: string) => { const f = classify(sql); return [f.pins, f.unpins]; };
    expect(u('UNLOCK TABLES')).to.deep.equal([0, PIN_LOCK_TABLES]);
    expect(u('BACKUP STAGE START')).to.deep.equal([PIN_BACKUP, 0]);
    expect(u('BACKUP STAGE BLOCK_COMMIT')).to.deep.equal([PIN_BACKUP, 0]);
    expect(u('BACKUP STAGE END')).to.deep.equal([0, PIN_BACKUP]);
    expect(u('BACKUP LOCK t1')).to.deep.equal([PIN_BACKUP, 0]);
    expect(u('BACKUP UNLOCK')).to.deep.equal([0, PIN_BACKUP]);
    expect(u('LOCK TABLES t READ; UNLOCK TABLES')).to.deep.equal([0, PIN_LOCK_TABLES]);
    expect(u('UNLOCK TABLES; LOCK TABLES t READ')).to.deep.equal([PIN_LOCK_TABLES, 0]);
  });

  it('has at least 80 rows', () => {
    expect(TABLE.length).to.be.at.least(80);
  });
});

const READS = ['SELECT 1', 'SELECT a, b FROM t WHERE c = 2', 'SELECT * FROM t ORDER BY a LIMIT 5',
  "SELECT COUNT(*) FROM t WHERE s = 'x'", 'WITH c AS (SELECT 1 AS n) SELECT n FROM c', 'TABLE t',
  'SELECT a FROM t GROUP BY a HAVING COUNT(*) > 1'];
const ALL = [...READS, 'UPDATE t SET a = 1 WHERE b = 2', 'SELECT * FROM t FOR UPDATE',
  "SELECT GET_LOCK('a', 1)", 'SET @a := 1', 'LOCK TABLES t READ', 'START TRANSACTION READ ONLY',
  'INSERT INTO t SELECT * FROM u', 'SELECT SQL_CALC_FOUND_ROWS * FROM t', 'SET autocommit = 0',
  "SELECT a INTO @x FROM t", 'CREATE TEMPORARY TABLE x (a int)', 'SELECT NEXT VALUE FOR s'];

const filler = fc.oneof(
  fc.constantFrom(' ', '\n', '\t', '  ', '\r\n'),
  fc.constantFrom('/* INSERT */', '/* x; DELETE */', '-- UPDATE t\n', '# FOR UPDATE\n', '/**/'),
);

/** Re-joins the tokens of a simple statement with random comments/whitespace in between. */
function spread(sql: string, gaps: string[]): string {
  const parts = sql.match(/'[^']*'|@@?\w+|\w+|:=|[^\s\w]/g) ?? [];
  let out = parts[0] ?? '';
  for (let i = 1; i < parts.length; i++) out += gaps[i % gaps.length]! + parts[i]!;
  return out;
}

describe('sql/classifier properties', () => {
  it('never throws and always returns a kind', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => {
      const f = classify(s);
      expect(f.kind).to.be.a('string');
      expect(f.mustUsePrimary).to.be.a('boolean');
      expect(f.pins).to.be.a('number');
    }), { numRuns: 3000 });
  });

  it('never throws on SQL-like noise', () => {
    const tok = fc.constantFrom('SELECT', 'SET', '@a', ':=', "'", '"', '`', '/*', '*/', '/*!', '/*M!', '--', '#',
      '(', ')', ';', ',', 'FOR', 'UPDATE', 'WITH', 'START', 'TRANSACTION', 'READ', 'ONLY', '\n', ' ', 'INTO', '=');
    fc.assert(fc.property(fc.array(tok, { maxLength: 40 }), (ts) => {
      expect(classify(ts.join('')).kind).to.be.a('string');
      expect(classify(ts.join(' ')).kind).to.be.a('string');
    }), { numRuns: 3000 });
  });

  it('unknown text always needs the primary', () => {
    fc.assert(fc.property(fc.stringMatching(/^[a-z]{1,12}$/), (w) => {
      const f = classify(`${w}zz ${w}`);
      expect(f.mustUsePrimary).to.equal(true);
    }));
  });

  it('reads inside a transaction are never replica-safe as a whole', () => {
    fc.assert(fc.property(fc.constantFrom(...READS), fc.constantFrom('BEGIN', 'START TRANSACTION', 'XA START 1'), (r, b) => {
      const f = classify(`${b}; ${r}; COMMIT`);
      expect(f.mustUsePrimary).to.equal(true);
      expect(f.kind).to.equal('transaction-begin');
    }));
  });

  it('spreads tokens as intended', () => {
    expect(spread("SELECT a INTO @x FROM t", ['/**/'])).to.equal('SELECT/**/a/**/INTO/**/@x/**/FROM/**/t');
  });

  it('inserting comments and whitespace between tokens does not change the facts', () => {
    fc.assert(fc.property(fc.constantFrom(...ALL), fc.array(filler, { minLength: 1, maxLength: 8 }), (sql, gaps) => {
      const noisy = spread(sql, gaps);
      const a = classify(sql);
      const b = classify(noisy);
      expect({ ...b, hint: null }, noisy).to.deep.equal({ ...a, hint: null });
    }), { numRuns: 2000 });
  });
});
