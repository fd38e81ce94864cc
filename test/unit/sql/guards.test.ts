import { expect } from 'chai';
import fc from 'fast-check';
import { ALL_GUARDS, checkGuards, guardBit, type GuardSubject } from '../../../src/sql/guards.js';

const app: GuardSubject = { admin: false, fileAccess: false, multiStatements: false };
const admin: GuardSubject = { admin: true, fileAccess: true, multiStatements: true };
const guard = (sql: string, who = app): string | null => checkGuards(sql, ALL_GUARDS, who, 42)?.guard ?? null;

describe('sql/guards (the firewall\'s built-in guards)', () => {
  it('blocks UPDATE / DELETE without WHERE, or with an always-true one, unless LIMITed', () => {
    expect(guard('UPDATE accounts SET balance = 0')).to.equal('unbounded-write');
    expect(guard('DELETE FROM carts')).to.equal('unbounded-write');
    expect(guard('DELETE FROM carts WHERE 1')).to.equal('unbounded-write');
    expect(guard('DELETE FROM carts WHERE 1=1')).to.equal('unbounded-write');
    expect(guard("UPDATE t SET v = 1 WHERE 'a'='a'")).to.equal('unbounded-write');
    expect(guard('DELETE FROM carts LIMIT 100')).to.equal(null);
    expect(guard('DELETE FROM carts WHERE 1=1 LIMIT 100')).to.equal(null);
    expect(guard('UPDATE t SET v = v + 1 WHERE id = 5')).to.equal(null);
    expect(guard('DELETE FROM sessions WHERE expires < NOW()')).to.equal(null);
    expect(guard('UPDATE t SET v = 1 WHERE 1 = 1 AND id = 3')).to.equal(null);
  });

  it('blocks OR with an always-true condition, and nothing that merely looks like it', () => {
    for (const s of ["SELECT * FROM users WHERE name = '' OR '1'='1' AND pass = 'x'", 'SELECT * FROM posts WHERE id = 1 OR 1=1',
      "SELECT * FROM u WHERE n = 'a' OR 'a'='a", 'SELECT * FROM t WHERE id = 1 OR 2>1', 'SELECT * FROM t WHERE id = 1 OR true',
      "SELECT * FROM t WHERE id = 1 || 1=1", "SELECT * FROM u WHERE n = '' OR 1 -- '"]) {
      expect(guard(s), s).to.be.oneOf(['tautology', 'comment-truncation']);
    }
    expect(guard("SELECT * FROM notes WHERE body = 'x OR 1=1'")).to.equal(null);
    expect(guard("SELECT * FROM t WHERE a = 1 OR b = 2")).to.equal(null);
    expect(guard("SELECT * FROM t WHERE a = 'x' OR a = 'y'")).to.equal(null);
    expect(guard('SELECT * FROM t WHERE 1 = 1 AND status = 1')).to.equal(null);
  });

  it('blocks UNION SELECT probing after a condition, not an application UNION', () => {
    expect(guard("SELECT id FROM p WHERE id = 1 UNION SELECT table_name FROM information_schema.tables")).to.equal('union-injection');
    expect(guard("SELECT a, b FROM p WHERE c = '' UNION ALL SELECT NULL, NULL -- '")).to.be.oneOf(['union-injection', 'comment-truncation']);
    expect(guard('SELECT a FROM p WHERE id = 1 UNION SELECT version()')).to.equal('union-injection');
    expect(guard('SELECT a FROM p WHERE id = 1 UNION SELECT @@version')).to.equal('union-injection');
    expect(guard('SELECT a FROM t1 UNION SELECT a FROM t2')).to.equal(null);
    expect(guard('SELECT a FROM t1 WHERE x = 1 UNION SELECT a FROM t2 WHERE y = 2')).to.equal(null);
  });

  it('blocks comment truncation, keywords hidden in comments, and encoded keywords', () => {
    expect(guard("SELECT * FROM users WHERE name = 'admin'-- ' AND pass = 'x'")).to.equal('comment-truncation');
    expect(guard("SELECT * FROM users WHERE name = 'admin'#' AND pass = 'x'")).to.equal('comment-truncation');
    expect(guard("SELECT * FROM users WHERE name = 'admin'/*' AND pass = 'x'")).to.equal('comment-truncation');
    expect(guard('SELECT * FROM p WHERE id = 1 UN/**/ION SEL/**/ECT 1')).to.equal('hidden-keywords');
    expect(guard('SELECT * FROM p WHERE id = 1 /*!50000UNION*/ /*!SELECT*/ 1')).to.equal('hidden-keywords');
    expect(guard('SELECT * FROM users WHERE name = 0x61646d696e')).to.equal('encoded-keywords');
    expect(guard('SELECT * FROM users WHERE name = CHAR(97,100,109,105,110)')).to.equal('encoded-keywords');
    expect(guard('/* controller:users,action:index */ SELECT * FROM users WHERE id = 3')).to.equal(null);
    expect(guard("SELECT * FROM posts WHERE body LIKE '%--%' AND tag LIKE '%#%'")).to.equal(null);
    expect(guard('INSERT INTO blobs VALUES (0x89504e470d0a1a0a)')).to.equal(null);
    expect(guard('SELECT CHAR(65) AS a')).to.equal(null);
    expect(guard('/*!40101 SET NAMES utf8mb4 */')).to.equal(null);
    expect(guard('SELECT /*+ MAX_EXECUTION_TIME(1000) */ id FROM t WHERE id = 1')).to.equal(null);
  });

  it('blocks SLEEP / BENCHMARK / GET_LOCK in a condition, not in a select list', () => {
    expect(guard('SELECT * FROM t WHERE id = 1 AND SLEEP(5)')).to.equal('sleep-in-where');
    expect(guard('SELECT * FROM t WHERE id = IF(1=1, SLEEP(5), 0)')).to.equal('sleep-in-where');
    expect(guard("SELECT * FROM t WHERE id = 1 AND BENCHMARK(1000000, MD5('a'))")).to.equal('sleep-in-where');
    expect(guard("SELECT * FROM t ORDER BY SLEEP(1)")).to.equal('sleep-in-where');
    expect(guard("SELECT GET_LOCK('job', 0)")).to.equal(null);
    expect(guard('SELECT SLEEP(0)')).to.equal(null);
    // A column of the select list: a pause on purpose (the suite's own statements do this).
    expect(guard('SELECT ? + 1 AS n, SLEEP(0.01) AS s')).to.equal(null);
    expect(guard('SELECT UNIX_TIMESTAMP(NOW(6)) AS t, SLEEP(0.3) AS s')).to.equal(null);
    expect(guard('SELECT SLEEP(0.2) + 1 AS n FROM t FOR UPDATE')).to.equal(null);
    // Inside a function or a subquery, or in another statement: the time-based blind shapes.
    expect(guard('SELECT IF(1=1, SLEEP(5), 0)')).to.equal('sleep-in-where');
    expect(guard('SELECT (SELECT SLEEP(5)) AS x')).to.equal('sleep-in-where');
    expect(guard('SELECT a FROM t UNION SELECT SLEEP(5)')).to.not.equal(null);
    expect(guard("UPDATE t SET a = SLEEP(5) WHERE id = 1")).to.equal('sleep-in-where');
  });

  it('file access, admin statements and multi-statements need the user\'s flag', () => {
    expect(guard("SELECT * FROM t INTO OUTFILE '/tmp/x'")).to.equal('file-access');
    expect(guard("SELECT LOAD_FILE('/etc/passwd')")).to.equal('file-access');
    expect(guard("LOAD DATA INFILE '/tmp/x' INTO TABLE t")).to.equal('file-access');
    expect(guard("LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t")).to.equal(null);
    for (const s of ['DROP TABLE t', 'TRUNCATE t', 'ALTER TABLE t ADD c INT', "GRANT ALL ON *.* TO 'x'", "CREATE USER 'x'", 'SET GLOBAL max_connections = 1', 'SET @@global.max_connections = 1', 'SHUTDOWN', 'KILL 7', 'KILL QUERY 7']) {
      expect(guard(s), s).to.equal('admin-statements');
      expect(guard(s, admin), s).to.equal(null);
    }
    expect(guard('KILL 42'), 'its own connection').to.equal(null);
    expect(guard('SET SESSION sql_mode = ""')).to.equal(null);
    expect(guard('SELECT 1; SELECT 2')).to.equal('multi-statements');
    expect(guard('SELECT 1; SELECT 2', admin)).to.equal(null);
    expect(guard("SELECT * FROM u WHERE n = 'x'; DROP TABLE users; -- '", admin)).to.equal('stacked-statements');
  });

  it('blocks blind and error-based probes of server facts in conditions, not introspection or tenant filters', () => {
    expect(guard("SELECT * FROM t WHERE id = 1 AND SUBSTRING(@@version,1,1)='5'")).to.equal('server-probes');
    expect(guard('SELECT * FROM t WHERE id = 1 AND ASCII(SUBSTR((SELECT pass FROM users LIMIT 1),1,1))>64')).to.equal('server-probes');
    expect(guard("SELECT * FROM t WHERE id = 1 AND user() LIKE 'root%'")).to.equal('server-probes');
    expect(guard('SELECT * FROM t WHERE id = 1 AND EXTRACTVALUE(1,CONCAT(0x7e,version()))')).to.be.oneOf(['server-probes', 'encoded-keywords']);
    expect(guard('SELECT * FROM t WHERE id = 1 AND (SELECT 1 FROM (SELECT COUNT(*),CONCAT(version(),FLOOR(RAND(0)*2))x FROM information_schema.tables GROUP BY x)a)')).to.equal('server-probes');
    expect(guard('SELECT * FROM t WHERE id = 1 AND (SELECT COUNT(*) FROM mysql.user)>0')).to.equal('server-probes');
    expect(guard("SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'users'")).to.equal(null);
    expect(guard('SELECT * FROM docs WHERE tenant = DATABASE()')).to.equal(null);
    expect(guard("SELECT EXTRACTVALUE(body, '/doc/title') FROM docs WHERE id = 3")).to.equal(null);
    expect(guard('SELECT LENGTH(name) FROM users WHERE LENGTH(name) > 3')).to.equal(null);
  });

  it('checks only the enabled guards', () => {
    expect(checkGuards('DELETE FROM t', guardBit('tautology'), app, 42)).to.equal(null);
    expect(checkGuards('DELETE FROM t', guardBit('unbounded-write'), app, 42)?.detail).to.match(/DELETE without WHERE or LIMIT/);
    expect(checkGuards('DELETE FROM t', 0, app, 42)).to.equal(null);
  });
});

describe('sql/guards against the corpora (test/corpus)', () => {
  it('blocks at least 95% of 372 injection statements built from public SQLi test sets, every family included', async () => {
    const { SQLI_STATEMENTS } = await import('../../corpus/sqli-statements.js');
    const byFamily = new Map<string, [number, number]>();
    for (const s of SQLI_STATEMENTS) {
      const f = byFamily.get(s.family) ?? [0, 0];
      if (checkGuards(s.sql, ALL_GUARDS, app, 42) !== null) f[0]++;
      f[1]++;
      byFamily.set(s.family, f);
    }
    const blocked = [...byFamily.values()].reduce((n, [b]) => n + b, 0);
    expect(SQLI_STATEMENTS.length).to.be.at.least(300);
    expect(blocked / SQLI_STATEMENTS.length, JSON.stringify([...byFamily])).to.be.at.least(0.95);
    for (const [family, [b, n]] of byFamily) expect(b / n, family).to.be.at.least(0.85);
  });

  it('blocks none of 254 ordinary application statements (joins, CTEs, window and JSON functions, LIKE \'%--%\', OR 1=1 as data...)', async () => {
    const { BENIGN_STATEMENTS } = await import('../../corpus/benign-statements.js');
    const blocked = BENIGN_STATEMENTS.map((b) => ({ sql: b.sql, v: checkGuards(b.sql, ALL_GUARDS, app, 42) })).filter((x) => x.v !== null);
    expect(blocked.map((x) => `${x.v!.guard}: ${x.sql}`)).to.deep.equal([]);
  });
});

describe('sql/guards on any input', () => {
  it('never throws, whatever the text (random SQL-ish fragments, unbalanced quotes and comments)', () => {
    const piece = fc.constantFrom("'", '"', '`', '/*', '*/', '/*!', '-- ', '#', ';', '(', ')', ' OR ', ' AND ', '1=1', 'UNION', 'SELECT', 'FROM',
      'WHERE', '0x41', "x'", 'CHAR(', '@@version', 'SLEEP(', 'SUBSTRING(', ',', '=', '|', '||', 'LIMIT', 'DELETE', 'UPDATE', ' ', '\n', '\\', 'é', '\u00a0');
    fc.assert(fc.property(fc.array(fc.oneof(piece, fc.string()), { maxLength: 40 }), (parts) => {
      const v = checkGuards(parts.join(''), ALL_GUARDS, app, 42);
      return v === null || typeof v.guard === 'string';
    }), { numRuns: 3000 });
  });
});
