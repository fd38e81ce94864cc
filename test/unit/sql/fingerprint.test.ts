import { expect } from 'chai';
import fc from 'fast-check';
import vm from 'node:vm';
import v8 from 'node:v8';
import { digestId, fingerprint, FINGERPRINT_SCAN_LIMIT, maskPasswords, MAX_FINGERPRINT_CHARS } from '../../../src/sql/fingerprint.js';

type Example = [sql: string, expected: string];

function expectAll(rows: Example[]): void {
  for (const [sql, want] of rows) expect(fingerprint(sql), JSON.stringify(sql)).to.equal(want);
}

// ---- generators -------------------------------------------------------------------------

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });
const hexDigits = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 1, maxLength: 12 });

const numberLiteral = fc.oneof(
  fc.integer().map(String),
  fc.tuple(digits(1, 6), digits(0, 4)).map(([a, b]) => `${a}.${b}`),
  digits(1, 4).map((d) => `.${d}`),
  fc.tuple(digits(1, 3), fc.constantFrom('e', 'E', 'e-', 'E+', 'e+'), digits(1, 3)).map(([m, e, x]) => `${m}${e}${x}`),
  fc.tuple(fc.constantFrom('-', '+'), digits(1, 5), fc.boolean()).map(([s, d, f]) => `${s}${d}${f ? '.5' : ''}`),
);

/** Text of a string literal: quotes and backslashes escaped either way; comment and IN look-alikes inside. */
const stringBody = fc.string({ unit: fc.oneof(fc.constantFrom("'", '"', '\\', '--', '/*', '*/', '#', '\n', 'IN (', ' ', 'é', '😀'), fc.string({ maxLength: 3 })), maxLength: 8 });
const stringLiteral = fc.tuple(stringBody, fc.constantFrom("'", '"'), fc.boolean(), fc.constantFrom('', '_utf8mb4', '_latin1 ', 'N'))
  .map(([body, q, doubled, intro]) => {
    const esc = body.replace(/\\/g, '\\\\').replaceAll(q, doubled ? q + q : '\\' + q);
    return `${q === "'" ? intro : ''}${q}${esc}${q}`;
  });

const hexLiteral = fc.oneof(
  hexDigits.map((h) => `0x${h}`),
  hexDigits.map((h) => `X'${h.length % 2 ? '0' + h : h}'`),
  hexDigits.map((h) => `x'${h.length % 2 ? '0' + h : h}'`),
  fc.string({ unit: fc.constantFrom('0', '1'), minLength: 1, maxLength: 9 }).chain((b) => fc.constantFrom(`0b${b}`, `b'${b}'`, `B'${b}'`)),
);

const literal = fc.oneof(numberLiteral, stringLiteral, hexLiteral, fc.constant('?'));

/** Statements with holes; every hole sits where a literal can stand. */
const TEMPLATES: Array<(h: string[]) => string> = [
  (h) => `SELECT c FROM sbtest1 WHERE id=${h[0]}`,
  (h) => `SELECT * FROM t WHERE a = ${h[0]} AND b <> ${h[1]} OR c>=${h[2]}`,
  (h) => `UPDATE t SET v = v + ${h[0]}, w=${h[1]} WHERE id = ${h[2]}`,
  (h) => `INSERT INTO t (a, b, c) VALUES (${h[0]}, ${h[1]}, ${h[2]})`,
  (h) => `SELECT f(${h[0]},${h[1]}) FROM t WHERE x BETWEEN ${h[2]} AND ${h[3]} LIMIT ${h[4]}`,
  (h) => `SELECT ${h[0]}, ${h[1]}`,
  (h) => `DELETE FROM t WHERE id IN (${h[0]}, ${h[1]}, ${h[2]})`,
  (h) => `SELECT a-${h[0]}, a - ${h[1]}, a*${h[2]}, (${h[3]}) FROM t`,
  (h) => `SELECT * FROM t WHERE a = ${h[0]} -- note\n AND b = ${h[1]} /* c */;`,
  (h) => `SELECT CASE WHEN a = ${h[0]} THEN ${h[1]} ELSE ${h[2]} END FROM t`,
  (h) => `SET @x = ${h[0]}`,
  (h) => `SELECT * FROM t WHERE d > ${h[0]} ORDER BY a LIMIT ${h[1]}, ${h[2]}`,
];
const HOLES = 5;

const KEYWORDS = ['SELECT', 'from', 'Where', 'IN', 'not', 'VALUES', 'value', 'insert', 'INTO', 'update', 'SET',
  'null', 'DATE', 'timestamp', 'on', 'DUPLICATE', 'key', 'and', 'limit', 'password', 'IDENTIFIED', 'BY', 't1', 'sbtest1'];
const PUNCT = ['(', ')', ',', ';', '=', '-', '+', '*', '.', '@', '@@', '<>', ':=', '?', '/', '!', '`'];
const TRIVIA = [' ', '  ', '\n', '\t', '-- c\n', '--', '#x\n', '/* c */', '/*', '*/', '/*!40101 ', '/*M!100000 ', '/*+ BKA(t) */',
  '/* dbmesh:primary */', '\r\n'];
/** SQL-looking text: tokens of every kind, glued with or without spaces, often malformed. */
const sqlish = fc.array(fc.oneof(
  fc.constantFrom(...KEYWORDS), fc.constantFrom(...PUNCT), fc.constantFrom(...TRIVIA), literal,
  fc.constantFrom('`Mixed Case`', '`a``b`', "@'q x'", '1abc', '0X1f', '0xZZ', '1e', '…', '😀', '\ud800'),
), { maxLength: 40 }).chain((parts) => fc.constantFrom(parts.join(''), parts.join(' ')));

/** Repeated SQL-looking text, long enough to reach the cap and often the scan limit. */
const longText = fc.tuple(sqlish, fc.integer({ min: 1, max: 3000 })).map(([s, k]) => s.repeat(k));

const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 200 }).map((codes) => String.fromCharCode(...codes)),
  sqlish,
);

// ---- fingerprint ------------------------------------------------------------------------

describe('sql/fingerprint', () => {
  it('gives the examples of the issue', () => {
    expectAll([
      ['SELECT c FROM sbtest1 WHERE id=4242', 'select c from sbtest1 where id=?'],
      ['SELECT SLEEP(0.15)', 'select sleep(?)'],
      ['SELECT id FROM obs WHERE id = 42', 'select id from obs where id = ?'],
      ['UPDATE obs SET v = v + 1 WHERE id = 7', 'update obs set v = v + ? where id = ?'],
    ]);
  });

  it('folds whitespace and removed comments to one space, never inventing one', () => {
    expectAll([
      ['  SELECT\t\n a ,b   FROM t  \n', 'select a ,b from t'],
      ['SELECT a/* c */FROM t', 'select a from t'],
      ['SELECT a -- comment\nFROM t # more\nWHERE id=5', 'select a from t where id=?'],
      ['SELECT 1 -- trailing', 'select ?'],
      ['SELECT 1 #', 'select ?'],
      ['/* lead */ SELECT 1 /* tail */', 'select ?'],
      ['id=5', 'id=?'],
      ['id = 5', 'id = ?'],
      ['SELECT 1--1', 'select ?-?'], // `--` without a space after it is two minus signs
      ['a--/**/5', 'a--?'], // no space after `--`: it would read as a comment
    ]);
  });

  it('keeps executable comments and optimizer hints as text, drops routing hints', () => {
    expectAll([
      ['/*!40101 SET  character_set_client\n= utf8 */;', '/*!40101 SET character_set_client = utf8 */;'],
      ['SELECT /*+ MAX_EXECUTION_TIME(1000) */ a FROM t', 'select /*+ MAX_EXECUTION_TIME(1000) */ a from t'],
      ['CREATE /*M!100000 OR REPLACE */ TABLE t (a INT)', 'create /*M!100000 OR REPLACE */ table t (a int)'],
      ['SELECT /*!*/ 1', 'select /*!*/ ?'],
      ['SELECT /* dbmesh:primary */ a FROM t', 'select a from t'],
      ['SELECT /*+ dbmesh:replica */ a FROM t', 'select a from t'],
      ['/*!50001 CREATE VIEW v AS SELECT 1', '/*!50001 CREATE VIEW v AS SELECT 1'],
    ]);
  });

  it('lowercases unquoted words and keeps backquoted names as written', () => {
    expectAll([
      ['SeLeCt A, t1.B FROM sbtest1 T1', 'select a, t1.b from sbtest1 t1'],
      ['SELECT `Mixed Case`, `a``B` FROM `Db`.`T`', 'select `Mixed Case`, `a``B` from `Db`.`T`'],
      ['SELECT NULL, TRUE, FALSE, Now()', 'select null, true, false, now()'],
      ['SELECT 1abc, 2E FROM t', 'select 1abc, 2e from t'],
      ['SELECT @A, @@SESSION.Sql_Mode, @\'Q x\'', "select @a, @@session.sql_mode, @'Q x'"],
      ['SELECT Énorme FROM t', 'select Énorme from t'],
    ]);
  });

  it('replaces literals with ?', () => {
    expectAll([
      ["SELECT 'a', \"b\", 'it''s', 'it\\'s', \"a\"\"b\", 'x\\\\'", 'select ?, ?, ?, ?, ?, ?'],
      ["SELECT _utf8mb4'x', _latin1 'y', N'z', n'z'", 'select ?, ?, ?, ?'],
      ['SELECT 1, 1.5, .5, 1., 1e-5, 1.5E+3, 2e10', 'select ?, ?, ?, ?, ?, ?, ?'],
      ["SELECT 0x1F, X'1F', x'1f', 0b101, b'101', B'1'", 'select ?, ?, ?, ?, ?, ?'],
      ["SELECT DATE '2024-01-01', TIMESTAMP '2024-01-01 10:00:00', TIME'10:00', date/**/'2024-01-01'", 'select date ?, timestamp ?, time?, date ?'],
      ['SELECT ? FROM t WHERE a = ?', 'select ? from t where a = ?'],
      ['SELECT 0xZZ, 0x, 0b2', 'select 0xzz, 0x, 0b2'], // identifiers, not literals
      ['SELECT t.5, `t`.5, a .5', 'select t.?, `t`.?, a ?'],
      ["SELECT 'unterminated", 'select ?'],
    ]);
  });

  it('is not misled by quotes and comment markers inside strings, or quotes inside comments', () => {
    expectAll([
      ["SELECT 'a -- b', 'c /* d', 'e # f' FROM t", 'select ?, ?, ? from t'],
      ["SELECT a /* it's */ FROM t -- don't\nWHERE b = 'IN (1, 2)'", 'select a from t where b = ?'],
      ["SELECT \"x' IN (\" FROM t WHERE a IN (1, 2)", 'select ? from t where a in (?)'],
    ]);
  });

  it('folds a sign into a number after an operator, (, , , the start or a keyword', () => {
    expectAll([
      ['SELECT * FROM t WHERE id = -5', 'select * from t where id = ?'],
      ['id=-5', 'id=?'],
      ['-5', '?'],
      ['SELECT a-5, a - 5, a - -5, a--5, a+-.5, f(-1, +2)', 'select a-?, a - ?, a - ?, a-?, a+?, f(?, ?)'],
      ['SELECT -5, 1 BETWEEN -1 AND -2 LIMIT -1', 'select ?, ? between ? and ? limit ?'],
      ['SELECT a -5, (a) -5', 'select a -?, (a) -?'],
      ["SELECT - 5, -'x'", "select - ?, -?"],
      ['SELECT -1abc', 'select -1abc'],
    ]);
  });

  it('collapses IN lists of literals, and only those', () => {
    expectAll([
      ['SELECT * FROM t WHERE id IN (1, 2, 3)', 'select * from t where id in (?)'],
      ['SELECT * FROM t WHERE id in(1,2)', 'select * from t where id in(?)'],
      ["SELECT * FROM t WHERE a NOT IN ( 'x' , -1, NULL, ?, 0x1F, DATE '2024-01-01' )", 'select * from t where a not in (?)'],
      ['SELECT * FROM t WHERE id IN /* c */ (7)', 'select * from t where id in (?)'],
      ['SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE v IN (1, 2))', 'select * from t where id in (select id from u where v in (?))'],
      ['SELECT * FROM t WHERE id IN (1, a, 3)', 'select * from t where id in (?, a, ?)'],
      ['SELECT * FROM t WHERE id IN (1 + 2)', 'select * from t where id in (? + ?)'],
      ['SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))', 'select * from t where (a, b) in ((?, ?), (?, ?))'],
      ['SELECT * FROM t WHERE id IN ()', 'select * from t where id in ()'],
      ['SELECT * FROM t WHERE id IN (1,)', 'select * from t where id in (?,)'],
      ["SELECT * FROM t WHERE id IN ('a' 'b')", 'select * from t where id in (? ?)'],
      ["SELECT POSITION('a' IN 'abc'), a IN (1)", 'select position(? in ?), a in (?)'],
      ['SELECT * FROM t WHERE id IN (1, 2', 'select * from t where id in (?, ?'],
    ]);
  });

  it('keeps the first VALUES row and drops the others', () => {
    expectAll([
      ["INSERT INTO t (a,b) VALUES (1,'a'),(2,'b'),(3,'c')", 'insert into t (a,b) values (?,?)'],
      ["INSERT INTO t (a,b) VALUES (9,'z')", 'insert into t (a,b) values (?,?)'],
      ['INSERT INTO t VALUES (1, NOW()) , /* c */ (2, (SELECT 2)), (3, f(4, (5)))', 'insert into t values (?, now())'],
      ["INSERT INTO t VALUE ('a)'), ('(')", 'insert into t value (?)'],
      ['INSERT INTO t VALUES (1),(2) ON DUPLICATE KEY UPDATE a=VALUES(a), b = VALUES(b)',
        'insert into t values (?) on duplicate key update a=values(a), b = values(b)'],
      ['INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a),b=VALUES(b)',
        'insert into t values (?) on duplicate key update a = values(a),b=values(b)'],
      ['INSERT INTO t VALUES (1, 2), (3, 4);', 'insert into t values (?, ?);'],
      ['INSERT INTO t VALUES (1),(2', 'insert into t values (?)'],
      ['INSERT INTO t VALUES (1),(2;SELECT 1', 'insert into t values (?);select ?'],
      ['VALUES (1, 2), (3, 4)', 'values (?, ?)'],
      ['INSERT INTO t SELECT * FROM u WHERE a IN (1, 2)', 'insert into t select * from u where a in (?)'],
    ]);
  });

  it('fingerprints multi-statements as a whole and keeps ;', () => {
    expectAll([
      ['SELECT 1; SELECT 2;', 'select ?; select ?;'],
      ['SET @a = 1;SELECT -1', 'set @a = ?;select ?'],
    ]);
  });

  it('reads account names as literals', () => {
    expectAll([
      ["CREATE USER 'bob'@'localhost', bob@'%' IDENTIFIED BY 'x'", 'create user ?@?, bob@? identified by ?'],
      ["GRANT SELECT ON db.* TO bob@localhost", 'grant select on db.* to bob@localhost'],
    ]);
  });

  it('reads only FINGERPRINT_SCAN_LIMIT characters and marks a longer text with ` …`', () => {
    const rows = '(1,\'a\'),'.repeat(FINGERPRINT_SCAN_LIMIT / 8);
    expect(fingerprint(`INSERT INTO t VALUES ${rows}(2,'b')`)).to.equal('insert into t values (?,?) …');
    expect(fingerprint(`SELECT 1 /* ${'x'.repeat(FINGERPRINT_SCAN_LIMIT)} */`)).to.equal('select ? …');
    expect(fingerprint(' '.repeat(FINGERPRINT_SCAN_LIMIT + 1))).to.equal('…');
    const edge = 'SELECT 1'.padEnd(FINGERPRINT_SCAN_LIMIT, ' ');
    expect(fingerprint(edge)).to.equal('select ?');
    expect(fingerprint(edge + 'x')).to.equal('select ? …');
  });

  it('cuts a long fingerprint to MAX_FINGERPRINT_CHARS, ending in …, never inside a surrogate pair', () => {
    const long = fingerprint(`SELECT ${'abc, '.repeat(2000)}x FROM t`);
    expect(long).to.have.length(MAX_FINGERPRINT_CHARS);
    expect(long.startsWith('select abc, abc,')).to.equal(true);
    expect(long.endsWith('…')).to.equal(true);
    const emoji = fingerprint(`SELECT x${'😀'.repeat(3000)}`);
    expect(emoji.length).to.be.at.most(MAX_FINGERPRINT_CHARS);
    expect(emoji.endsWith('😀…')).to.equal(true);
    const exact = `select ${'a'.repeat(MAX_FINGERPRINT_CHARS - 7)}`;
    expect(fingerprint(exact)).to.equal(exact);
    expect(fingerprint(exact + 'b')).to.equal(exact.slice(0, -1) + '…');
  });

  it('still collapses an IN list whose items would pass the cap', () => {
    const list = Array.from({ length: 3000 }, (_, k) => k).join(', ');
    expect(fingerprint(`SELECT * FROM t WHERE id IN (${list}) AND b = 1`)).to.equal('select * from t where id in (?) and b = ?');
  });

  it('returns strings that do not keep their input alive', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const heap = (): number => {
      gc();
      return process.memoryUsage().heapUsed;
    };
    const before = heap();
    const keep: string[] = [];
    // One 16 MiB statement, and 200 of 60 KiB whose fingerprint is one stretch of their text
    // (what a slice() of the input would return, holding all of it).
    keep.push(fingerprint(`SELECT a_rather_long_identifier_name FROM t WHERE x = '${'x'.repeat(16 << 20)}'`));
    for (let k = 0; k < 200; k++) keep.push(fingerprint(`SELECT \`a_rather_long_identifier_name\` /*${'y'.repeat(60 << 10)}${k}*/`));
    expect(keep[0]).to.equal('select a_rather_long_identifier_name from t where x = ? …');
    expect(keep[200]).to.equal('select `a_rather_long_identifier_name`');
    expect(heap() - before).to.be.below(4 << 20);
  });

  it('never throws, stays within MAX_FINGERPRINT_CHARS and has no space at either end', () => {
    fc.assert(fc.property(anyText, (s) => {
      const f = fingerprint(s);
      expect(f.length).to.be.at.most(MAX_FINGERPRINT_CHARS);
      expect(f).to.not.match(/^[ \t\n\v\f\r]|[ \t\n\v\f\r]$/);
    }), { numRuns: 3000 });
  });

  it('stays within MAX_FINGERPRINT_CHARS and is idempotent on long texts too', () => {
    fc.assert(fc.property(longText, (s) => {
      const f = fingerprint(s);
      expect(f.length).to.be.at.most(MAX_FINGERPRINT_CHARS);
      expect(f).to.not.match(/^[ \t\n\v\f\r]|[ \t\n\v\f\r]$/);
      expect(fingerprint(f)).to.equal(f);
    }), { numRuns: 300 });
  });

  it('gives one fingerprint and digest id to statements that differ only in literal values', () => {
    const holes = fc.tuple(...Array.from({ length: HOLES }, () => fc.tuple(literal, literal)));
    fc.assert(fc.property(fc.constantFrom(...TEMPLATES), holes, (template, pairs) => {
      const a = fingerprint(template(pairs.map((p) => p[0])));
      const b = fingerprint(template(pairs.map((p) => p[1])));
      expect(a).to.equal(b);
      expect(a).to.not.match(/'|"/);
      expect(digestId(a)).to.equal(digestId(b));
    }), { numRuns: 3000 });
  });

  it('gives one fingerprint to IN lists of 1 to 500 literals', () => {
    const want = fingerprint('SELECT * FROM t WHERE id IN (1) AND b = 2');
    const items = fc.array(fc.oneof(literal, fc.constant('NULL')), { minLength: 1, maxLength: 500 });
    fc.assert(fc.property(items, fc.constantFrom(',', ', ', ' , ', ',\n'), (list, sep) => {
      expect(fingerprint(`SELECT * FROM t WHERE id IN (${list.join(sep)}) AND b = 2`)).to.equal(want);
    }), { numRuns: 300 });
  });

  it('gives one fingerprint to VALUES lists of any number of rows', () => {
    const want = 'insert into t (a, b) values (?, ?) on duplicate key update a = values(a)';
    const row = fc.tuple(literal, literal).map(([a, b]) => `(${a}, ${b})`);
    fc.assert(fc.property(fc.array(row, { minLength: 1, maxLength: 50 }), fc.constantFrom(',', ', ', ' ,\n', ',/* c */'), (rows, sep) => {
      expect(fingerprint(`INSERT INTO t (a, b) VALUES ${rows.join(sep)} ON DUPLICATE KEY UPDATE a = VALUES(a)`)).to.equal(want);
    }), { numRuns: 500 });
  });

  // Holds for every input: each rule maps its output to itself (`?` is a literal, words are
  // already lowercase, the kept comments are already folded, a collapsed list is `(?)`).
  it('is idempotent', () => {
    fc.assert(fc.property(anyText, (s) => {
      const f = fingerprint(s);
      expect(fingerprint(f)).to.equal(f);
    }), { numRuns: 5000 });
  });
});

// ---- digestId -----------------------------------------------------------------------------

/** FNV-1a 64 over UTF-8, written the plain way with BigInt. */
function referenceFnv1a64(s: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(s, 'utf8')) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

describe('sql/fingerprint digestId', () => {
  it('is FNV-1a 64 over UTF-8 (pinned values: a change of hash must be deliberate)', () => {
    expect(digestId('')).to.equal('cbf29ce484222325'); // FNV test vectors
    expect(digestId('a')).to.equal('af63dc4c8601ec8c');
    expect(digestId('foobar')).to.equal('85944171f73967e8');
    expect(digestId('select c from sbtest1 where id=?')).to.equal('68f07d14552bf180');
    expect(digestId('select id from obs where id = ?')).to.equal('c85392975d0d5782');
    expect(digestId('insert into t values (?,?)')).to.equal('367caf1f703b4287');
    expect(digestId('é😀')).to.equal('52da6ebdce68376c');
    expect(digestId('\ud800x')).to.equal('af46b2e0782edaf6'); // a lone surrogate hashes as U+FFFD
  });

  it('is 16 lowercase hex chars and agrees with a BigInt FNV-1a 64', () => {
    fc.assert(fc.property(anyText, (s) => {
      const id = digestId(s);
      expect(id).to.match(/^[0-9a-f]{16}$/);
      expect(id).to.equal(referenceFnv1a64(s));
    }), { numRuns: 2000 });
  });
});

// ---- maskPasswords ------------------------------------------------------------------------

describe('sql/fingerprint maskPasswords', () => {
  it('masks passwords in account statements and password functions', () => {
    const rows: Example[] = [
      ["CREATE USER 'bob'@'%' IDENTIFIED BY 'secret'", "CREATE USER 'bob'@'%' IDENTIFIED BY '***'"],
      ["alter user bob identified by \"s3\" REPLACE 'old'", 'alter user bob identified by "***" REPLACE \'***\''],
      ["GRANT ALL ON *.* TO bob IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'", "GRANT ALL ON *.* TO bob IDENTIFIED BY PASSWORD '***'"],
      ["CREATE USER u IDENTIFIED WITH mysql_native_password BY 'pw'", "CREATE USER u IDENTIFIED WITH mysql_native_password BY '***'"],
      ["CREATE USER u IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$hash'", "CREATE USER u IDENTIFIED WITH 'caching_sha2_password' AS '***'"],
      ["CREATE USER u IDENTIFIED VIA ed25519 USING PASSWORD('pw')", "CREATE USER u IDENTIFIED VIA ed25519 USING PASSWORD('***')"],
      ["CREATE USER u IDENTIFIED VIA pam USING 'svc' OR ed25519 USING 'hash'", "CREATE USER u IDENTIFIED VIA pam USING '***' OR ed25519 USING '***'"],
      ["SET PASSWORD FOR 'bob'@'localhost' = PASSWORD('pw')", "SET PASSWORD FOR 'bob'@'localhost' = PASSWORD('***')"],
      ["SET PASSWORD = 'pw'", "SET PASSWORD = '***'"],
      ["set password for bob = old_password('pw')", "set password for bob = old_password('***')"],
      ["SELECT PASSWORD('a'), OLD_PASSWORD ( 'b' )", "SELECT PASSWORD('***'), OLD_PASSWORD ( '***' )"],
      ["CHANGE MASTER TO MASTER_HOST='db1', MASTER_USER='repl', MASTER_PASSWORD='pw', MASTER_PORT=3306",
        "CHANGE MASTER TO MASTER_HOST='db1', MASTER_USER='repl', MASTER_PASSWORD='***', MASTER_PORT=3306"],
      ["CREATE USER u IDENTIFIED /* c */ BY -- note\n 'pw'", "CREATE USER u IDENTIFIED /* c */ BY -- note\n '***'"],
      ["CREATE USER u IDENTIFIED BY 'it\\'s' , v IDENTIFIED BY 'a''b'", "CREATE USER u IDENTIFIED BY '***' , v IDENTIFIED BY '***'"],
      ["CREATE USER u IDENTIFIED BY _utf8mb4'pw'", "CREATE USER u IDENTIFIED BY _utf8mb4'***'"],
      ["CREATE USER u /*!80000 IDENTIFIED BY 'pw' */", "CREATE USER u /*!80000 IDENTIFIED BY '***' */"],
      ["CREATE USER u IDENTIFIED BY 'unterminated", "CREATE USER u IDENTIFIED BY '***'"],
    ];
    for (const [sql, want] of rows) expect(maskPasswords(sql), sql).to.equal(want);
  });

  it('leaves text without a password literal as it is', () => {
    for (const sql of [
      'SELECT 1',
      'SELECT password FROM users WHERE id = 1',
      "SELECT 'IDENTIFIED BY x' FROM t",
      "CREATE USER u IDENTIFIED BY RANDOM PASSWORD",
      "ALTER USER u PASSWORD EXPIRE INTERVAL 90 DAY",
      "/* IDENTIFIED BY 'not sql' */ SELECT 1",
    ]) expect(maskPasswords(sql)).to.equal(sql);
  });

  // A string is a primitive: `===` compares values, so identity cannot be observed from
  // JavaScript. The implementation returns its argument on these paths; this checks the value.
  it('returns statements without "password" or "identified" unchanged', () => {
    const plain = fc.string({ unit: 'binary', maxLength: 200 }).filter((s) => !/password|identified/i.test(s));
    fc.assert(fc.property(fc.oneof(plain, sqlish.filter((s) => !/password|identified/i.test(s))), (s) => {
      expect(maskPasswords(s)).to.equal(s);
    }), { numRuns: 2000 });
  });

  it('never leaves a generated password in the text', () => {
    const secret = fc.string({ unit: fc.constantFrom(...'abcXYZ019\''), minLength: 1, maxLength: 12 }).map((s) => `Q7${s}`);
    const quoted = fc.tuple(secret, fc.constantFrom("\\'", "''")).map(([pw, esc]) => ({ pw, sql: `'${pw.replaceAll("'", esc)}'` }));
    const gap = fc.constantFrom(' ', '  ', '\n', ' /* c */ ', ' -- c\n', '\t');
    const word = (w: string) => fc.constantFrom(w, w.toLowerCase(), w[0] + w.slice(1).toLowerCase());
    const shapes: Array<(p: string) => string[]> = [
      (p) => ["CREATE USER 'u'@'%'", 'IDENTIFIED', 'BY', p],
      (p) => ['ALTER USER u', 'IDENTIFIED', 'BY', p, 'REPLACE', p],
      (p) => ['GRANT ALL ON *.* TO u', 'IDENTIFIED', 'BY', 'PASSWORD', p],
      (p) => ['CREATE USER u', 'IDENTIFIED', 'WITH', 'mysql_native_password', 'BY', p],
      (p) => ['CREATE USER u', 'IDENTIFIED', 'WITH', 'sha256_password', 'AS', p],
      (p) => ['CREATE USER u', 'IDENTIFIED', 'VIA', 'ed25519', 'USING', 'PASSWORD', '(', p, ')'],
      (p) => ['CREATE USER u', 'IDENTIFIED', 'VIA', 'pam', 'USING', p, 'OR', 'ed25519', 'USING', p],
      (p) => ['SET', 'PASSWORD', 'FOR', "'u'@'h'", '=', 'PASSWORD', '(', p, ')'],
      (p) => ['SET', 'PASSWORD', '=', p],
      (p) => ['SELECT', 'OLD_PASSWORD', '(', p, ')'],
      (p) => ["CHANGE MASTER TO MASTER_HOST='h',", 'MASTER_PASSWORD', '=', p],
    ];
    const statement = fc.tuple(fc.constantFrom(...shapes), quoted).chain(([shape, q]) => {
      const parts = shape(q.sql);
      const words = fc.tuple(...parts.map((p) => (/^[A-Z_]+$/.test(p) ? word(p) : fc.constant(p))));
      const gaps = fc.array(gap, { minLength: parts.length, maxLength: parts.length });
      return fc.tuple(words, gaps).map(([ws, gs]) => ({ pw: q.pw, quoted: q.sql, sql: ws.map((w, k) => w + gs[k]).join('').trim() }));
    });
    fc.assert(fc.property(statement, ({ pw, quoted, sql }) => {
      const masked = maskPasswords(sql);
      expect(masked).to.not.include(pw);
      expect(masked).to.not.include(quoted.slice(1, -1));
      expect(masked).to.include("'***'");
    }), { numRuns: 2000 });
  });
});
