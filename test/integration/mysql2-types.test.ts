/**
 * mysql2 conformance, part 1: every common column type read with .query() (text protocol)
 * and .execute() (binary protocol), written with bound parameters, and server errors. Each
 * result through dbmesh must deep-equal the same statement run directly on the primary;
 * a few golden values make sure both sides are not equally wrong.
 */
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import type { SandboxInfo } from '../helpers/sandbox.js';
import { failure } from '../helpers/failure.js';
import { endOrDestroy } from '../helpers/routing.js';

const T = 'dbmesh_test.m2_types';
const COLS: [string, string][] = [
  ['id', 'INT PRIMARY KEY'], ['ti', 'TINYINT'], ['tiu', 'TINYINT UNSIGNED'], ['si', 'SMALLINT'],
  ['siu', 'SMALLINT UNSIGNED'], ['mi', 'MEDIUMINT'], ['miu', 'MEDIUMINT UNSIGNED'], ['i', 'INT'],
  ['iu', 'INT UNSIGNED'], ['bi', 'BIGINT'], ['biu', 'BIGINT UNSIGNED'], ['d65', 'DECIMAL(65,30)'],
  ['f', 'FLOAT'], ['dbl', 'DOUBLE'], ['b64', 'BIT(64)'], ['ch', 'CHAR(10)'], ['vc', 'VARCHAR(100)'],
  ['tx', 'TEXT'], ['bn', 'BINARY(8)'], ['vb', 'VARBINARY(32)'], ['bl', 'BLOB'],
  ['en', "ENUM('a','b','ü🙂')"], ['st', "SET('x','y','z')"], ['dt', 'DATE'], ['tm', 'TIME(6)'],
  ['dtm', 'DATETIME(6)'], ['ts', 'TIMESTAMP(6) NULL DEFAULT NULL'], ['yr', 'YEAR'], ['js', 'JSON'],
  ['geo', 'GEOMETRY'],
];
const NAMES = COLS.map(([n]) => n);
const D65_MAX = '9'.repeat(35) + '.' + '9'.repeat(30);
// One row per tuple, column order as above; the geometry is WKT, wrapped in ST_GeomFromText.
const ROWS: (string | number | Buffer | null)[][] = [
  [1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, '9223372036854775807',
    '18446744073709551615', D65_MAX, 3.40282e38, 1.7976931348623157e308, Buffer.alloc(8, 0xff),
    'ÿ🙂ab', 'héllo wörld 🚀🙂 中文', '🙂'.repeat(500), Buffer.from('00ff00ff00ff00ff', 'hex'),
    Buffer.from('00010203fffefd', 'hex'), Buffer.from([0, 255, 10, 13, 39, 92, 0]), 'ü🙂', 'x,y,z', '9999-12-31',
    '838:59:59.000000', '9999-12-31 23:59:59.999999', '2037-12-31 23:59:59.999999', 2155,
    '{"k":"🙂","n":[1,2.5,null,true],"big":18446744073709551615}', 'POINT(1.5 -2.25)'],
  [2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, '-9223372036854775808', '0', '-' + D65_MAX,
    -3.40282e38, -1.7976931348623157e308, Buffer.alloc(8), '', '', '', Buffer.alloc(0), Buffer.alloc(0),
    Buffer.alloc(0), 'a', '', '1000-01-01', '-838:59:59.000000', '1000-01-01 00:00:00.000000',
    '1971-01-01 00:00:00.000000', 1901, '[]', 'POINT(0 0)'],
  [3, 1, 2, -3, 4, -5, 6, -7, 8, '-9', '10', '-0.000000000000000000000000000001', 1.5, 0.1,
    Buffer.from('0102030405060708', 'hex'), 'a', 'ünïcødé', 'text\n\t"quoted"', Buffer.from('abc'),
    Buffer.from('x'), Buffer.from('blob'), 'b', 'y', '2024-02-29', '-01:02:03.456789',
    '2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789012', 2024, '{"a":{"b":[{"c":"🚀"}]}}',
    'POLYGON((0 0,1 0,1 1,0 0))'],
  [4, ...NAMES.slice(1).map(() => null)],
];
const PLACEHOLDERS = NAMES.map((n) => (n === 'geo' ? 'ST_GeomFromText(?)' : '?')).join(', ');

type Opts = mysql.ConnectionOptions;
// typeCast: false is text-protocol only (mysql2's binary row parser cannot honour it).
const VARIANTS: { label: string; opts: Opts; binary: boolean }[] = [
  { label: 'default typecasts', opts: { supportBigNumbers: true, bigNumberStrings: true }, binary: true },
  { label: 'dateStrings', opts: { supportBigNumbers: true, bigNumberStrings: true, dateStrings: true }, binary: true },
  { label: 'raw bytes, typeCast: false', opts: { typeCast: false }, binary: false },
];
const FIELD_KEYS = ['name', 'orgName', 'table', 'orgTable', 'db', 'characterSet', 'columnLength',
  'columnType', 'flags', 'decimals'] as const;

function fieldFacts(fields: unknown, keys: readonly string[] = FIELD_KEYS): unknown[] {
  return (fields as Record<string, unknown>[]).map((f) => keys.map((k) => f[k]));
}
/**
 * Rows without the JSON column: how mysql2 decodes JSON depends on MariaDB extended metadata,
 * which has its own test below, so one difference does not hide every other.
 */
function withoutJson(rows: unknown): unknown[] {
  return (rows as Record<string, unknown>[]).map(({ js: _js, ...rest }) => rest);
}


describe('mysql2 through dbmesh: column types and errors', function () {
  this.timeout(60000);
  let sb: SandboxInfo;
  let dbmesh: DbmeshProcess;
  const opened: mysql.Connection[] = [];

  async function connect(port: number, opts: Opts = {}): Promise<mysql.Connection> {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app_pw', database: 'dbmesh_test', ...opts });
    opened.push(c);
    return c;
  }
  /** The same connection options directly on the primary and through dbmesh. */
  async function pair(opts: Opts = {}): Promise<[mysql.Connection, mysql.Connection]> {
    return [await connect(sb.primary.port, opts), await connect(dbmesh.port, opts)];
  }

  before(async function () {
    sb = await sharedSandbox();
    dbmesh = await startDbmesh(sb);
    const c = await connect(sb.primary.port);
    await c.query(`DROP TABLE IF EXISTS ${T}`);
    await c.query(`CREATE TABLE ${T} (${COLS.map((c) => c.join(' ')).join(', ')}) CHARSET utf8mb4`);
    for (const row of ROWS) await c.query(`INSERT INTO ${T} VALUES (${PLACEHOLDERS})`, row);
  });

  after(async function () {
    await Promise.all(opened.splice(0).map((c) => endOrDestroy(c)));
    await dbmesh?.stop();
  });

  it('creates the fixture with one column per type', function () {
    expect(NAMES).to.have.length(30);
    expect(ROWS.every((r) => r.length === NAMES.length)).to.equal(true);
  });

  for (const { label, opts, binary } of VARIANTS) {
    // Raw bytes do not depend on column metadata, so the JSON column is compared there too.
    const rowsOf = opts.typeCast === false ? (rows: unknown): unknown => rows : withoutJson;
    it(`.query() returns identical rows and column metadata (${label})`, async function () {
      const [direct, via] = await pair(opts);
      const sql = `SELECT * FROM ${T} ORDER BY id`;
      const [dRows, dFields] = await direct.query(sql);
      const [vRows, vFields] = await via.query(sql);
      expect(rowsOf(vRows)).to.deep.equal(rowsOf(dRows));
      expect(fieldFacts(vFields)).to.deep.equal(fieldFacts(dFields));
      expect(vRows).to.have.length(4);
    });

    if (binary) it(`.execute() returns identical rows and column metadata (${label})`, async function () {
      const [direct, via] = await pair(opts);
      const sql = `SELECT * FROM ${T} WHERE id > ? ORDER BY id`;
      const [dRows, dFields] = await direct.execute(sql, [0]);
      const [vRows, vFields] = await via.execute(sql, [0]);
      expect(rowsOf(vRows)).to.deep.equal(rowsOf(dRows));
      expect(fieldFacts(vFields)).to.deep.equal(fieldFacts(dFields));
      expect(vRows).to.have.length(4);
    });
  }

  it('decodes JSON columns as directly (MariaDB extended metadata: format=json, type names)', async function () {
    const [direct, via] = await pair({ supportBigNumbers: true, bigNumberStrings: true });
    const keys = ['name', 'extendedTypeName', 'extendedFormat'];
    for (const run of [(c: mysql.Connection) => c.query(`SELECT id, js, geo FROM ${T} ORDER BY id`),
      (c: mysql.Connection) => c.execute(`SELECT id, js, geo FROM ${T} ORDER BY id`)]) {
      const [dRows, dFields] = await run(direct);
      const [vRows, vFields] = await run(via);
      expect(fieldFacts(vFields, keys), 'extended column metadata').to.deep.equal(fieldFacts(dFields, keys));
      expect(vRows, 'JSON values').to.deep.equal(dRows);
    }
  });

  it('decodes the golden values (max unsigned, decimals, emoji, bits, time, geometry, NULLs)', async function () {
    const via = await connect(dbmesh.port, VARIANTS[1]!.opts);
    for (const binary of [false, true]) {
      const sql = `SELECT * FROM ${T} ORDER BY id`;
      const [rows] = await (binary ? via.execute(sql) : via.query(sql)) as [Record<string, unknown>[], unknown];
      // The text protocol carries the server's formatting; mysql2 formats binary TIME itself.
      const maxTime = binary ? '838:59:59' : '838:59:59.000000';
      const [max, min, typical, nulls] = rows;
      expect(max).to.include({ biu: '18446744073709551615', bi: '9223372036854775807', iu: 4294967295, d65: D65_MAX });
      expect(max).to.include({ vc: 'héllo wörld 🚀🙂 中文', en: 'ü🙂', st: 'x,y,z', tm: maxTime, yr: 2155 });
      expect(max!.tx).to.equal('🙂'.repeat(500));
      expect(max!.b64).to.deep.equal(Buffer.alloc(8, 0xff));
      expect(max!.geo).to.deep.equal({ x: 1.5, y: -2.25 });
      expect(min).to.include({ bi: '-9223372036854775808', tm: binary ? '-838:59:59' : '-838:59:59.000000', dtm: binary ? '1000-01-01 00:00:00' : '1000-01-01 00:00:00.000000' });
      expect(typical).to.include({ tm: '-01:02:03.456789', dtm: '2024-02-29 12:34:56.789012', d65: '-0.000000000000000000000000000001' });
      expect(Object.values(nulls!).filter((v) => v !== null)).to.deep.equal([4]);
    }
  });

  it('stores bound parameters of every type identically (execute INSERT)', async function () {
    const [direct, via] = await pair({ supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
    const insert = `INSERT INTO ${T} VALUES (${PLACEHOLDERS})`;
    await direct.query(`DELETE FROM ${T} WHERE id > 10`);
    for (const row of ROWS) {
      await direct.execute(insert, [Number(row[0]) + 10, ...row.slice(1)]);
      await via.execute(insert, [Number(row[0]) + 20, ...row.slice(1)]);
    }
    const strip = (rows: unknown): unknown[] => (rows as Record<string, unknown>[]).map(({ id: _id, ...rest }) => rest);
    const [dRows] = await direct.query(`SELECT * FROM ${T} WHERE id BETWEEN 11 AND 19 ORDER BY id`);
    const [vRows] = await direct.query(`SELECT * FROM ${T} WHERE id BETWEEN 21 AND 29 ORDER BY id`);
    const [literal] = await direct.query(`SELECT * FROM ${T} WHERE id < 10 ORDER BY id`);
    expect(strip(vRows)).to.have.length(4).and.deep.equal(strip(dRows));
    expect(strip(vRows)).to.deep.equal(strip(literal));
  });

  it('passes syntax errors through with the same errno, SQLSTATE and message (query and execute)', async function () {
    const [direct, via] = await pair();
    const sql = 'SELEC 1 FROM nowhere WHERE';
    const d = await failure(direct.query(sql));
    expect(d.errno).to.equal(1064);
    expect(await failure(via.query(sql))).to.deep.equal(d);
    expect(await failure(via.execute(sql))).to.deep.equal(await failure(direct.execute(sql)));
    expect((await failure(via.execute(sql))).errno).to.equal(1064);
    // The connection stays usable after an error.
    expect((await via.query('SELECT 1 AS one'))[0]).to.deep.equal([{ one: 1 }]);
  });

  it('passes duplicate key, unknown table and unknown column errors through unchanged', async function () {
    const [direct, via] = await pair();
    await direct.query('DROP TABLE IF EXISTS m2_dup');
    await direct.query('CREATE TABLE m2_dup (id INT PRIMARY KEY, u VARCHAR(10) UNIQUE)');
    await direct.query("INSERT INTO m2_dup VALUES (1, 'one')");
    const cases: [string, (string | number)[], number][] = [
      ["INSERT INTO m2_dup VALUES (1, 'x')", [], 1062],
      ['INSERT INTO m2_dup VALUES (?, ?)', [2, 'one'], 1062],
      ['SELECT * FROM m2_no_such_table', [], 1146],
      ['SELECT no_such_column FROM m2_dup', [], 1054],
    ];
    for (const [sql, params, errno] of cases) {
      const d = await failure(direct.query(sql, params));
      expect(d.errno, sql).to.equal(errno);
      expect(await failure(via.query(sql, params)), sql).to.deep.equal(d);
      expect(await failure(via.execute(sql, params)), sql).to.deep.equal(await failure(direct.execute(sql, params)));
    }
    const dup = await failure(via.query("INSERT INTO m2_dup VALUES (1, 'x')"));
    expect([dup.code, dup.sqlMessage]).to.deep.equal(['ER_DUP_ENTRY', "Duplicate entry '1' for key 'PRIMARY'"]);
  });

  it('keeps warnings for SHOW WARNINGS (nothing runs in between)', async function () {
    const [direct, via] = await pair();
    const results = [];
    for (const c of [direct, via]) {
      await c.query('SELECT 1/0 AS x');
      results.push((await c.query('SHOW WARNINGS'))[0]);
    }
    expect(results[1]).to.deep.equal(results[0]);
    expect(results[1]).to.have.length(1);
  });
});

