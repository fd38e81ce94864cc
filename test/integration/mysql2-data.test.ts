/**
 * mysql2 conformance, part 2: data volume and result shapes. 20 MiB LONGBLOBs (logical
 * packets split at 16 MiB both ways), 200k-row streaming with pauses (backpressure through
 * dbmesh), multiple statements and stored procedures with several result sets. Results
 * through dbmesh must equal the same statements run directly on the primary.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import mysqlCb from 'mysql2';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import type { SandboxInfo } from '../helpers/sandbox.js';
import { endOrDestroy } from '../helpers/routing.js';
import { diagnose } from '../helpers/diagnose.js';

const BLOB_BYTES = 20 * 1024 * 1024;
const STREAM_ROWS = 200_000;
const STREAM_SQL = `SELECT seq, MD5(seq) AS h, REPEAT('é', seq % 40) AS pad FROM seq_1_to_${STREAM_ROWS}`;

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

interface StreamSummary { rows: number; sum: number; digest: string; pauses: number }

/** Streams STREAM_SQL with the callback API; `pauseEvery` > 0 pauses the stream that often. */
function streamRows(conn: mysqlCb.Connection, pauseEvery: number): Promise<StreamSummary> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const s = { rows: 0, sum: 0, digest: '', pauses: 0 };
    const stream = conn.query(STREAM_SQL).stream({ highWaterMark: 64 });
    stream.on('data', (row: { seq: number; h: string; pad: string }) => {
      s.rows++;
      s.sum += row.seq;
      hash.update(`${row.seq}|${row.h}|${row.pad}\n`);
      if (pauseEvery > 0 && s.rows % pauseEvery === 0) {
        s.pauses++;
        stream.pause();
        setTimeout(() => stream.resume(), 25);
      }
    });
    stream.on('error', reject);
    stream.on('end', () => resolve({ ...s, digest: hash.digest('hex') }));
  });
}

describe('mysql2 through dbmesh: blobs, streaming, multiple statements', function () {
  this.timeout(120000);
  let sb: SandboxInfo;
  let dbmesh: DbmeshProcess;
  const opened: mysql.Connection[] = [];
  const openedCb: mysqlCb.Connection[] = [];

  async function connect(port: number, opts: mysql.ConnectionOptions = {}): Promise<mysql.Connection> {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app_pw', database: 'dbmesh_test', ...opts });
    opened.push(c);
    return c;
  }
  async function pair(opts: mysql.ConnectionOptions = {}): Promise<[mysql.Connection, mysql.Connection]> {
    return [await connect(sb.primary.port, opts), await connect(dbmesh.port, opts)];
  }
  function connectCb(port: number): mysqlCb.Connection {
    const c = mysqlCb.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app_pw', database: 'dbmesh_test' });
    openedCb.push(c);
    return c;
  }

  before(async function () {
    sb = await sharedSandbox();
    dbmesh = await startDbmesh(sb);
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'passed') await diagnose(this.currentTest?.fullTitle() ?? '', dbmesh, sb);
  });

  after(async function () {
    await Promise.all(opened.splice(0).map((c) => endOrDestroy(c)));
    await Promise.all(openedCb.splice(0).map((c) => new Promise<void>((r) => {
      const late = setTimeout(() => { c.destroy(); r(); }, 5000);
      c.end(() => { clearTimeout(late); r(); });
    })));
    await dbmesh?.stop();
  });

  describe('20 MiB LONGBLOBs', function () {
    const T = 'dbmesh_test.m2_blob';
    const data = randomBytes(BLOB_BYTES);
    const digest = sha256(data);

    before(async function () {
      const c = await connect(sb.primary.port);
      await c.query(`DROP TABLE IF EXISTS ${T}`);
      await c.query(`CREATE TABLE ${T} (id INT PRIMARY KEY, b LONGBLOB)`);
    });

    it('inserts with execute (one bound parameter, > 16 MiB packet) and with query (escaped literal)', async function () {
      const via = await connect(dbmesh.port);
      const [viaExec] = await via.execute(`INSERT INTO ${T} VALUES (?, ?)`, [1, data]);
      expect(viaExec).to.include({ affectedRows: 1 });
      // mysql2 escapes the Buffer as X'..': a 40 MiB COM_QUERY, split into three packets.
      const [viaQuery] = await via.query(`INSERT INTO ${T} VALUES (?, ?)`, [2, data]);
      expect(viaQuery).to.include({ affectedRows: 1 });
      const direct = await connect(sb.primary.port);
      const [rows] = await direct.query(`SELECT id, LENGTH(b) AS len, SHA2(b, 256) AS h FROM ${T} ORDER BY id`);
      expect(rows).to.deep.equal([{ id: 1, len: BLOB_BYTES, h: digest }, { id: 2, len: BLOB_BYTES, h: digest }]);
    });

    it('reads them back byte-identical with query and execute (> 16 MiB rows)', async function () {
      const [direct, via] = await pair();
      for (const id of [1, 2]) {
        const sql = `SELECT b FROM ${T} WHERE id = ?`;
        const [q] = await via.query(sql, [id]) as [{ b: Buffer }[], unknown];
        const [e] = await via.execute(sql, [id]) as [{ b: Buffer }[], unknown];
        const [d] = await direct.query(sql, [id]) as [{ b: Buffer }[], unknown];
        expect(q[0]!.b.length).to.equal(BLOB_BYTES);
        expect([sha256(q[0]!.b), sha256(e[0]!.b), sha256(d[0]!.b)]).to.deep.equal([digest, digest, digest]);
      }
      // The connection is in sync after the big responses.
      expect((await via.query('SELECT 1 AS one'))[0]).to.deep.equal([{ one: 1 }]);
    });
  });

  describe('streaming 200k rows', function () {
    let expected: StreamSummary;

    before(async function () {
      expected = await streamRows(connectCb(sb.primary.port), 0);
    });

    it('streams every row, in order and unchanged, as directly', async function () {
      expect(expected.rows).to.equal(STREAM_ROWS);
      expect(expected.sum).to.equal((STREAM_ROWS * (STREAM_ROWS + 1)) / 2);
      const got = await streamRows(connectCb(dbmesh.port), 0);
      expect(got).to.deep.equal(expected);
    });

    it('streams correctly through pauses and resumes (backpressure)', async function () {
      const conn = connectCb(dbmesh.port);
      const got = await streamRows(conn, 5000);
      expect(got.pauses).to.equal(STREAM_ROWS / 5000);
      expect({ ...got, pauses: 0 }).to.deep.equal(expected);
      // Same connection, next statement: nothing of the stream is left behind.
      const after = await new Promise<unknown>((resolve, reject) => conn.query('SELECT 2 AS two', (err, rows) => (err ? reject(err) : resolve(rows))));
      expect(after).to.deep.equal([{ two: 2 }]);
    });
  });

  describe('multiple statements and stored procedures', function () {
    before(async function () {
      const c = await connect(sb.primary.port);
      await c.query('DROP PROCEDURE IF EXISTS dbmesh_test.m2_out');
      await c.query('DROP PROCEDURE IF EXISTS dbmesh_test.m2_two');
      await c.query(`CREATE PROCEDURE dbmesh_test.m2_out(IN a INT, OUT b INT, OUT c VARCHAR(20) CHARSET utf8mb4)
        BEGIN SELECT a AS echoed, 'é🙂' AS s; SET b = a * 2; SET c = CONCAT('n=', a, '🙂'); END`);
      await c.query(`CREATE PROCEDURE dbmesh_test.m2_two()
        BEGIN SELECT seq FROM seq_1_to_3; SELECT 'second' AS label, 2 AS n; END`);
    });

    it('returns several result sets and OKs from one query, as directly', async function () {
      const [direct, via] = await pair({ multipleStatements: true });
      const sql = `CREATE TABLE m2_multi (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10));
        INSERT INTO m2_multi (v) VALUES ('a'), ('b'), ('c'); SELECT * FROM m2_multi ORDER BY id;
        UPDATE m2_multi SET v = 'z' WHERE id > 1; SELECT COUNT(*) AS n, GROUP_CONCAT(v) AS vs FROM m2_multi; DO 1`;
      const run = async (c: mysql.Connection): Promise<unknown> => {
        await c.query('DROP TABLE IF EXISTS m2_multi'); // same starting point for both sides
        return (await c.query(sql))[0];
      };
      const d = await run(direct);
      const v = await run(via);
      expect(v).to.deep.equal(d);
      const results = v as unknown[];
      expect(results).to.have.length(6);
      expect(results[1]).to.include({ affectedRows: 3, insertId: 1 });
      expect(results[3]).to.include({ affectedRows: 2, changedRows: 2 });
      expect(results[4]).to.deep.equal([{ n: 3, vs: 'a,z,z' }]);
      expect((await via.query('SELECT 1 AS one'))[0]).to.deep.equal([{ one: 1 }]);
    });

    it('stops at the failing statement of a multi-statement query, as directly', async function () {
      const [direct, via] = await pair({ multipleStatements: true });
      const sql = 'SELECT 1 AS a; SELECT * FROM m2_no_such_table; SELECT 3 AS c';
      const fail = async (c: mysql.Connection): Promise<unknown> => c.query(sql).then(() => null, (e: { errno: number; sqlMessage: string }) => [e.errno, e.sqlMessage]);
      expect(await fail(via)).to.deep.equal(await fail(direct)).and.to.have.property('0', 1146);
      expect((await via.query('SELECT 4 AS d'))[0]).to.deep.equal([{ d: 4 }]);
    });

    it('CALL with a SELECT and OUT parameters, then SELECT @x, in one query', async function () {
      const [direct, via] = await pair({ multipleStatements: true });
      const sql = 'CALL m2_out(21, @b, @c); SELECT @b AS b, @c AS c';
      const [d] = await direct.query(sql);
      const [v] = await via.query(sql);
      expect(v).to.deep.equal(d);
      const results = v as unknown[];
      expect(results[0]).to.deep.equal([{ echoed: 21, s: 'é🙂' }]);
      expect(results[2]).to.deep.equal([{ b: 42, c: 'n=21🙂' }]);
    });

    it('a procedure returning two result sets, with query and with execute', async function () {
      const [direct, via] = await pair();
      for (const run of [(c: mysql.Connection) => c.query('CALL m2_two()'), (c: mysql.Connection) => c.execute('CALL m2_two()')]) {
        const [d] = await run(direct);
        const [v] = await run(via);
        expect(v).to.deep.equal(d);
        expect((v as unknown[]).slice(0, 2)).to.deep.equal([[{ seq: 1 }, { seq: 2 }, { seq: 3 }], [{ label: 'second', n: 2 }]]);
      }
    });

    it('execute: CALL with a bound IN parameter and OUT user variables; multi-statement prepare is refused as directly', async function () {
      const [direct, via] = await pair({ multipleStatements: true });
      const results: unknown[] = [];
      for (const c of [direct, via]) {
        const [call] = await c.execute('CALL m2_out(?, @b, @c)', [5]);
        const [vars] = await c.execute('SELECT @b AS b, @c AS c');
        const multi = await c.execute('SELECT 1 AS a; SELECT 2 AS b').then(() => null, (e: { errno: number }) => e.errno);
        results.push({ call, vars, multi });
      }
      expect(results[1]).to.deep.equal(results[0]);
      expect(results[1]).to.deep.include({ vars: [{ b: 10, c: 'n=5🙂' }], multi: 1064 });
    });
  });
});
