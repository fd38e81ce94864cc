// Which SET statements are replayable session state, the replay list they build, and the
// statements replayed on another backend connection.
import { expect } from 'chai';
import fc from 'fast-check';
import { applyAssignments, replayStatements, sessionAssignments } from '../../../src/sql/session-assignments.js';

const one = (key: string, text: string) => [{ key, text }];

describe('sql/session-assignments', () => {
  describe('sessionAssignments', () => {
    it('reads SET NAMES with and without COLLATE, values as written', () => {
      expect(sessionAssignments('SET NAMES utf8mb4')).to.deep.equal(one('NAMES', 'NAMES utf8mb4'));
      expect(sessionAssignments("set names 'utf8mb4' collate 'utf8mb4_bin';")).to.deep.equal(
        one('NAMES', "NAMES 'utf8mb4' COLLATE 'utf8mb4_bin'"));
      expect(sessionAssignments('SET NAMES `latin1` COLLATE latin1_swedish_ci')).to.deep.equal(
        one('NAMES', 'NAMES `latin1` COLLATE latin1_swedish_ci'));
      expect(sessionAssignments('SET NAMES DEFAULT')).to.deep.equal(one('NAMES', 'NAMES DEFAULT'));
    });

    it('reads SET CHARACTER SET and SET CHARSET under one key', () => {
      expect(sessionAssignments('SET CHARACTER SET latin1')).to.deep.equal(one('CHARSET', 'CHARACTER SET latin1'));
      expect(sessionAssignments("SET charset 'utf8mb4'")).to.deep.equal(one('CHARSET', "CHARACTER SET 'utf8mb4'"));
    });

    it('reads tracked session variables in every scope spelling', () => {
      for (const sql of ["SET sql_mode = 'ANSI'", "SET SESSION sql_mode='ANSI'", "SET LOCAL sql_mode := 'ANSI'",
        "SET @@sql_mode = 'ANSI'", "SET @@session.sql_mode = 'ANSI'", "SET @@LOCAL.sql_mode='ANSI'"]) {
        expect(sessionAssignments(sql), sql).to.deep.equal(one('SQL_MODE', "@@SESSION.sql_mode = 'ANSI'"));
      }
      expect(sessionAssignments('SET @@SESSION.TIME_ZONE = "+00:00"')).to.deep.equal(
        one('TIME_ZONE', '@@SESSION.TIME_ZONE = "+00:00"'));
      expect(sessionAssignments('SET character_set_results = NULL')).to.deep.equal(
        one('CHARACTER_SET_RESULTS', '@@SESSION.character_set_results = NULL'));
      // session_track_* are dbmesh's own settings on its connections: never replayed.
      expect(sessionAssignments('SET session_track_schema = ON')).to.equal(null);
    });

    it('keeps several assignments in order', () => {
      expect(sessionAssignments("SET @@session.sql_mode='ANSI', time_zone = '+00:00', NAMES utf8, autocommit=0")).to.deep.equal([
        { key: 'SQL_MODE', text: "@@SESSION.sql_mode = 'ANSI'" },
        { key: 'TIME_ZONE', text: "@@SESSION.time_zone = '+00:00'" },
        { key: 'NAMES', text: 'NAMES utf8' },
        { key: 'AUTOCOMMIT', text: '@@SESSION.autocommit = 0' },
      ]);
    });

    it('accepts literal values: numbers, strings, bare words, words joined by -', () => {
      const value = (v: string) => sessionAssignments(`SET autocommit = ${v}`)?.[0]?.text;
      for (const v of ['1', '-1', '+1', '0x1', '1e0', "'ON'", '"ON"', 'ON', 'OFF', 'DEFAULT', 'TRUE', '`ON`']) {
        expect(value(v), v).to.equal(`@@SESSION.autocommit = ${v}`);
      }
      expect(sessionAssignments('SET time_zone = SYSTEM')).to.deep.equal(one('TIME_ZONE', '@@SESSION.time_zone = SYSTEM'));
      expect(sessionAssignments('SET collation_connection = utf8mb4_0900_ai_ci')).to.deep.equal(
        one('COLLATION_CONNECTION', '@@SESSION.collation_connection = utf8mb4_0900_ai_ci'));
    });

    it('gives the tx_* names and the transaction_* names one key', () => {
      expect(sessionAssignments('SET SESSION tx_isolation = REPEATABLE-READ')).to.deep.equal(
        one('TRANSACTION_ISOLATION', '@@SESSION.tx_isolation = REPEATABLE-READ'));
      expect(sessionAssignments("SET transaction_isolation = 'READ-COMMITTED'")).to.deep.equal(
        one('TRANSACTION_ISOLATION', "@@SESSION.transaction_isolation = 'READ-COMMITTED'"));
      expect(sessionAssignments('SET @@tx_read_only = ON')).to.deep.equal(
        one('TRANSACTION_READ_ONLY', '@@SESSION.tx_read_only = ON'));
      expect(sessionAssignments('SET transaction_read_only = 0')).to.deep.equal(
        one('TRANSACTION_READ_ONLY', '@@SESSION.transaction_read_only = 0'));
    });

    it('reads SET SESSION TRANSACTION characteristics, one assignment each', () => {
      const levels = ['READ UNCOMMITTED', 'READ COMMITTED', 'REPEATABLE READ', 'SERIALIZABLE'];
      for (const level of levels) {
        expect(sessionAssignments(`set session transaction isolation level ${level.toLowerCase()}`)).to.deep.equal(
          one('TRANSACTION_ISOLATION', `SESSION TRANSACTION ISOLATION LEVEL ${level}`));
      }
      expect(sessionAssignments('SET LOCAL TRANSACTION READ ONLY')).to.deep.equal(
        one('TRANSACTION_READ_ONLY', 'SESSION TRANSACTION READ ONLY'));
      expect(sessionAssignments('SET SESSION TRANSACTION READ WRITE, ISOLATION LEVEL SERIALIZABLE;')).to.deep.equal([
        { key: 'TRANSACTION_READ_ONLY', text: 'SESSION TRANSACTION READ WRITE' },
        { key: 'TRANSACTION_ISOLATION', text: 'SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE' },
      ]);
    });

    it('skips comments and steps into executable comments that run on every server', () => {
      expect(sessionAssignments('/* app */ SET -- why\n NAMES utf8 # end')).to.deep.equal(one('NAMES', 'NAMES utf8'));
      expect(sessionAssignments('/*!40101 SET NAMES utf8mb4 */;')).to.deep.equal(one('NAMES', 'NAMES utf8mb4'));
      expect(sessionAssignments("/*!40103 SET TIME_ZONE='+00:00' */")).to.deep.equal(
        one('TIME_ZONE', "@@SESSION.TIME_ZONE = '+00:00'"));
      expect(sessionAssignments('/*! SET autocommit = 1 */')).to.deep.equal(one('AUTOCOMMIT', '@@SESSION.autocommit = 1'));
      expect(sessionAssignments("SET NAMES utf8 /*!40101 , sql_mode = 'ANSI' */")).to.deep.equal([
        { key: 'NAMES', text: 'NAMES utf8' }, { key: 'SQL_MODE', text: "@@SESSION.sql_mode = 'ANSI'" }]);
    });

    it('refuses what is not replayable session state', () => {
      const refused = [
        // not SET, or not one statement
        'SELECT 1', '', '   ', 'SET', 'SET NAMES utf8; SELECT 1', 'SET NAMES utf8;;', 'SET NAMES utf8 SELECT',
        // one-shot, global, other kinds of SET
        'SET TRANSACTION ISOLATION LEVEL READ COMMITTED', 'SET GLOBAL TRANSACTION READ ONLY',
        "SET GLOBAL sql_mode = 'ANSI'", "SET @@global.sql_mode = 'ANSI'", "SET PERSIST sql_mode = 'ANSI'",
        "SET @@persist_only.sql_mode = 'ANSI'", "SET autocommit = 1, GLOBAL sql_mode = 'ANSI'",
        'SET STATEMENT max_statement_time = 1 FOR SELECT 1', "SET PASSWORD = 'x'", 'SET ROLE r', 'SET DEFAULT ROLE r TO u',
        // untracked variables, user variables
        'SET foo = 1', 'SET sql_log_bin = 0', 'SET max_execution_time = 5', 'SET @x = 1', 'SET autocommit = 0, @x = 1',
        // values that are not literals
        'SET sql_mode = @@sql_mode', "SET sql_mode = @@GLOBAL.sql_mode", 'SET sql_mode = @m', "SET sql_mode = CONCAT('a', 'b')",
        "SET sql_mode = 'a' 'b'", 'SET autocommit = 1 + 1', "SET sql_mode = (SELECT 'x')", 'SET time_zone = NOW()',
        'SET time_zone = CURRENT_USER', "SET sql_mode = _utf8mb4'x'", 'SET autocommit = NOT 1', 'SET autocommit = - x',
        'SET autocommit = --1', "SET sql_mode = x'41'",
        // broken or unknown forms
        'SET NAMES', 'SET NAMES utf8 COLLATE', 'SET CHARACTER latin1', 'SET autocommit', 'SET autocommit =',
        'SET autocommit 1', "SET sql_mode = 'a',", 'SET tx_isolation = READ-', 'SET SESSION @@sql_mode = 1',
        'SET SESSION NAMES utf8', 'SET `sql_mode` = 1', 'SET @@session. = 1', 'SET autocommit = 0, SESSION TRANSACTION READ ONLY',
        'SET SESSION TRANSACTION ISOLATION LEVEL READ', 'SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE',
        'SET SESSION TRANSACTION READ', 'SET SESSION TRANSACTION', 'SET SESSION TRANSACTION READ ONLY, autocommit = 1',
        // executable comments that may not run on every server
        '/*!99999 SET NAMES utf8 */', '/*M!100000 SET NAMES utf8 */', '/*M! SET NAMES utf8 */', 'SET NAMES utf8 /*!80000 , autocommit = 1 */',
      ];
      for (const sql of refused) expect(sessionAssignments(sql), sql).to.equal(null);
    });

    it('never throws, whatever the text (property)', () => {
      const parts = fc.constantFrom('SET', ' ', 'NAMES', 'SESSION', 'GLOBAL', 'TRANSACTION', '@@session.', 'sql_mode',
        'autocommit', '=', ':=', ',', ';', "'", '"', '`', '/*!', '/*M!', '*/', '-- ', '#', '\n', '(', ')', '-', '@', '1', 'READ');
      fc.assert(fc.property(fc.oneof(fc.string(), fc.array(parts).map((a) => a.join(''))), (sql) => {
        const out = sessionAssignments(sql);
        if (out !== null) expect(out).to.be.an('array');
      }), { numRuns: 2000 });
    });

    it('reads its own replay statements back unchanged (property)', () => {
      const name = fc.constantFrom('sql_mode', 'TIME_ZONE', 'autocommit', 'tx_isolation', 'character_set_client');
      const value = fc.oneof(fc.nat().map(String), fc.constantFrom("'ANSI'", 'ON', 'DEFAULT', 'READ-COMMITTED', "'it''s'"));
      const scope = fc.constantFrom('', 'SESSION ', 'LOCAL ', '@@', '@@session.', '@@LOCAL.');
      fc.assert(fc.property(fc.array(fc.tuple(scope, name, value), { minLength: 1, maxLength: 4 }), (list) => {
        const sql = 'SET ' + list.map(([s, n, v]) => `${s}${n} = ${v}`).join(', ');
        const first = sessionAssignments(sql);
        expect(first, sql).to.have.length(list.length);
        const map = new Map<string, string>();
        applyAssignments(map, first!);
        for (const stmt of replayStatements(map)) {
          const again = sessionAssignments(stmt)!;
          expect(again, stmt).to.have.length(1);
          expect(map.get(again[0]!.key)).to.equal(again[0]!.text);
        }
      }));
    });
  });

  describe('applyAssignments and replayStatements', () => {
    const apply = (map: Map<string, string>, sql: string) => applyAssignments(map, sessionAssignments(sql)!);

    it('keeps one entry per key, ordered by last assignment', () => {
      const map = new Map<string, string>();
      apply(map, "SET sql_mode = 'ANSI'");
      apply(map, 'SET NAMES utf8mb4');
      apply(map, "SET sql_mode = 'TRADITIONAL', time_zone = '+01:00'");
      expect(replayStatements(map)).to.deep.equal([
        'SET NAMES utf8mb4', "SET @@SESSION.sql_mode = 'TRADITIONAL'", "SET @@SESSION.time_zone = '+01:00'",
      ]);
    });

    it('lets a later isolation assignment replace an earlier one under either spelling', () => {
      const map = new Map<string, string>();
      apply(map, "SET tx_isolation = 'SERIALIZABLE'");
      apply(map, 'SET autocommit = 0');
      apply(map, 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
      apply(map, 'SET transaction_read_only = 1');
      apply(map, 'SET SESSION TRANSACTION READ WRITE');
      expect(replayStatements(map)).to.deep.equal([
        'SET @@SESSION.autocommit = 0',
        'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED',
        'SET SESSION TRANSACTION READ WRITE',
      ]);
    });

    it('lets SET NAMES / CHARACTER SET supersede the character set variables and each other', () => {
      const map = new Map<string, string>();
      apply(map, "SET character_set_client = 'latin1', character_set_results = NULL, sql_mode = ''");
      apply(map, 'SET collation_connection = latin1_bin, character_set_connection = latin1');
      apply(map, 'SET NAMES utf8mb4 COLLATE utf8mb4_bin');
      expect(replayStatements(map)).to.deep.equal(["SET @@SESSION.sql_mode = ''", 'SET NAMES utf8mb4 COLLATE utf8mb4_bin']);
      apply(map, 'SET character_set_results = binary');
      expect(replayStatements(map)).to.deep.equal([
        "SET @@SESSION.sql_mode = ''", 'SET NAMES utf8mb4 COLLATE utf8mb4_bin', 'SET @@SESSION.character_set_results = binary',
      ]);
      apply(map, 'SET CHARSET latin1');
      expect(replayStatements(map)).to.deep.equal(["SET @@SESSION.sql_mode = ''", 'SET CHARACTER SET latin1']);
      apply(map, 'SET NAMES utf8');
      expect(replayStatements(map)).to.deep.equal(["SET @@SESSION.sql_mode = ''", 'SET NAMES utf8']);
    });

    it('replays nothing for an empty map', () => {
      expect(replayStatements(new Map())).to.deep.equal([]);
    });
  });
});
