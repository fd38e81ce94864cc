/**
 * Byte-level protocol conformance: the same commands sent directly to the primary and
 * through dbmesh, with and without CLIENT_DEPRECATE_EOF and CLIENT_MULTI_STATEMENTS, must
 * produce the same packets (values that differ per connection are excluded by the queries).
 */
import { expect } from 'chai';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import type { SandboxInfo } from '../helpers/sandbox.js';
import { BASE_CAPS, CLIENT_DEPRECATE_EOF, CLIENT_MULTI_STATEMENTS, RawClient } from '../helpers/raw-client.js';
import type { Packet } from '../../src/protocol/framing.js';

const hex = (ps: Packet[]): string[] => ps.map((p) => p.raw.toString('hex'));

describe('protocol conformance (raw packets, direct vs dbmesh)', function () {
  this.timeout(60000);
  let sb: SandboxInfo;
  let dbmesh: DbmeshProcess;

  before(async function () {
    sb = await sharedSandbox();
    dbmesh = await startDbmesh(sb);
    const c = await RawClient.connect(sb.primary.port, 'app', 'app_pw', BASE_CAPS | CLIENT_MULTI_STATEMENTS);
    await c.query('DROP TABLE IF EXISTS proto_t; DROP PROCEDURE IF EXISTS proto_two');
    await c.query('CREATE TABLE proto_t (id INT PRIMARY KEY, v VARCHAR(20), d DATETIME(3), b BLOB)');
    await c.query("INSERT INTO proto_t VALUES (1,'one','2024-01-02 03:04:05.678',x'00ff'),(2,NULL,NULL,NULL),(3,'three','1999-12-31 23:59:59.999','')");
    await c.query('CREATE PROCEDURE proto_two() BEGIN SELECT id FROM proto_t ORDER BY id; SELECT v FROM proto_t ORDER BY id DESC; END');
    c.close();
  });

  after(async function () {
    await dbmesh?.stop();
  });

  for (const deprecateEof of [false, true]) {
    for (const multi of [false, true]) {
      const caps = BASE_CAPS | (deprecateEof ? CLIENT_DEPRECATE_EOF : 0) | (multi ? CLIENT_MULTI_STATEMENTS : 0);
      const label = `DEPRECATE_EOF=${deprecateEof ? 'on' : 'off'} MULTI_STATEMENTS=${multi ? 'on' : 'off'}`;

      it(`relays text results, errors and multi-results unchanged (${label})`, async function () {
        const direct = await RawClient.connect(sb.primary.port, 'app', 'app_pw', caps);
        const via = await RawClient.connect(dbmesh.port, 'app', 'app_pw', caps);
        expect(via.capabilities).to.equal(direct.capabilities);
        const statements = [
          'SELECT * FROM proto_t ORDER BY id',
          'SELECT * FROM proto_t WHERE id < 0',
          "UPDATE proto_t SET v = v WHERE id = 1",
          'SELECT no_such_column FROM proto_t',
          'CALL proto_two()',
          'SELECT 1; SELECT 2, 3; UPDATE proto_t SET v = v WHERE id = 3',
          'BEGIN', 'SELECT @@in_transaction', 'ROLLBACK',
        ];
        for (const sql of statements) {
          expect(hex(await via.query(sql)), sql).to.deep.equal(hex(await direct.query(sql)));
        }
        direct.close();
        via.close();
      });

      it(`relays prepared statements, cursors and small commands unchanged (${label})`, async function () {
        const direct = await RawClient.connect(sb.primary.port, 'app', 'app_pw', caps);
        const via = await RawClient.connect(dbmesh.port, 'app', 'app_pw', caps);
        for (const c of [direct, via]) await c.query('DROP TEMPORARY TABLE IF EXISTS x'); // sync both
        const pd = await direct.prepare('SELECT id, v, d, b FROM proto_t WHERE id > ? ORDER BY id');
        const pv = await via.prepare('SELECT id, v, d, b FROM proto_t WHERE id > ? ORDER BY id');
        expect(hex(pv.packets.slice(1))).to.deep.equal(hex(pd.packets.slice(1)));
        expect([pv.columns, pv.params]).to.deep.equal([4, 1]);
        // No-parameter statement for execute/cursor/fetch.
        const sql = 'SELECT seq, seq * 2 FROM seq_1_to_25';
        const sd = await direct.prepare(sql);
        const sv = await via.prepare(sql);
        expect(hex(await via.execute(sv.id))).to.deep.equal(hex(await direct.execute(sd.id)));
        // Cursor: execute opens it, fetches return rows in batches until LAST_ROW_SENT.
        expect(hex(await via.execute(sv.id, true))).to.deep.equal(hex(await direct.execute(sd.id, true)));
        let fetched = 0;
        for (let i = 0; i < 3; i++) {
          const fv = await via.fetch(sv.id, 10);
          expect(hex(fv)).to.deep.equal(hex(await direct.fetch(sd.id, 10)));
          fetched += fv.length - 1;
        }
        expect(fetched).to.equal(25);
        // Past the end the cursor is closed: both answer ERR 1421 (the message names the
        // server-side statement id, which depends on the server's counters, so compare codes).
        const past = await via.fetch(sv.id, 10);
        expect(past[0]!.payload[0]).to.equal(0xff);
        expect(past[0]!.payload.readUInt16LE(1)).to.equal((await direct.fetch(sd.id, 10))[0]!.payload.readUInt16LE(1));
        // COM_STMT_RESET, COM_PING, COM_INIT_DB, COM_SET_OPTION, COM_FIELD_LIST, COM_STMT_CLOSE.
        const reset = Buffer.alloc(5); reset[0] = 0x1a; reset.writeUInt32LE(sv.id, 1);
        const resetD = Buffer.from(reset); resetD.writeUInt32LE(sd.id, 1);
        expect((await via.simple(reset)).raw.toString('hex')).to.equal((await direct.simple(resetD)).raw.toString('hex'));
        for (const cmd of [Buffer.from([0x0e]), Buffer.from('\x02dbmesh_test', 'latin1'), Buffer.from([0x1b, 0x01, 0x00]), Buffer.from([0x1b, 0x00, 0x00])]) {
          expect((await via.simple(cmd)).raw.toString('hex')).to.equal((await direct.simple(cmd)).raw.toString('hex'));
        }
        const fieldList = Buffer.concat([Buffer.from([0x04]), Buffer.from('proto_t\0', 'latin1')]);
        via.send(fieldList);
        direct.send(fieldList);
        const readList = async (c: RawClient): Promise<string[]> => {
          const out: string[] = [];
          for (;;) {
            const p = (await c.read())!;
            out.push(p.raw.toString('hex'));
            if (p.payload[0] === 0xfe || p.payload[0] === 0xff) return out;
          }
        };
        expect(await readList(via)).to.deep.equal(await readList(direct));
        const close = Buffer.alloc(5); close[0] = 0x19; close.writeUInt32LE(sv.id, 1);
        via.send(close); // no response
        const stats = await via.simple(Buffer.from([0x09]));
        expect(stats.payload.toString()).to.match(/^Uptime: \d+/);
        // After COM_RESET_CONNECTION the session still works and its statements are gone.
        expect((await via.simple(Buffer.from([0x1f]))).payload[0]).to.equal(0x00);
        expect((await via.rows('SELECT 7'))[0]).to.deep.equal(['7']);
        direct.close();
        via.close();
      });
    }
  }

  it('relays COM_STMT_SEND_LONG_DATA (no response) before the execute that uses it', async function () {
    for (const port of [sb.primary.port, dbmesh.port]) {
      const c = await RawClient.connect(port, 'app', 'app_pw', BASE_CAPS);
      const st = await c.prepare('SELECT LENGTH(?), MD5(?)');
      // Two long-data pieces for each parameter; the server answers nothing to them.
      for (const param of [0, 1]) {
        for (const piece of ['abc', 'defgh']) {
          const head = Buffer.alloc(7);
          head[0] = 0x18;
          head.writeUInt32LE(st.id, 1);
          head.writeUInt16LE(param, 5);
          c.send(Buffer.concat([head, Buffer.from(piece)]));
        }
      }
      // COM_STMT_EXECUTE: flags 0, iteration 1, null bitmap (1 byte), new-params-bound 1,
      // types: two MYSQL_TYPE_VAR_STRING (0xfd); no values (they came as long data).
      const exec = Buffer.from([0x17, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x00, 0x01, 0xfd, 0x00, 0xfd, 0x00]);
      exec.writeUInt32LE(st.id, 1);
      c.send(exec);
      const packets = await c.readResult();
      // Binary row: 0x00 header, null bitmap (1 byte for 2 columns), LENGTH() as a 4-byte
      // LONG, then MD5() as a length-encoded string.
      const row = packets.find((p) => p.payload[0] === 0x00 && p.payload.length > 10)!;
      expect(row, `port ${port}`).to.not.equal(undefined);
      expect(row.payload.readInt32LE(2)).to.equal(8);
      expect(row.payload[6]).to.equal(32);
      expect(row.payload.toString('latin1', 7, 39)).to.equal('e8dc4081b13434b45189a720b77b6818'); // md5('abcdefgh')
      c.close();
    }
  });

  it('refuses a wrong password without contacting the backend', async function () {
    const count = async (): Promise<number> => {
      const c = await RawClient.connect(sb.primary.port, 'app', 'app_pw', BASE_CAPS);
      const rows = await c.rows("SHOW GLOBAL STATUS LIKE 'Connections'");
      c.close();
      return Number(rows[0]![1]);
    };
    const before = await count();
    let refused: Error | null = null;
    try {
      await RawClient.connect(dbmesh.port, 'app', 'wrong', BASE_CAPS);
    } catch (err) {
      refused = err as Error;
    }
    expect(String(refused)).to.match(/1045/);
    // Only our own counting connection reached the server in between.
    expect(await count()).to.equal(before + 1);
  });

  it('answers an unknown command with ERR 1047 and keeps the session', async function () {
    const via = await RawClient.connect(dbmesh.port, 'app', 'app_pw', BASE_CAPS);
    const err = await via.simple(Buffer.from([0x12, 0, 0, 0, 0]));
    expect(err.payload[0]).to.equal(0xff);
    expect(err.payload.readUInt16LE(1)).to.equal(1047);
    expect(err.payload.toString('latin1', 4, 9)).to.equal('08S01');
    expect((await via.rows('SELECT 42'))[0]).to.deep.equal(['42']);
    via.close();
  });

  it('tracks the transaction state from the server status flags', async function () {
    const via = await RawClient.connect(dbmesh.port, 'app', 'app_pw', BASE_CAPS);
    const statusOf = (ps: Packet[]): number => {
      const p = ps[ps.length - 1]!;
      return p.payload.readUInt16LE(3); // OK with 1-byte affected rows and insert id
    };
    expect(statusOf(await via.query('START TRANSACTION')) & 0x01).to.equal(0x01);
    expect(statusOf(await via.query('COMMIT')) & 0x01).to.equal(0);
    expect(statusOf(await via.query('SET autocommit = 0')) & 0x02).to.equal(0);
    expect(statusOf(await via.query('SET autocommit = 1')) & 0x02).to.equal(0x02);
    via.close();
  });
});
