/**
 * Multiplexing and pinning through the real dbmesh: every statement may run on another pooled
 * backend connection (maxConnections 2 per backend here) unless the session is pinned or in a
 * transaction. A backend connection is identified by @@port + @@pseudo_thread_id. While other
 * sessions churn the pool, a "stealer" session takes the connection a session just gave back
 * into a transaction (pools hand out the most recent one first), so an unpinned session moves
 * (asserted by a control test) and a pinned one must not.
 */
import { expect } from 'chai';
import type { ResultSetHeader } from 'mysql2';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import type { DbmeshProcess } from '../helpers/dbmesh.js';
import type { SandboxInfo } from '../helpers/sandbox.js';
import type { RawClient } from '../helpers/raw-client.js';
import { failure } from '../helpers/failure.js';
import {
  Churn, closeAll, connectDirect, connectVia, connectionsUnderSteal, first, key, rawStolen, rawVia, rawWhere,
  rows, startRouted, whileStolen, where, type Conn, type Where,
} from '../helpers/routing.js';

const MAX_CONNECTIONS = 2;
const SETUP = [
  'DROP TABLE IF EXISTS pin_rows, pin_ai, pin_rc',
  'CREATE TABLE pin_rows (id INT PRIMARY KEY)', 'INSERT INTO pin_rows VALUES (1),(2),(3),(4),(5),(6),(7)',
  'CREATE TABLE pin_ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)',
  'CREATE TABLE pin_rc (id INT PRIMARY KEY, v INT)', 'INSERT INTO pin_rc VALUES (1,0),(2,0),(3,0),(4,0),(5,0)',
];
const STATE_SQL = 'SELECT @@time_zone AS tz, @@sql_mode AS mode, DATABASE() AS db, @@character_set_client AS cs, @@port AS port, @@pseudo_thread_id AS cid';

describe('multiplexing and pinning through dbmesh', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let d: DbmeshProcess;
  let root: Conn;
  let stealer: Conn;
  let churn: Churn | null = null;
  /** app connections on the primary that predate this file's dbmesh (not ours to count). */
  let preexisting = new Set<number>();
  const open: Conn[] = [];
  const raws: RawClient[] = [];

  async function session(user = 'app'): Promise<Conn> {
    const c = await connectVia(d, user);
    open.push(c);
    return c;
  }

  async function raw(): Promise<RawClient> {
    const c = await rawVia(d, 'app');
    raws.push(c);
    return c;
  }

  /** Runs `fn` with the churn parked, so the stealer takes exactly what a session gave back. */
  const quiet = <T>(fn: () => Promise<T>): Promise<T> => (churn ? churn.paused(fn) : fn());
  /** Round `i`: parked churn on even rounds, running churn on odd ones. */
  const alt = <T>(i: number, fn: () => Promise<T>): Promise<T> => (i % 2 === 0 ? quiet(fn) : fn());

  /**
   * `rounds` statements of `c`, each while the stealer holds a connection: all on `w0`. Even
   * rounds run with the churn parked (an unpinned session surely moves, see the control
   * test), odd ones while it runs.
   */
  async function staysOn(c: Conn, w0: Where, rounds = 6): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      expect(key(await alt(i, () => whileStolen(stealer, () => where(c)))), `round ${i}`).to.equal(key(w0));
    }
  }

  /** The session is not pinned: stolen from, it runs on another connection. */
  async function moves(c: Conn): Promise<void> {
    expect((await quiet(() => connectionsUnderSteal(c, stealer, 4))).size).to.be.greaterThan(1);
  }

  before(async () => {
    sb = await sharedSandbox();
    root = await connectDirect(sb.primary);
    for (const sql of SETUP) await root.query(sql);
    preexisting = new Set((await rows(root, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app'")).map((r) => Number(r.ID)));
    d = await startRouted(sb, [{ name: 'main', backendExtra: { maxConnections: MAX_CONNECTIONS } }], [
      // Everything on the primary: one pool of two connections for every session to share.
      { name: 'app', cluster: 'main', readFrom: 'primary' },
      // SET sql_log_bin needs SUPER / BINLOG ADMIN, which app lacks.
      { name: 'root', cluster: 'main', readFrom: 'primary', backendUser: 'root', backendPassword: 'root_pw' },
    ]);
    stealer = await connectVia(d, 'app');
  });

  afterEach(async () => {
    await closeAll(open.splice(0));
    for (const r of raws.splice(0)) r.close();
  });

  after(async () => {
    const errors = churn ? await churn.stop() : [];
    await closeAll([stealer]);
    await d?.stop();
    if (root) await root.query('DROP TABLE IF EXISTS pin_rows, pin_ai, pin_rc').catch(() => undefined);
    await closeAll([root]);
    expect(errors, 'churn sessions saw errors').to.deep.equal([]);
  });

  it(`20 sessions x 50 point selects over maxConnections ${MAX_CONNECTIONS}: no errors, never more backend connections`, async () => {
    const ours = async (): Promise<number> => (await rows(root, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app'"))
      .filter((r) => !preexisting.has(Number(r.ID))).length;
    let running = true;
    let most = 0;
    const sampler = (async () => {
      while (running) most = Math.max(most, await ours());
    })();
    const errors: string[] = [];
    try {
      const sessions = await Promise.all(Array.from({ length: 20 }, () => session()));
      await Promise.all(sessions.map(async (c, s) => {
        for (let i = 0; i < 50; i++) {
          const v = await first(c, 'SELECT ? AS v FROM pin_rows WHERE id = ?', [s * 1000 + i, 1 + (i % 7)]).catch((e: Error) => ({ v: e.message }));
          if (Number(v.v) !== s * 1000 + i) errors.push(`session ${s}: ${String(v.v)}`);
        }
      }));
    } finally {
      running = false;
      await sampler;
    }
    expect(errors).to.deep.equal([]);
    expect(most).to.be.within(1, MAX_CONNECTIONS); // workers: 1
  });

  describe('under churn', () => {
    before(async () => { churn = await Churn.start(d, 'app', 2); });

    it('control: an unpinned session moves between connections', async () => {
      await moves(await session());
    });

    it('temporary table: one connection while it exists, and the table is there', async () => {
      const c = await session();
      await c.query('CREATE TEMPORARY TABLE pin_tmp (id INT)');
      const w0 = await where(c);
      for (let i = 0; i < 5; i++) await alt(i, () => whileStolen(stealer, () => c.query('INSERT INTO pin_tmp VALUES (?)', [i])));
      await staysOn(c, w0);
      expect(Number((await first(c, 'SELECT COUNT(*) AS n FROM pin_tmp')).n)).to.equal(5);
      await c.query('DROP TEMPORARY TABLE pin_tmp');
    });

    it('user variable: @x set, then read back on the same connection', async () => {
      const c = await session();
      await c.query('SET @x = 42');
      await staysOn(c, await where(c));
      expect(Number((await quiet(() => whileStolen(stealer, () => first(c, 'SELECT @x AS v')))).v)).to.equal(42);
    });

    it('GET_LOCK: held by this session until RELEASE_LOCK', async () => {
      const c = await session();
      expect(Number((await first(c, "SELECT GET_LOCK('pin_lock', 0) AS v")).v)).to.equal(1);
      const w0 = await where(c);
      await staysOn(c, w0);
      expect(Number((await first(root, "SELECT IS_USED_LOCK('pin_lock') AS v")).v)).to.equal(w0.cid);
      expect(Number((await quiet(() => whileStolen(stealer, () => first(c, "SELECT RELEASE_LOCK('pin_lock') AS v")))).v)).to.equal(1);
      expect((await first(root, "SELECT IS_USED_LOCK('pin_lock') AS v")).v).to.equal(null);
    });

    it('LOCK TABLES: one connection until UNLOCK TABLES, then the session may move', async () => {
      const c = await session();
      await c.query('LOCK TABLES pin_rows READ');
      await staysOn(c, await where(c));
      // Only a connection holding LOCK TABLES refuses a table it did not lock (1100).
      expect((await failure(quiet(() => whileStolen(stealer, () => c.query('SELECT * FROM pin_ai'))))).errno).to.equal(1100);
      expect(Number((await first(c, 'SELECT COUNT(*) AS n FROM pin_rows')).n)).to.equal(7);
      await c.query('UNLOCK TABLES');
      await moves(c);
    });

    it('SQL_CALC_FOUND_ROWS: FOUND_ROWS() on the same connection gives the full count', async () => {
      const c = await session();
      const w0 = await where(c, 'SELECT SQL_CALC_FOUND_ROWS id, @@port AS port, @@pseudo_thread_id AS cid FROM pin_rows LIMIT 2');
      const r = await quiet(() => whileStolen(stealer, () => where(c, 'SELECT FOUND_ROWS() AS n, @@port AS port, @@pseudo_thread_id AS cid')));
      expect(key(r)).to.equal(key(w0));
      expect(Number(r.n)).to.equal(7);
      await moves(c); // the pin lasts one statement
    });

    it('text PREPARE / EXECUTE on the same connection', async () => {
      const c = await session();
      await c.query("PREPARE pin_p FROM 'SELECT ? * 2 AS v'");
      await staysOn(c, await where(c));
      expect(Number((await quiet(() => whileStolen(stealer, () => first(c, 'EXECUTE pin_p USING 21')))).v)).to.equal(42);
      await c.query('DEALLOCATE PREPARE pin_p');
    });

    it('SET sql_log_bin = 0 (as root: app lacks the privilege) pins the session', async () => {
      expect((await failure((await session()).query('SET sql_log_bin = 0'))).errno).to.equal(1227);
      // A root stealer: the pool keeps idle connections per login shape.
      const [c, rootStealer] = [await session('root'), await session('root')];
      await c.query('SET sql_log_bin = 0');
      const w0 = await where(c);
      for (let i = 0; i < 6; i++) {
        const r = await alt(i, () => whileStolen(rootStealer, () => where(c, 'SELECT @@sql_log_bin AS v, @@port AS port, @@pseudo_thread_id AS cid')));
        expect(key(r)).to.equal(key(w0));
        expect(Number(r.v)).to.equal(0);
      }
      await c.query('SET sql_log_bin = 1');
    });

    it('an untracked SET (group_concat_max_len) pins the session', async () => {
      const c = await session();
      await c.query('SET SESSION group_concat_max_len = 12345');
      await staysOn(c, await where(c));
      expect(Number((await quiet(() => whileStolen(stealer, () => first(c, 'SELECT @@group_concat_max_len AS v')))).v)).to.equal(12345);
    });

    it('a transaction holds its connection until COMMIT, then the session may move', async () => {
      const c = await session();
      await c.query('BEGIN');
      const w0 = await where(c);
      const [ins] = await quiet(() => whileStolen(stealer, () => c.query<ResultSetHeader>('INSERT INTO pin_ai (v) VALUES (7)')));
      await staysOn(c, w0);
      expect(Number((await first(c, 'SELECT COUNT(*) AS n FROM pin_ai WHERE id = ?', [ins.insertId])).n)).to.equal(1);
      await c.query('COMMIT');
      await moves(c);
    });

    it('COM_RESET_CONNECTION clears user variables and unpins', async () => {
      const c = await session();
      await c.query('SET @x = 1');
      await staysOn(c, await where(c), 2);
      await c.reset();
      expect((await first(c, 'SELECT @x AS v')).v).to.equal(null);
      await moves(c);
    });

    describe('binary protocol pins (raw client)', () => {
      it('an open cursor keeps the connection until it is fetched to the end', async () => {
        const [c, st] = [await raw(), await raw()];
        const stmt = await c.prepare('SELECT id FROM pin_rows ORDER BY id');
        await c.execute(stmt.id, true);
        const w0 = await rawWhere(c);
        let fetched = 0;
        for (let i = 0; i < 7 && fetched < 7; i++) {
          expect(await alt(i, () => rawStolen(st, () => rawWhere(c)))).to.equal(w0);
          const packets = await alt(i, () => rawStolen(st, () => c.fetch(stmt.id, 2)));
          expect(packets.at(-1)!.payload[0]).to.not.equal(0xff);
          fetched += packets.length - 1;
        }
        expect(fetched).to.equal(7);
      });

      it('COM_STMT_SEND_LONG_DATA keeps the connection until the execute', async () => {
        const [c, st] = [await raw(), await raw()];
        const stmt = await c.prepare('SELECT CONCAT(?, @@pseudo_thread_id) AS v');
        const head = Buffer.alloc(7);
        head[0] = 0x18; // COM_STMT_SEND_LONG_DATA: no response
        head.writeUInt32LE(stmt.id, 1);
        c.send(Buffer.concat([head, Buffer.from('long-data-')]));
        // The pin starts with the long data (the connection before it may have gone to the churn).
        const w0 = await rawWhere(c);
        expect(await quiet(() => rawStolen(st, () => rawWhere(c)))).to.equal(w0);
        // COM_STMT_EXECUTE: flags 0, 1 iteration, null bitmap, types bound (STRING); no value.
        const exec = Buffer.from([0x17, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x00, 1, 0xfe, 0x00]);
        exec.writeUInt32LE(stmt.id, 1);
        const packets = await quiet(() => rawStolen(st, async () => { c.send(exec); return c.readResult(); }));
        const cid = w0.split('/')[1]!;
        expect(packets.some((p) => p.payload.includes(Buffer.from(`long-data-${cid}`)))).to.equal(true);
      });

      it('COM_SET_OPTION pins the session', async () => {
        const [c, st] = [await raw(), await raw()];
        const ok = await c.simple(Buffer.from([0x1b, 0x00, 0x00])); // MYSQL_OPTION_MULTI_STATEMENTS_ON
        expect(ok.payload[0]).to.not.equal(0xff);
        const w0 = await rawWhere(c);
        for (let i = 0; i < 4; i++) expect(await alt(i, () => rawStolen(st, () => rawWhere(c)))).to.equal(w0);
      });
    });

    describe('state that moves with an unpinned session', () => {
      it('SET NAMES / time_zone / sql_mode / USE: every statement sees the session\'s own values', async () => {
        const [a, b] = [await session(), await session()];
        for (const sql of ['SET NAMES latin1', "SET time_zone = '+03:00'", "SET sql_mode = 'ANSI_QUOTES'", 'USE app']) await a.query(sql);
        for (const sql of ['SET NAMES utf8mb4', "SET time_zone = '-05:00'", "SET sql_mode = 'STRICT_TRANS_TABLES'", 'USE sbtest']) await b.query(sql);
        const want = new Map([[a, { tz: '+03:00', mode: 'ANSI_QUOTES', db: 'app', cs: 'latin1' }], [b, { tz: '-05:00', mode: 'STRICT_TRANS_TABLES', db: 'sbtest', cs: 'utf8mb4' }]]);
        const seen = new Map([[a, new Set<string>()], [b, new Set<string>()]]);
        for (let i = 0; i < 15; i++) {
          for (const c of [a, b]) {
            const r = await alt(i, () => whileStolen(stealer, () => where(c, STATE_SQL)));
            expect({ tz: r.tz, mode: r.mode, db: r.db, cs: r.cs }, `round ${i}`).to.deep.equal(want.get(c));
            seen.get(c)!.add(key(r));
          }
        }
        expect(seen.get(a)!.size, 'a moved').to.be.greaterThan(1);
        expect(seen.get(b)!.size, 'b moved').to.be.greaterThan(1);
      });

      it("LAST_INSERT_ID() and ROW_COUNT() are the session's own on any connection", async () => {
        const c = await session();
        const fns = [
          { write: 'INSERT INTO pin_ai (v) VALUES (1)', read: 'SELECT LAST_INSERT_ID() AS v', want: (r: ResultSetHeader) => r.insertId },
          { write: 'UPDATE pin_rc SET v = v + 1 WHERE id <= 3', read: 'SELECT ROW_COUNT() AS v', want: () => 3 },
        ];
        // Churn parked, so each case is deterministic: (1) the other session runs the same kind
        // of statement on the connection this one just used, then gives it back, and the read
        // runs there; (2) the other session holds that connection and the read runs elsewhere
        // (on a connection this session used for an earlier statement).
        const check = async (f: (typeof fns)[number], steal: boolean, what: string): Promise<void> => {
          const [mine] = await c.query<ResultSetHeader>(f.write);
          if (!steal) await whileStolen(stealer, () => stealer.query(f.write));
          const got = Number((await (steal ? whileStolen(stealer, () => first(c, f.read)) : first(c, f.read))).v);
          expect(got, what).to.equal(f.want(mine));
        };
        await quiet(async () => {
          for (let i = 0; i < 3; i++) {
            for (const f of fns) {
              await check(f, false, `${f.read} after the other session's statement, round ${i}`);
              await check(f, true, `${f.read} on another connection, round ${i}`);
            }
          }
        });
      });

      it('LAST_INSERT_ID() in a binary prepared statement is the session\'s own', async () => {
        const c = await session();
        await quiet(async () => {
          for (let i = 0; i < 3; i++) {
            const [mine] = await c.query<ResultSetHeader>('INSERT INTO pin_ai (v) VALUES (1)');
            await whileStolen(stealer, () => stealer.query('INSERT INTO pin_ai (v) VALUES (2)'));
            const [r] = await c.execute('SELECT LAST_INSERT_ID() AS v');
            expect(Number((r as Record<string, unknown>[])[0]!.v), `round ${i}`).to.equal(mine.insertId);
          }
        });
      });

      it('binary prepared statements: several sessions, 100 executes each, all correct', async () => {
        const sessions = await Promise.all(Array.from({ length: 4 }, () => session()));
        const cids = new Set<number>();
        await Promise.all(sessions.map(async (c, s) => {
          const st = await c.prepare('SELECT CONCAT(?, ?) AS v, @@pseudo_thread_id AS cid');
          for (let i = 0; i < 100; i++) {
            const [r] = await st.execute([`s${s}-`, i]);
            const row = (r as Record<string, unknown>[])[0]!;
            expect(row.v).to.equal(`s${s}-${i}`);
            cids.add(Number(row.cid));
          }
          st.close();
          for (let i = 0; i < 100; i++) {
            const [r] = await c.execute('SELECT ? + ? AS n', [i, s]);
            expect(Number((r as Record<string, unknown>[])[0]!.n)).to.equal(i + s);
          }
        }));
        expect(cids.size, 'statements ran on several connections').to.be.greaterThan(1);
      });
    });
  });
});
