// The real `mariadb` command-line client through dbmesh: a script with DELIMITER, a stored
// procedure, multi-statements and warnings must print exactly what it prints against the
// primary; `status`, LOAD DATA LOCAL INFILE (allowed and refused) and a wrong password behave
// as the server would.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { expect } from 'chai';
import { rootQuery, type SandboxInfo, type SandboxServer } from '../helpers/sandbox.js';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { mariadb, type CliResult } from '../helpers/cli-clients.js';

const INFILE_ROWS = 50_000;

const APP = ['-u', 'app', '-papp_pw'];
const BATCH = [...APP, '--batch', '--default-character-set=utf8mb4'];

/** The script both runs execute: DDL, DML, a procedure with result sets and an OUT param. */
const SCRIPT = `USE dbmesh_test;
CREATE TABLE cli_items (
  id INT PRIMARY KEY AUTO_INCREMENT,
  name VARCHAR(40) NOT NULL,
  qty INT NOT NULL,
  price DECIMAL(10,2),
  added DATE,
  note TEXT,
  raw VARBINARY(16)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO cli_items (name, qty, price, added, note, raw) VALUES
  ('apple', 3, 1.25, '2024-01-02', NULL, 0x00FF10),
  ('pear', 7, 0.99, '2024-02-29', 'tab\\there', NULL),
  ('café ☕ 🐬', 1, 12.50, NULL, 'line1\\nline2', 0xDEADBEEF);
INSERT INTO cli_items (name, qty, price) VALUES ('plum', 11, NULL), ('kiwi', 0, 3.10);
INSERT INTO cli_items (name, qty) VALUES ('apple', 5);
UPDATE cli_items SET qty = qty + 1 WHERE name = 'apple';
INSERT INTO cli_items (id, name, qty) VALUES (1, 'dup', 1) ON DUPLICATE KEY UPDATE qty = qty + 100;
DELIMITER //
CREATE PROCEDURE cli_report(IN min_qty INT, OUT total INT)
BEGIN
  SELECT id, name, qty FROM cli_items WHERE qty >= min_qty ORDER BY id;
  SELECT COUNT(*) AS n, SUM(qty) AS total_qty FROM cli_items WHERE qty >= min_qty;
  SELECT SUM(qty) INTO total FROM cli_items WHERE qty >= min_qty;
END //
SELECT 'multi-1' AS a; SELECT 'multi-2' AS b, 2 AS c; SELECT COUNT(*) AS n FROM cli_items //
DELIMITER ;
CALL cli_report(2, @total);
SELECT @total AS out_total;
SELECT name, COUNT(*) AS n, SUM(qty) AS q FROM cli_items GROUP BY name ORDER BY name;
SELECT id, name, price, added, note, HEX(raw) AS raw_hex FROM cli_items ORDER BY id;
SELECT * FROM cli_items WHERE id = -1;
SELECT 1/0 AS div_zero, CAST('abc' AS INT) AS bad_int;
SELECT REPEAT('x', 300) AS long_text, NULL AS nothing, 18446744073709551615 AS big;
START TRANSACTION;
DELETE FROM cli_items WHERE qty = 0;
SELECT ROW_COUNT() AS deleted, (SELECT COUNT(*) FROM cli_items) AS remaining;
COMMIT;
`;

const RESET_SQL = 'DROP TABLE IF EXISTS dbmesh_test.cli_items; DROP PROCEDURE IF EXISTS dbmesh_test.cli_report';

/** Timings are the only part of -vvv output that may differ between two runs. */
function maskTimings(s: string): string {
  return s.replace(/\(\d+\.\d+ sec\)/g, '(T sec)');
}

/** `status` fields that differ by nature between a direct and a proxied connection. */
function maskStatus(s: string): string {
  return s
    .replace(/^(Connection id:\s+)\d+$/m, '$1N')
    .replace(/^(TCP port:\s+)\d+$/m, '$1N')
    .replace(/^(Uptime:\s+).*$/m, '$1U')
    .replace(/^Threads: .*$/m, 'Threads: ...');
}

describe('mariadb command-line client through dbmesh', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let primary: SandboxServer;
  let mesh: DbmeshProcess | undefined;
  let tmp: string;

  before(async () => {
    sb = await sharedSandbox();
    primary = sb.primary;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-cli-'));
    // debug: the "client connection closed" line (with conn_id) is logged for every client.
    mesh = await startDbmesh(sb, { overrides: { log: { level: 'debug' } } });
  });

  after(async () => {
    await mesh?.stop();
    rmSync(tmp, { recursive: true, force: true });
    await rootQuery(primary, `${RESET_SQL}; DROP TABLE IF EXISTS dbmesh_test.cli_infile`);
  });

  function port(): number {
    if (!mesh) throw new Error('dbmesh not started');
    return mesh.port;
  }

  async function runScript(p: number, extra: string[]): Promise<CliResult> {
    await rootQuery(primary, RESET_SQL);
    const file = path.join(tmp, 'script.sql');
    writeFileSync(file, SCRIPT);
    return mariadb(p, [...BATCH, ...extra], { file });
  }

  describe('a script with DELIMITER, a stored procedure and multi-statements', () => {
    it('prints byte for byte what the primary prints (--batch --show-warnings)', async () => {
      const direct = await runScript(primary.port, ['--show-warnings']);
      const proxied = await runScript(port(), ['--show-warnings']);
      expect(direct.code, direct.stderr).to.equal(0);
      expect(direct.stderr).to.equal('');
      // The reference run really exercised the procedure, its OUT param and the multi-statement.
      expect(direct.stdout).to.include('out_total\n128\n');
      expect(direct.stdout).to.include('a\nmulti-1\nb\tc\nmulti-2\t2\nn\n6\n');
      expect(direct.stdout).to.include('café ☕ 🐬');
      expect(direct.stdout).to.include("Warning (Code 1292): Truncated incorrect INTEGER value: 'abc'");

      expect(proxied.stderr).to.equal('');
      expect(proxied.code).to.equal(0);
      expect(proxied.stdout).to.equal(direct.stdout);
    });

    it('prints the same -vvv output (affected rows, info strings, warning counts), timings aside', async () => {
      const direct = await runScript(primary.port, ['--show-warnings', '-vvv']);
      const proxied = await runScript(port(), ['--show-warnings', '-vvv']);
      expect(direct.code, direct.stderr).to.equal(0);
      expect(direct.stdout).to.include('Rows matched: 2  Changed: 2  Warnings: 0');
      expect(direct.stdout).to.include('1 row in set, 2 warnings');
      expect(proxied.stderr).to.equal('');
      expect(proxied.code).to.equal(0);
      expect(maskTimings(proxied.stdout)).to.equal(maskTimings(direct.stdout));
    });
  });

  describe('status (\\s)', () => {
    it("shows the backend's version, protocol 10 and dbmesh's connection id", async () => {
      const version = (await rootQuery(primary, 'SELECT VERSION()')).trim();
      const proxied = await mariadb(port(), [...APP, '-e', 'status']);
      expect(proxied.code, proxied.stderr).to.equal(0);
      expect(proxied.stdout).to.match(new RegExp(`^Server version:\\t\\t${version.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( |$)`, 'm'));
      // The client prints one tab after this label (two after "Server version:").
      expect(proxied.stdout).to.match(/^Protocol version:\t10$/m);

      const m = /^Connection id:\t\t(\d+)$/m.exec(proxied.stdout);
      expect(m, proxied.stdout).to.not.equal(null);
      const id = Number(m![1]);
      // The id the client shows is the one dbmesh gave the session (its greeting), not the
      // backend thread id: dbmesh logs the session's close with that conn_id.
      const closed = await mesh!.waitForLog((l) => l.message === 'client connection closed' && l.conn_id === id && l.reason === 'client_quit', 5000);
      expect(closed.user).to.equal('app');

      // Everything else matches a direct connection.
      const direct = await mariadb(primary.port, [...APP, '-e', 'status']);
      expect(direct.code, direct.stderr).to.equal(0);
      expect(maskStatus(proxied.stdout)).to.equal(maskStatus(direct.stdout));
    });
  });

  describe('LOAD DATA LOCAL INFILE', () => {
    let csv: string;
    let expected: { count: number; sumV: number; sumId: number; crc: number };
    const table = 'dbmesh_test.cli_infile';

    before(async () => {
      const lines: string[] = [];
      let sumV = 0;
      let sumId = 0;
      let crc = 0;
      for (let i = 1; i <= INFILE_ROWS; i++) {
        const v = (i * 7919) % 100_003;
        const s = `row-${i}-${(i * 31) % 977}`;
        lines.push(`${i},${v},${s}`);
        sumV += v;
        sumId += i;
        crc += crc32(s);
      }
      csv = path.join(tmp, 'rows.csv');
      writeFileSync(csv, lines.join('\n') + '\n');
      expected = { count: INFILE_ROWS, sumV, sumId, crc };
    });

    beforeEach(async () => {
      await rootQuery(primary, `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(32) NOT NULL)`);
    });

    const loadSql = (file: string): string =>
      `LOAD DATA LOCAL INFILE '${file}' INTO TABLE ${table} FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n' (id, v, s)`;

    async function primaryChecksum(): Promise<string> {
      return (await rootQuery(primary, `SELECT COUNT(*), COALESCE(SUM(v), 0), COALESCE(SUM(id), 0), COALESCE(SUM(CRC32(s)), 0) FROM ${table}`)).trim();
    }

    it('loads a 50,000-line file when protocol.allowLocalInfile is true', async () => {
      const allowed = await startDbmesh(sb, { overrides: { protocol: { allowLocalInfile: true } } });
      try {
        const r = await mariadb(allowed.port, [...BATCH, '--local-infile=1', '-vvv', '-e', loadSql(csv)]);
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stderr).to.equal('');
        expect(r.stdout).to.include(`Query OK, ${INFILE_ROWS} rows affected`);
        expect(r.stdout).to.include(`Records: ${INFILE_ROWS}  Deleted: 0  Skipped: 0  Warnings: 0`);
        // Through dbmesh, and on the primary itself.
        const through = await mariadb(allowed.port, [...BATCH, '-N', '-e', `SELECT COUNT(*), SUM(v), SUM(id), SUM(CRC32(s)) FROM ${table}`]);
        expect(through.code, through.stderr).to.equal(0);
        const want = `${expected.count}\t${expected.sumV}\t${expected.sumId}\t${expected.crc}`;
        expect(through.stdout.trim()).to.equal(want);
        expect(await primaryChecksum()).to.equal(want);
      } finally {
        await allowed.stop();
      }
    });

    it('is refused by default exactly as the server refuses a client without the capability, and dbmesh keeps serving', async () => {
      // What the server itself answers when the client's capabilities lack CLIENT_LOCAL_FILES.
      const reference = await mariadb(primary.port, [...BATCH, '--local-infile=0', '-e', loadSql(csv)]);
      expect(reference.code).to.equal(1);
      expect(reference.stderr).to.match(/^ERROR 4166 \(HY000\) at line 1: /m);

      // The default dbmesh (allowLocalInfile false) does not offer CLIENT_LOCAL_FILES, so even
      // a client started with --local-infile=1 gets the server's refusal; no file byte is sent.
      const r = await mariadb(port(), [...BATCH, '--local-infile=1', '-e', loadSql(csv)]);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.equal(reference.stderr);
      expect(await primaryChecksum()).to.equal('0\t0\t0\t0');

      // The same session goes on after the error (--force, statements from stdin)...
      const same = await mariadb(port(), [...BATCH, '--local-infile=1', '--force', '-N'],
        { text: `${loadSql(csv)};\nSELECT 'still serving', COUNT(*) FROM ${table};\n` });
      expect(same.stderr).to.match(/^ERROR 4166 \(HY000\) at line 1: /m);
      expect(same.stdout).to.equal('still serving\t0\n');
      // ...and so does the process: a new connection works.
      const next = await mariadb(port(), [...BATCH, '-N', '-e', 'SELECT 1 + 1']);
      expect(next.code, next.stderr).to.equal(0);
      expect(next.stdout).to.equal('2\n');
      expect(mesh!.child.exitCode).to.equal(null);
      expect(await primaryChecksum()).to.equal('0\t0\t0\t0');
    });
  });

  describe('authentication', () => {
    it('a wrong password gives ERROR 1045 (28000), worded as the server words it', async () => {
      const proxied = await mariadb(port(), ['-u', 'app', '-pnot_the_password', '--batch', '-e', 'SELECT 1']);
      expect(proxied.code).to.equal(1);
      expect(proxied.stdout).to.equal('');
      expect(proxied.stderr).to.equal("ERROR 1045 (28000): Access denied for user 'app'@'127.0.0.1' (using password: YES)\n");
      const direct = await mariadb(primary.port, ['-u', 'app', '-pnot_the_password', '--batch', '-e', 'SELECT 1']);
      expect(proxied.stderr).to.equal(direct.stderr);
    });

    it('an unknown user, and no password, give ERROR 1045 (28000) too', async () => {
      const unknown = await mariadb(port(), ['-u', 'nobody', '-pwhatever', '--batch', '-e', 'SELECT 1']);
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.equal("ERROR 1045 (28000): Access denied for user 'nobody'@'127.0.0.1' (using password: YES)\n");
      const empty = await mariadb(port(), ['-u', 'app', '--batch', '-e', 'SELECT 1']);
      expect(empty.code).to.equal(1);
      expect(empty.stderr).to.equal("ERROR 1045 (28000): Access denied for user 'app'@'127.0.0.1' (using password: NO)\n");
    });
  });
});
