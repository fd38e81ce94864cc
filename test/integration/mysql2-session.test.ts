/**
 * mysql2 conformance, part 3: the session. Authentication, changeUser, ping, reset,
 * transactions, a busy pool and KILL by the connection id the client sees (dbmesh's own).
 * Wherever the server decides, the outcome through dbmesh must equal the outcome directly.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import type { SandboxInfo } from '../helpers/sandbox.js';
import { failure, type Failure } from '../helpers/failure.js';
import { endOrDestroy } from '../helpers/routing.js';

type Opts = mysql.ConnectionOptions;


async function one<T = unknown>(c: mysql.Connection, sql: string, params: unknown[] = []): Promise<T> {
  const [rows] = await c.query(sql, params);
  return (rows as Record<string, T>[])[0]!.v as T;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- a minimal raw login, to present what mysql2 cannot: a caching_sha2_password answer ----
const sha = (alg: string, ...parts: Buffer[]): Buffer => parts.reduce((h, p) => h.update(p), createHash(alg)).digest();
const xor = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((x, i) => x ^ b[i]!));
const nativeToken = (pw: string, s: Buffer): Buffer => xor(sha('sha1', Buffer.from(pw)), sha('sha1', s, sha('sha1', sha('sha1', Buffer.from(pw)))));
const sha2Token = (pw: string, s: Buffer): Buffer => xor(sha('sha256', Buffer.from(pw)), sha('sha256', sha('sha256', sha('sha256', Buffer.from(pw))), s));
const nul = (b: Buffer, at: number): [Buffer, number] => { const e = b.indexOf(0, at); return [b.subarray(at, e), e + 1]; };
// CLIENT_LONG_PASSWORD | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION | PLUGIN_AUTH
const RAW_CAPS = 0x1 | 0x200 | 0x2000 | 0x8000 | 0x80000;

/** Logs in presenting `plugin`; returns the plugin the server switched to (or null) and the final packet's first byte. */
async function rawLogin(port: number, user: string, pw: string, plugin: string): Promise<{ switchedTo: string | null; result: number }> {
  const sock = net.connect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  const waiting: (() => void)[] = [];
  sock.on('data', (c: Buffer) => { buf = Buffer.concat([buf, c]); waiting.splice(0).forEach((w) => w()); });
  sock.on('error', () => waiting.splice(0).forEach((w) => w()));
  const next = async (): Promise<{ seq: number; p: Buffer }> => {
    while (buf.length < 4 || buf.length < 4 + buf.readUIntLE(0, 3)) {
      if (sock.destroyed) throw new Error('socket closed');
      await new Promise<void>((r) => waiting.push(r));
    }
    const len = buf.readUIntLE(0, 3);
    const out = { seq: buf[3]!, p: buf.subarray(4, 4 + len) };
    buf = buf.subarray(4 + len);
    return out;
  };
  const send = (seq: number, p: Buffer): void => { const h = Buffer.alloc(4); h.writeUIntLE(p.length, 0, 3); h[3] = seq; sock.write(Buffer.concat([h, p])); };
  try {
    const g = (await next()).p;
    let pos = nul(g, 1)[1] + 4;
    const s1 = g.subarray(pos, pos + 8);
    pos += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
    const [s2] = nul(g, pos);
    const scramble = Buffer.concat([s1, s2]);
    const token = plugin === 'caching_sha2_password' ? sha2Token(pw, scramble) : nativeToken(pw, scramble);
    const fixed = Buffer.alloc(32);
    fixed.writeUInt32LE(RAW_CAPS, 0);
    fixed.writeUInt32LE(1 << 24, 4);
    fixed[8] = 45;
    send(1, Buffer.concat([fixed, Buffer.from(user + '\0'), Buffer.from([token.length]), token, Buffer.from(plugin + '\0')]));
    let r = await next();
    let switchedTo: string | null = null;
    if (r.p[0] === 0xfe) {
      const [name, at] = nul(r.p, 1);
      switchedTo = name.toString();
      send(r.seq + 1, nativeToken(pw, r.p.subarray(at, at + 20)));
      r = await next();
    }
    return { switchedTo, result: r.p[0]! };
  } finally {
    sock.destroy();
  }
}

describe('mysql2 through dbmesh: auth, session commands, pool, KILL', function () {
  this.timeout(60000);
  let sb: SandboxInfo;
  let dbmesh: DbmeshProcess;
  const opened: mysql.Connection[] = [];
  const pools: mysql.Pool[] = [];

  function options(port: number, opts: Opts = {}): Opts {
    return { host: '127.0.0.1', port, user: 'app', password: 'app_pw', database: 'dbmesh_test', ...opts };
  }
  async function connect(port: number, opts: Opts = {}): Promise<mysql.Connection> {
    const c = await mysql.createConnection(options(port, opts));
    c.on('error', () => {}); // killed/closed connections report here; tests assert on commands
    opened.push(c);
    return c;
  }
  const ports = (): number[] => [sb.primary.port, dbmesh.port];

  before(async function () {
    sb = await sharedSandbox();
    dbmesh = await startDbmesh(sb);
  });

  after(async function () {
    await Promise.all(pools.splice(0).map((p) => p.end().catch(() => {})));
    await Promise.all(opened.splice(0).map((c) => endOrDestroy(c)));
    await dbmesh?.stop();
  });

  describe('authentication', function () {
    it('logs in with mysql2 defaults', async function () {
      const c = await connect(dbmesh.port);
      expect(await one(c, 'SELECT CURRENT_USER() AS v')).to.equal('app@%');
    });

    for (const [label, user, password] of [['wrong password', 'app', 'nope'], ['unknown user', 'm2_nobody', 'x'], ['empty password', 'app', '']]) {
      it(`refuses login with 1045 / 28000 (${label}), as directly`, async function () {
        const got: Failure[] = [];
        for (const port of ports()) got.push(await failure(mysql.createConnection(options(port, { user, password }))));
        expect(got[1]).to.include({ errno: 1045, sqlState: '28000', code: 'ER_ACCESS_DENIED_ERROR' });
        expect(got[1]).to.deep.equal(got[0]);
      });
    }

    it('switches a client presenting caching_sha2_password to mysql_native_password, as MariaDB does', async function () {
      const got = [];
      for (const port of ports()) got.push(await rawLogin(port, 'app', 'app_pw', 'caching_sha2_password'));
      expect(got[1]).to.deep.equal({ switchedTo: 'mysql_native_password', result: 0x00 });
      expect(got[1]).to.deep.equal(got[0]);
      expect(await rawLogin(dbmesh.port, 'app', 'wrong', 'caching_sha2_password')).to.deep.equal({ switchedTo: 'mysql_native_password', result: 0xff });
    });
  });

  describe('changeUser, ping, reset, transactions', function () {
    it('changeUser to app2 and back: CURRENT_USER changes, session state resets, the connection works', async function () {
      const seen: unknown[][] = [];
      for (const port of ports()) {
        const c = await connect(port);
        const s: unknown[] = [];
        const look = async (): Promise<void> => {
          const [rows] = await c.query('SELECT CURRENT_USER() AS u, DATABASE() AS db, @m AS m');
          const [ex] = await c.execute('SELECT ? + 1 AS n', [41]);
          s.push(rows, ex);
        };
        await c.query('SET @m = 7');
        await look();
        await c.changeUser({ user: 'app2', password: 'app2_pw' });
        await look();
        await c.changeUser({ user: 'app', password: 'app_pw' });
        await look();
        seen.push(s);
      }
      expect(seen[1]).to.deep.equal(seen[0]);
      expect(seen[1]!.filter((_, i) => i % 2 === 0)).to.deep.equal([
        [{ u: 'app@%', db: 'dbmesh_test', m: 7 }], [{ u: 'app2@%', db: 'dbmesh_test', m: null }], [{ u: 'app@%', db: 'dbmesh_test', m: null }]]);
    });

    it('changeUser with a wrong password is rejected with ER_ACCESS_DENIED_ERROR (1045), as directly', async function () {
      const got: Failure[] = [];
      for (const port of ports()) {
        const c = await connect(port);
        got.push(await failure(c.changeUser({ user: 'app2', password: 'wrong' })));
      }
      expect(got[1]).to.include({ errno: 1045, code: 'ER_ACCESS_DENIED_ERROR', sqlState: '28000' });
      expect(got[1]).to.deep.equal(got[0]);
    });

    it('ping, and reset() clears user variables, temporary tables and the transaction, as directly', async function () {
      const seen: unknown[] = [];
      for (const port of ports()) {
        const c = await connect(port);
        await c.ping();
        await c.query('SET @r = 1');
        await c.query('CREATE TEMPORARY TABLE m2_reset_tmp (id INT)');
        await c.execute('SELECT ? AS v', [1]);
        await c.query('BEGIN');
        const before = await one(c, 'SELECT @@in_transaction AS v');
        await c.reset();
        seen.push([before, await one(c, 'SELECT @r AS v'), await one(c, 'SELECT @@in_transaction AS v'),
          (await failure(c.query('SELECT * FROM m2_reset_tmp'))).errno, (await c.execute('SELECT ? AS v', [2]))[0]]);
        await c.ping();
      }
      expect(seen[1]).to.deep.equal([1, null, 0, 1146, [{ v: 2 }]]);
      expect(seen[1]).to.deep.equal(seen[0]);
    });

    it('transactions: ROLLBACK leaves no row, COMMIT keeps it', async function () {
      const direct = await connect(sb.primary.port);
      const via = await connect(dbmesh.port);
      await direct.query('DROP TABLE IF EXISTS m2_tx');
      await direct.query('CREATE TABLE m2_tx (id INT PRIMARY KEY) ENGINE=InnoDB');
      const count = (c: mysql.Connection): Promise<number> => one<number>(c, 'SELECT COUNT(*) AS v FROM m2_tx');
      await via.query('BEGIN');
      await via.execute('INSERT INTO m2_tx VALUES (?)', [1]);
      expect([await count(via), await count(direct)]).to.deep.equal([1, 0]);
      await via.query('ROLLBACK');
      expect([await count(via), await count(direct)]).to.deep.equal([0, 0]);
      await via.beginTransaction();
      await via.query('INSERT INTO m2_tx VALUES (2)');
      await via.commit();
      expect([await count(via), await count(direct)]).to.deep.equal([1, 1]);
    });
  });

  it('a pool of 10 runs 200 concurrent queries, executes and transactions without an error', async function () {
    const direct = await connect(sb.primary.port);
    await direct.query('DROP TABLE IF EXISTS m2_pool');
    await direct.query('CREATE TABLE m2_pool (id INT AUTO_INCREMENT PRIMARY KEY, k INT, v VARCHAR(20) CHARSET utf8mb4)');
    const pool = mysql.createPool({ ...options(dbmesh.port), connectionLimit: 10 });
    pools.push(pool);
    const task = async (i: number): Promise<void> => {
      switch (i % 4) {
        case 0: {
          const [rows] = await pool.query('SELECT ? AS i, REPEAT(?, 3) AS r', [i, '🙂']);
          expect(rows).to.deep.equal([{ i, r: '🙂🙂🙂' }]);
          return;
        }
        case 1: {
          const [rows] = await pool.execute('SELECT ? + 1 AS n, SLEEP(0.01) AS s', [i]);
          expect(rows).to.deep.equal([{ n: i + 1, s: 0 }]);
          return;
        }
        case 2:
          await pool.execute('INSERT INTO m2_pool (k, v) VALUES (?, ?)', [i, `é${i}`]);
          return;
        default: {
          const c = await pool.getConnection();
          try {
            await c.beginTransaction();
            await c.query('INSERT INTO m2_pool (k, v) VALUES (?, ?)', [i, `t${i}`]);
            await c.commit();
          } finally {
            c.release();
          }
        }
      }
    };
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => task(i)));
    const errors = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    expect(errors).to.deep.equal([]);
    expect(await one(direct, 'SELECT COUNT(*) AS v FROM m2_pool')).to.equal(100);
    expect(await one(direct, 'SELECT SUM(k) AS v FROM m2_pool')).to.equal(String(Array.from({ length: 200 }, (_, i) => i).filter((i) => i % 4 >= 2).reduce((a, b) => a + b, 0)));
    pools.splice(pools.indexOf(pool), 1);
    await pool.end();
  });

  describe('KILL by the client-visible connection id', function () {
    async function sleeping(watcher: mysql.Connection): Promise<void> {
      await waitFor(async () => (await one<number>(watcher, "SELECT COUNT(*) AS v FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(20)'")) === 1, 'SLEEP(20) to run');
    }

    it('KILL QUERY interrupts the running statement with 1317 and the connection keeps working, as directly', async function () {
      const got: unknown[] = [];
      for (const port of ports()) {
        const a = await connect(port);
        const b = await connect(port);
        const running = failure(a.query('SELECT SLEEP(20)'));
        await sleeping(b);
        const t0 = Date.now();
        await b.query(`KILL QUERY ${a.threadId}`);
        const err = await running;
        expect(Date.now() - t0, 'interrupted quickly').to.be.below(5000);
        got.push([err, await one(a, 'SELECT 1 AS v'), await one(b, 'SELECT 2 AS v')]);
      }
      expect(got[1]).to.deep.equal([{ errno: 1317, code: 'ER_QUERY_INTERRUPTED', sqlState: '70100', sqlMessage: 'Query execution was interrupted' }, 1, 2]);
      expect(got[1]).to.deep.equal(got[0]);
    });

    it('KILL <id> closes that connection and not the killer, as directly', async function () {
      const got: unknown[] = [];
      for (const port of ports()) {
        const a = await connect(port);
        const b = await connect(port);
        const events: string[] = [];
        const closed = new Promise<void>((resolve) => {
          a.on('end', () => { events.push('end'); resolve(); });
          a.on('error', (e: Failure) => { events.push(`error ${e.code}`); resolve(); });
        });
        await b.query(`KILL ${a.threadId}`);
        await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
        await new Promise((r) => setTimeout(r, 100)); // let 'end' and 'error' both arrive
        const next = await failure(a.query('SELECT 1 AS v'));
        got.push([events, next.code === undefined ? 'rejected' : next.code, await one(b, 'SELECT 2 AS v')]);
      }
      expect(got[1]).to.deep.equal([['end', 'error PROTOCOL_CONNECTION_LOST'], 'rejected', 2]);
      expect(got[1]).to.deep.equal(got[0]);
    });

    it('KILL of an unknown id fails with 1094, as directly', async function () {
      for (const sql of ['KILL 999999', 'KILL QUERY 999999', 'KILL CONNECTION 999999']) {
        const [d, v] = [await failure((await connect(sb.primary.port)).query(sql)), await failure((await connect(dbmesh.port)).query(sql))];
        expect(v, sql).to.deep.equal({ errno: 1094, code: 'ER_NO_SUCH_THREAD', sqlState: 'HY000', sqlMessage: 'Unknown thread id: 999999' });
        expect(v, sql).to.deep.equal(d);
      }
    });
  });
});
