// Stored programs through dbmesh, with every client that showed a difference: cursors in
// anonymous blocks and procedures, SELECT ... INTO inside blocks, nested CALLs. Each must
// print exactly what it prints against the primary, in the text and the binary protocol and
// with both EOF styles (the mariadb CLI and mariadb-test do not use CLIENT_DEPRECATE_EOF;
// mysql2 does), and must never hang.
//
// Issue 8 #1: MariaDB sets SERVER_STATUS_CURSOR_EXISTS on the result sets of a COM_QUERY
// whose stored program has a cursor open; dbmesh read it as "a cursor was opened, no rows
// follow" and waited forever for the end of a response it had already relayed.
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { rootQuery, type SandboxInfo } from '../helpers/sandbox.js';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { mariadb, mariadbTest, type CliResult } from '../helpers/cli-clients.js';

const DB = 'dbmesh_test';
/** A client still running after this is hung (the direct run takes well under a second). */
const HANG_MS = 15_000;

const CLEANUP = `DROP TABLE IF EXISTS ${DB}.sp_t1; DROP PROCEDURE IF EXISTS ${DB}.sp_cursor; DROP PROCEDURE IF EXISTS ${DB}.sp_into; DROP PROCEDURE IF EXISTS ${DB}.sp_nested`;
const SETUP = `${CLEANUP};
CREATE TABLE ${DB}.sp_t1 (a INT); INSERT INTO ${DB}.sp_t1 VALUES (1),(2),(3);
DELIMITER //
USE ${DB} //
CREATE PROCEDURE ${DB}.sp_cursor()
BEGIN
  DECLARE done INT DEFAULT 0; DECLARE va INT;
  DECLARE cur CURSOR FOR SELECT a FROM sp_t1 ORDER BY a;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
  OPEN cur;
  read_loop: LOOP
    FETCH cur INTO va;
    IF done THEN LEAVE read_loop; END IF;
    SELECT va AS fetched, va * 10 AS times_ten;
  END LOOP;
  CLOSE cur;
  SELECT 'after cursor' AS done_text;
END //
CREATE PROCEDURE ${DB}.sp_into(OUT o INT)
BEGIN
  DECLARE m INT;
  SELECT MAX(a) INTO m FROM sp_t1;
  SET o = m + 100;
  SELECT m AS inside;
END //
CREATE PROCEDURE ${DB}.sp_nested()
BEGIN
  DECLARE c CURSOR FOR SELECT a FROM sp_t1 WHERE a > 1;
  OPEN c;
  CALL sp_cursor();
  CALL sp_into(@nested_out);
  SELECT @nested_out AS nested_out;
  CLOSE c;
END //
DELIMITER ;`;

/** Blocks and calls, each ending in a plain statement that must still be answered. */
const BLOCKS = [
  'BEGIN NOT ATOMIC DECLARE va INT; DECLARE cur CURSOR(amin INT) FOR SELECT a FROM sp_t1 WHERE a>amin ORDER BY a; ' +
    'OPEN cur(1 IN (SELECT * FROM sp_t1)); FETCH cur INTO va; SELECT va; CLOSE cur; END',
  'BEGIN NOT ATOMIC DECLARE x INT; DECLARE c CURSOR FOR SELECT a FROM sp_t1; OPEN c; ' +
    'SELECT a INTO x FROM sp_t1 WHERE a = 3; SELECT x * 2 AS doubled; SELECT COUNT(*) AS n FROM sp_t1; CLOSE c; END',
  'BEGIN NOT ATOMIC DECLARE c CURSOR FOR SELECT a FROM sp_t1; OPEN c; CALL sp_cursor(); CLOSE c; END',
];
const CALLS = ['CALL sp_cursor()', 'CALL sp_into(@o)', 'SELECT @o AS out_value', 'CALL sp_nested()'];

function expectSame(viaDbmesh: CliResult, direct: CliResult, what: string): void {
  expect(viaDbmesh.hung, `${what}: hung through dbmesh (last output: ${viaDbmesh.stdout.slice(-200)})`).to.equal(false);
  expect(direct.hung, `${what}: hung directly`).to.equal(false);
  expect(viaDbmesh.code, `${what}: exit code (stderr ${viaDbmesh.stderr})`).to.equal(direct.code);
  expect(viaDbmesh.stdout, what).to.equal(direct.stdout);
  expect(direct.stdout, `${what}: the direct run printed something`).to.not.equal('');
}

describe('stored programs (cursors, SELECT INTO, nested CALL) through dbmesh', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let mesh: DbmeshProcess;

  before(async () => {
    sb = await sharedSandbox();
    await rootQuery(sb.primary, SETUP);
    mesh = await startDbmesh(sb);
  });

  after(async () => {
    await mesh?.stop();
    await rootQuery(sb.primary, CLEANUP);
  });

  it('the mariadb CLI (text protocol, classic EOF) prints the same and never hangs', async () => {
    const script = `DELIMITER $$\n${BLOCKS.map((b) => b + '$$').join('\n')}\nDELIMITER ;\n${CALLS.join(';\n')};\nSELECT 5;\n`;
    const args = ['-u', 'app', '-papp_pw', '--batch', DB];
    const direct = await mariadb(sb.primary.port, args, { text: script }, HANG_MS);
    const via = await mariadb(mesh.port, args, { text: script }, HANG_MS);
    expectSame(via, direct, 'mariadb CLI');
    expect(via.stdout.trim().split('\n').at(-1)).to.equal('5');
  });

  for (const ps of [false, true]) {
    it(`mariadb-test ${ps ? '--ps-protocol (binary protocol)' : '(text protocol)'}, classic EOF, prints the same`, async () => {
      const script = `delimiter |;\n${BLOCKS.map((b) => b + '|').join('\n')}\ndelimiter ;|\n${CALLS.join(';\n')};\nSELECT 5;\n`;
      const o = { user: 'app', password: 'app_pw', database: DB, ps, timeoutMs: HANG_MS };
      const direct = await mariadbTest(sb.primary.port, script, o);
      const via = await mariadbTest(mesh.port, script, o);
      expectSame(via, direct, 'mariadb-test');
    });
  }

  for (const binary of [false, true]) {
    it(`mysql2 (${binary ? 'binary' : 'text'} protocol, CLIENT_DEPRECATE_EOF) returns the same result sets`, async () => {
      const run = async (port: number): Promise<unknown[]> => {
        const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app_pw', database: DB });
        try {
          const out: unknown[] = [];
          for (const sql of [...BLOCKS, ...CALLS, 'SELECT 5 AS five']) {
            // Anonymous blocks cannot be prepared: they run as text in both modes.
            const [rows] = binary && !sql.startsWith('BEGIN') ? await c.execute(sql) : await c.query(sql);
            out.push(rows);
          }
          return out;
        } finally {
          await c.end();
        }
      };
      const direct = await run(sb.primary.port);
      const via = await Promise.race([run(mesh.port), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('hung through dbmesh')), HANG_MS))]);
      expect(via).to.deep.equal(direct);
      expect(JSON.stringify(direct)).to.contain('after cursor');
    });
  }
});
