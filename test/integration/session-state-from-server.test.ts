// A backend connection's state comes from the server, not from dbmesh's reading of the SQL.
//
// Issue 8 #2: `mariadb-test --ps-protocol` ran `use d1; ... DROP DATABASE d1` (USE as a
// prepared statement): the server cleared the connection's current database, dbmesh still
// believed it was in `d1`, and every later session that got the pooled connection failed with
// 1046 "No database selected", forever. dbmesh now asks every backend connection to report
// changes (session tracking: schema, "state changed") and keeps what the server says; where
// the server reports a change the statement's text does not explain (a procedure, a block, a
// prepared SET), the session keeps its connection and the connection is reset before anyone
// else gets it. Clients see the OK packets they would see directly, with or without
// CLIENT_SESSION_TRACK themselves.
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { rootQuery, type SandboxInfo } from '../helpers/sandbox.js';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { mariadb, mariadbTest } from '../helpers/cli-clients.js';
import { DEFAULT_CLIENT_CAPS, HandClient } from '../helpers/hand-client.js';
import { CLIENT_SESSION_TRACK, COM_QUERY } from '../../src/protocol/constants.js';

const DB = 'dbmesh_test';
const SCRATCH = 'dbmesh_st_d1';

const connect = (port: number, database: string | null = DB): Promise<mysql.Connection> =>
  mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app_pw', database: database ?? undefined });

describe('session state from the server (session tracking on backend connections)', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let mesh: DbmeshProcess;

  before(async () => {
    sb = await sharedSandbox();
    await rootQuery(sb.primary, `GRANT ALL PRIVILEGES ON \`dbmesh\\_st\\_%\`.* TO 'app'@'%'; GRANT RELOAD ON *.* TO 'app'@'%'; DROP DATABASE IF EXISTS ${SCRATCH};
      DROP PROCEDURE IF EXISTS ${DB}.st_set_state; DROP TABLE IF EXISTS ${DB}.st_t;
      CREATE TABLE ${DB}.st_t (a INT);
      DELIMITER //
      CREATE PROCEDURE ${DB}.st_set_state() BEGIN SET SESSION time_zone = '+05:00'; SET @from_proc = 42; CREATE TEMPORARY TABLE st_tmp (x INT); END //
      DELIMITER ;`);
    // One worker and few connections: sessions share backend connections all the time.
    mesh = await startDbmesh(sb, { overrides: { clusters: [{ name: 'main', type: 'replication', backends: [{ id: 'db1', host: sb.primary.host, port: sb.primary.port, maxConnections: 4 }] }] } });
  });

  after(async () => {
    await mesh?.stop();
    await rootQuery(sb.primary, `REVOKE RELOAD ON *.* FROM 'app'@'%'; DROP DATABASE IF EXISTS ${SCRATCH}; DROP PROCEDURE IF EXISTS ${DB}.st_set_state; DROP TABLE IF EXISTS ${DB}.st_t`);
  });

  for (const ps of [true, false]) {
    it(`DROP DATABASE of the current schema (mariadb-test${ps ? ' --ps-protocol' : ''}) poisons no later session`, async () => {
      const o = { user: 'app', password: 'app_pw', database: DB, ps, timeoutMs: 20_000 };
      const first = await mariadbTest(mesh.port, `CREATE DATABASE IF NOT EXISTS ${SCRATCH};\nuse ${SCRATCH};\nCREATE TABLE t (a INT);\nDROP DATABASE ${SCRATCH};\n`, o);
      expect(first.code, first.stdout + first.stderr).to.equal(0);
      const later = 'DROP TABLE IF EXISTS st_t9;\nCREATE TABLE st_t9 (a INT);\nSELECT DATABASE();\nDROP TABLE st_t9;\n';
      for (let i = 0; i < 6; i++) {
        const r = await mariadbTest(mesh.port, later, o);
        expect(r.code, `later session ${i}: ${r.stdout}${r.stderr}`).to.equal(0);
        expect(r.stdout, `later session ${i}`).to.contain(DB);
      }
    });
  }

  it('a session whose current database was dropped sees no database, as directly', async () => {
    const c = await connect(mesh.port);
    try {
      await c.query(`CREATE DATABASE ${SCRATCH}`);
      await c.query(`USE ${SCRATCH}`);
      await c.query(`DROP DATABASE ${SCRATCH}`);
      for (let i = 0; i < 5; i++) {
        const [rows] = await c.query('SELECT DATABASE() AS db');
        expect(rows).to.deep.equal([{ db: null }]);
        // Never on a connection that has a database selected: this would create the table there.
        const err = await c.query('CREATE TABLE st_after_drop (a INT)').then(() => 0, (e: { errno: number }) => e.errno);
        expect(err, 'No database selected').to.equal(1046);
      }
      // Others still land in their own database.
      const others = await Promise.all(Array.from({ length: 6 }, () => connect(mesh.port)));
      for (const o of others) {
        const [r] = await o.query('SELECT DATABASE() AS db');
        expect(r).to.deep.equal([{ db: DB }]);
        await o.end();
      }
    } finally {
      await c.end();
    }
  });

  it('a session that logged in without a database runs on connections without one', async () => {
    const busy = await Promise.all(Array.from({ length: 3 }, () => connect(mesh.port))); // pool holds connections in dbmesh_test
    for (const b of busy) await b.query('SELECT 1');
    for (const b of busy) await b.end();
    const c = await connect(mesh.port, null);
    try {
      for (let i = 0; i < 5; i++) {
        const [rows] = await c.query('SELECT DATABASE() AS db');
        expect(rows).to.deep.equal([{ db: null }]);
      }
      await c.query(`USE ${DB}`);
      const [rows] = await c.query('SELECT DATABASE() AS db');
      expect(rows).to.deep.equal([{ db: DB }]);
    } finally {
      await c.end();
    }
  });

  it('state a procedure leaves (variable, user variable, temporary table) stays with its session and reaches no other', async () => {
    const c = await connect(mesh.port);
    const others = await Promise.all(Array.from({ length: 6 }, () => connect(mesh.port)));
    try {
      await c.query('CALL st_set_state()');
      for (let round = 0; round < 5; round++) {
        // Churn: the others borrow and return every connection meanwhile.
        const seen = await Promise.all(others.map(async (o) => {
          const [vars] = await o.query('SELECT @@time_zone AS tz, @from_proc AS v');
          const tmp = await o.query('SELECT COUNT(*) FROM st_tmp').then(() => 'visible', (e: { errno?: number }) => e.errno);
          return { vars, tmp };
        }));
        for (const r of seen) expect(r, `round ${round}: another session`).to.deep.equal({ vars: [{ tz: 'SYSTEM', v: null }], tmp: 1146 });
        const [mine] = await c.query('SELECT @@time_zone AS tz, @from_proc AS v, (SELECT COUNT(*) FROM st_tmp) AS tmp');
        expect(mine, `round ${round}: the caller`).to.deep.equal([{ tz: '+05:00', v: 42, tmp: 0 }]);
      }
    } finally {
      await c.end();
      for (const o of others) await o.end();
    }
    // After the caller left, its connection was reset before reuse.
    const fresh = await Promise.all(Array.from({ length: 6 }, () => connect(mesh.port)));
    for (const f of fresh) {
      const [r] = await f.query('SELECT @@time_zone AS tz, @from_proc AS v');
      expect(r).to.deep.equal([{ tz: 'SYSTEM', v: null }]);
      await f.end();
    }
  });

  it('a SET run as a prepared statement (binary protocol) stays with its session', async () => {
    const c = await connect(mesh.port);
    const others = await Promise.all(Array.from({ length: 6 }, () => connect(mesh.port)));
    try {
      await c.execute("SET SESSION time_zone = '+07:00'");
      for (let round = 0; round < 5; round++) {
        const seen = await Promise.all(others.map(async (o) => (await o.query('SELECT @@time_zone AS tz'))[0]));
        for (const r of seen) expect(r, `round ${round}`).to.deep.equal([{ tz: 'SYSTEM' }]);
        const [mine] = await c.query('SELECT @@time_zone AS tz');
        expect(mine).to.deep.equal([{ tz: '+07:00' }]);
      }
    } finally {
      await c.end();
      for (const o of others) await o.end();
    }
  });

  it('BACKUP STAGE keeps its connection until BACKUP STAGE END, and never reaches another session', async () => {
    const a = await connect(mesh.port);
    await a.query('BACKUP STAGE START');
    await a.query('BACKUP STAGE FLUSH'); // on the same connection, or 4147 (wrong stage)
    await a.query('BACKUP STAGE END');
    await a.query('BACKUP STAGE START');
    await a.end(); // leaves with a stage active
    for (let i = 0; i < 6; i++) {
      const b = await connect(mesh.port);
      await b.query('CREATE TABLE st_bk (a INT)'); // 4145 if the stage had stayed on a pooled connection
      await b.query('DROP TABLE st_bk');
      await b.end();
    }
  });

  it('a transaction a failed statement opened (autocommit off, lock wait timeout) keeps its connection: a later DROP does not hang', async function () {
    this.timeout(60_000);
    await rootQuery(sb.primary, `DROP TABLE IF EXISTS ${DB}.st_lw; CREATE TABLE ${DB}.st_lw (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO ${DB}.st_lw VALUES (1)`);
    const a = await connect(mesh.port);
    const b = await connect(mesh.port);
    try {
      for (const c of [a, b]) await c.query('SET autocommit = 0'); // tracked: neither is pinned
      await a.query('SELECT * FROM st_lw WHERE id = 1 FOR UPDATE');
      const err = await b.query('SET STATEMENT innodb_lock_wait_timeout = 1 FOR SELECT * FROM st_lw WHERE id = 1 FOR UPDATE')
        .then(() => 0, (e: { errno: number }) => e.errno);
      expect(err, 'lock wait timeout').to.equal(1205);
      await a.query('COMMIT');
      await b.query('COMMIT');
      const dropped = await Promise.race([b.query('DROP TABLE st_lw').then(() => 'dropped'), new Promise((r) => setTimeout(() => r('hung'), 15_000))]);
      expect(dropped).to.equal('dropped');
    } finally {
      a.destroy();
      b.destroy();
      await rootQuery(sb.primary, `DROP TABLE IF EXISTS ${DB}.st_lw`);
    }
  });

  it('LAST_INSERT_ID() after an explicit auto-increment value past 2^53 (mariadb-test --ps-protocol) answers as directly', async () => {
    const script = 'DROP TABLE IF EXISTS st_ai;\nCREATE TABLE st_ai (a INT NOT NULL AUTO_INCREMENT PRIMARY KEY);\n' +
      'INSERT INTO st_ai VALUES (NULL);\nINSERT INTO st_ai VALUES (-1);\nSELECT LAST_INSERT_ID();\nINSERT INTO st_ai VALUES (NULL);\n' +
      'SELECT * FROM st_ai;\nSET STATEMENT last_insert_id = 112 FOR SELECT LAST_INSERT_ID();\nDROP TABLE st_ai;\n';
    const o = { user: 'app', password: 'app_pw', database: DB, ps: true, timeoutMs: 20_000 };
    const direct = await mariadbTest(sb.primary.port, script, o);
    const via = await mariadbTest(mesh.port, script, o);
    expect(via.stdout).to.equal(direct.stdout);
    expect(direct.stdout).to.contain('112');
  });

  for (const tracks of [true, false]) {
    it(`a client ${tracks ? 'with' : 'without'} CLIENT_SESSION_TRACK gets the OK packets it gets directly`, async () => {
      const caps = tracks ? DEFAULT_CLIENT_CAPS | CLIENT_SESSION_TRACK : DEFAULT_CLIENT_CAPS & ~CLIENT_SESSION_TRACK;
      const statements = [
        "SET time_zone = '+01:00'", `USE ${DB}`, 'SET @u = 1', 'CREATE TEMPORARY TABLE st_tmp2 (a INT)', 'INSERT INTO st_t VALUES (1), (2)',
        'UPDATE st_t SET a = a + 1 WHERE a > 0', 'DROP TEMPORARY TABLE st_tmp2', 'DELETE FROM st_t WHERE a > 0', "SET NAMES utf8mb4", 'SET autocommit = 0', 'SET autocommit = 1',
      ];
      const answers = async (port: number): Promise<string[]> => {
        const c = await HandClient.connect('127.0.0.1', port);
        try {
          await c.login('app', 'app_pw', { database: DB, capabilities: caps });
          const out: string[] = [];
          for (const sql of statements) {
            out.push((await c.captureAfter(() => c.send(Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(sql)]), 0), 60)).toString('hex'));
          }
          return out;
        } finally {
          c.destroy();
        }
      };
      const direct = await answers(sb.primary.port);
      const via = await answers(mesh.port);
      statements.forEach((sql, i) => expect(via[i], sql).to.equal(direct[i]));
    });
  }

  // Found by MariaDB's mysql-test through dbmesh (docs/mysql-test.md causes 11 to 14).

  it('a multi-statement that fails after a result set leaves no "more results" flag for the next client to log in on (mariadb CLI)', async () => {
    const args = ['-uapp', '-papp_pw', DB];
    const bad = await mariadb(mesh.port, args, { text: 'DELIMITER ||\nselect 1; selectz 2||\n' });
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.contain('1064');
    for (let i = 0; i < 6; i++) {
      const r = await mariadb(mesh.port, [...args, '-e', "select 'after' AS a"]);
      expect(r.code, `client ${i}: ${r.stderr}`).to.equal(0);
      expect(r.stdout).to.contain('after');
    }
  });

  it('a new session never reads another session\'s LAST_INSERT_ID()', async () => {
    const c = await connect(mesh.port);
    await c.query('CREATE TABLE IF NOT EXISTS st_ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)');
    await c.query('INSERT INTO st_ai (v) VALUES (1)');
    const [[{ id }]] = await c.query('SELECT LAST_INSERT_ID() AS id') as unknown as [[{ id: number }]];
    expect(Number(id)).to.be.greaterThan(0);
    await c.end();
    for (let i = 0; i < 6; i++) {
      const n = await connect(mesh.port);
      for (let k = 0; k < 3; k++) {
        const [[row]] = await n.query('SELECT LAST_INSERT_ID() AS id') as unknown as [[{ id: number }]];
        expect(Number(row.id), `session ${i}, statement ${k}`).to.equal(0);
      }
      await n.end();
    }
    const d = await connect(mesh.port);
    await d.query('DROP TABLE st_ai');
    await d.end();
  });

  it('the current schema\'s character set survives a reset of the pooled connection (character_set_database)', async () => {
    await rootQuery(sb.primary, `DROP DATABASE IF EXISTS ${SCRATCH}; CREATE DATABASE ${SCRATCH} CHARACTER SET latin1 COLLATE latin1_swedish_ci; GRANT ALL ON ${SCRATCH}.* TO 'app'@'%'`);
    try {
      for (let i = 0; i < 6; i++) {
        const c = await connect(mesh.port, SCRATCH);
        // Session state makes dbmesh reset the connection when it goes back to the pool.
        await c.query("SET @st_mark = 1, SESSION sql_mode = 'ANSI'");
        const [[row]] = await c.query('SELECT @@character_set_database AS cs, @@collation_database AS co') as unknown as [[{ cs: string; co: string }]];
        expect(row, `session ${i}`).to.deep.equal({ cs: 'latin1', co: 'latin1_swedish_ci' });
        await c.end();
      }
    } finally {
      await rootQuery(sb.primary, `DROP DATABASE IF EXISTS ${SCRATCH}`);
    }
  });

  it('KILL inside a stored program body is the server\'s: the CREATE is not refused and its body is not rewritten', async () => {
    const c = await connect(mesh.port);
    try {
      await c.query('DROP PROCEDURE IF EXISTS st_killer');
      await c.query('CREATE PROCEDURE st_killer(a INT) BEGIN DECLARE x INT DEFAULT 0; SET x = 1; KILL QUERY a; END');
      const [[body]] = await c.query("SELECT ROUTINE_DEFINITION AS d FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = 'st_killer'") as unknown as [[{ d: string }]];
      expect(body.d).to.contain('KILL QUERY a');
      await c.query('DROP PROCEDURE st_killer');
    } finally {
      await c.end();
    }
  });
});
