/**
 * Read/write split through the real dbmesh over the sandbox (primary + 2 read-only replicas):
 * one `it` per routing rule, each asserting where the statement ran. A statement that can
 * carry an expression reports @@port (each sandbox server has its own) and @@pseudo_thread_id
 * (the backend thread); a write that cannot would be refused on a replica (1290, first test).
 * One dbmesh serves several clusters over the same servers, so each rule gets its settings.
 */
import { expect } from 'chai';
import type { ResultSetHeader } from 'mysql2';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import type { DbmeshProcess } from '../helpers/dbmesh.js';
import type { SandboxInfo } from '../helpers/sandbox.js';
import { failure } from '../helpers/failure.js';
import {
  closeAll, connectDirect, connectVia, first, globalCounter, key, nextLog, readSpread, serverAt,
  startRouted, syncReplicas, where, type Conn,
} from '../helpers/routing.js';

const SETUP = [
  'DROP TABLE IF EXISTS rt_rows, rt_one, rt_ddl', 'DROP SEQUENCE IF EXISTS rt_seq', 'DROP PROCEDURE IF EXISTS rt_where',
  'CREATE TABLE rt_rows (id INT AUTO_INCREMENT PRIMARY KEY, tag VARCHAR(32), port INT, cid BIGINT)',
  'CREATE TABLE rt_one (id INT PRIMARY KEY)', 'INSERT INTO rt_one VALUES (1)', 'CREATE SEQUENCE rt_seq',
  'CREATE PROCEDURE rt_where() SELECT @@port AS port, @@pseudo_thread_id AS cid',
];
const TEARDOWN = ['DROP TABLE IF EXISTS rt_rows, rt_one, rt_ddl', 'DROP SEQUENCE IF EXISTS rt_seq', 'DROP PROCEDURE IF EXISTS rt_where'];
const W = '@@port AS port, @@pseudo_thread_id AS cid';

/** Reads that must run on the primary, each reporting where it ran. */
const PRIMARY_READS: [string, string][] = [
  ['SELECT ... FOR UPDATE', `SELECT ${W} FROM rt_one FOR UPDATE`],
  ['SELECT ... LOCK IN SHARE MODE', `SELECT ${W} FROM rt_one LOCK IN SHARE MODE`],
  ['SELECT GET_LOCK()', `SELECT GET_LOCK('rt_lock', 0) AS v, ${W}`],
  ['SELECT RELEASE_LOCK()', `SELECT RELEASE_LOCK('rt_lock_not_held') AS v, ${W}`],
  ['SELECT LAST_INSERT_ID()', `SELECT LAST_INSERT_ID() AS v, ${W}`],
  ['SELECT FOUND_ROWS()', `SELECT FOUND_ROWS() AS v, ${W}`],
  ['SELECT NEXTVAL(sequence)', `SELECT NEXTVAL(rt_seq) AS v, ${W}`],
  ['CALL procedure', 'CALL rt_where()'],
];

describe('read/write split through dbmesh', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let d: DbmeshProcess;
  let root: Conn;
  const open: Conn[] = [];
  const replicaIds = (): string[] => sb.replicas.map((r) => r.id);

  async function session(user = 'app'): Promise<Conn> {
    const c = await connectVia(d, user);
    open.push(c);
    return c;
  }

  async function insertedPort(id: number): Promise<number> {
    return Number((await first(root, 'SELECT port FROM rt_rows WHERE id = ?', [id])).port);
  }

  before(async () => {
    sb = await sharedSandbox();
    root = await connectDirect(sb.primary);
    for (const sql of SETUP) await root.query(sql);
    await syncReplicas(sb);
    const onPrimary = { host: sb.primary.host, port: sb.primary.port };
    d = await startRouted(sb, [
      // round-robin: exact shares, so "every candidate gets reads" holds for one sequential client.
      { name: 'main', settings: { readYourWritesMs: 0, balancer: 'round-robin' } },
      { name: 'p2c', settings: { readYourWritesMs: 0 } },
      { name: 'ryw', settings: { readYourWritesMs: 2000 } },
      { name: 'ryw300', settings: { readYourWritesMs: 300 } },
      // Both entries are the primary: the point is spreading, and replicas would refuse writes.
      {
        name: 'tidb', type: 'tidb', backends: [{ id: 't1', ...onPrimary }, { id: 't2', ...onPrimary }],
        backendExtra: { maxConnections: 1 }, settings: { balancer: 'round-robin' },
      },
    ], [
      { name: 'app', cluster: 'main', readFrom: 'replica' },
      { name: 'p2c', cluster: 'p2c', readFrom: 'replica' },
      { name: 'fromprimary', cluster: 'main', readFrom: 'primary' },
      { name: 'fromany', cluster: 'main', readFrom: 'any' },
      { name: 'ryw', cluster: 'ryw', readFrom: 'replica' },
      { name: 'ryw300', cluster: 'ryw300', readFrom: 'replica' },
      { name: 'tidb', cluster: 'tidb', readFrom: 'replica' },
    ]);
  });

  afterEach(async () => closeAll(open.splice(0)));

  after(async () => {
    await d?.stop();
    if (root) for (const sql of TEARDOWN) await root.query(sql).catch(() => undefined);
    await root?.end();
  });

  it('the sandbox app user cannot write on a replica (read_only: 1290)', async () => {
    for (const r of sb.replicas) {
      const c = await connectDirect(r, 'app', 'app_pw');
      open.push(c);
      expect((await failure(c.query("INSERT INTO rt_rows (tag) VALUES ('direct')"))).errno, r.id).to.equal(1290);
      expect((await failure(c.query('CREATE TABLE rt_ddl (id INT)'))).errno, r.id).to.equal(1290);
    }
  });

  it('a plain SELECT outside a transaction runs on a replica; 40 reads reach both replicas', async () => {
    const spread = await readSpread(sb, await session(), 40);
    expect([...spread.keys()].sort(), JSON.stringify([...spread])).to.deep.equal(replicaIds().sort());
  });

  it('the default balancer (p2c-ewma) spreads concurrent reads over both replicas', async () => {
    // p2c-ewma weighs latency by statements in flight: concurrency is what makes it spread.
    const sessions = await Promise.all(Array.from({ length: 8 }, () => session('p2c')));
    const spreads = await Promise.all(sessions.map((c) => readSpread(sb, c, 10)));
    const ids = new Set(spreads.flatMap((m) => [...m.keys()]));
    expect([...ids].sort(), JSON.stringify(spreads.map((m) => [...m]))).to.deep.equal(replicaIds().sort());
  });

  describe('statements that must run on the primary', () => {
    it('INSERT', async () => {
      const [r] = await (await session()).query<ResultSetHeader>("INSERT INTO rt_rows (tag, port) VALUES ('insert', @@port)");
      expect(serverAt(sb, await insertedPort(r.insertId))).to.equal(sb.primary.id);
    });

    it('UPDATE and REPLACE', async () => {
      const [r] = await root.query<ResultSetHeader>("INSERT INTO rt_rows (tag, port) VALUES ('before', 0)");
      await syncReplicas(sb);
      const c = await session();
      const [u] = await c.query<ResultSetHeader>("UPDATE rt_rows SET tag = 'update', port = @@port WHERE id = ?", [r.insertId]);
      expect(u.affectedRows).to.equal(1);
      expect(serverAt(sb, await insertedPort(r.insertId))).to.equal(sb.primary.id);
      await root.query('UPDATE rt_rows SET port = 0 WHERE id = ?', [r.insertId]);
      await c.query("REPLACE INTO rt_rows (id, tag, port) VALUES (?, 'replace', @@port)", [r.insertId]);
      expect(serverAt(sb, await insertedPort(r.insertId))).to.equal(sb.primary.id);
    });

    it('DELETE', async () => {
      const [r] = await root.query<ResultSetHeader>("INSERT INTO rt_rows (tag) VALUES ('delete me')");
      await syncReplicas(sb);
      // A replica refuses writes from app (1290, first test): one deleted row means the primary ran it.
      const [del] = await (await session()).query<ResultSetHeader>('DELETE FROM rt_rows WHERE id = ?', [r.insertId]);
      expect(del.affectedRows).to.equal(1);
    });

    it('DDL (CREATE ... SELECT @@port, ALTER, TRUNCATE, DROP)', async () => {
      const c = await session();
      await c.query('CREATE TABLE rt_ddl AS SELECT @@port AS port');
      expect(serverAt(sb, Number((await first(root, 'SELECT port FROM rt_ddl')).port))).to.equal(sb.primary.id);
      // A replica refuses these from app (1290, first test): success means the primary ran them.
      await c.query('ALTER TABLE rt_ddl ADD COLUMN c2 INT');
      await c.query('TRUNCATE TABLE rt_ddl');
      await c.query('DROP TABLE rt_ddl');
    });

    it('LOCK TABLES and UNLOCK TABLES', async () => {
      const c = await session();
      await c.query('LOCK TABLES rt_rows WRITE');
      const held = await where(c); // pinned: runs on the connection that holds the lock
      expect(serverAt(sb, held.port)).to.equal(sb.primary.id);
      await c.query("INSERT INTO rt_rows (tag, cid) VALUES ('locked', @@pseudo_thread_id)");
      await c.query('UNLOCK TABLES');
      expect(Number((await first(root, "SELECT cid FROM rt_rows WHERE tag = 'locked'")).cid)).to.equal(held.cid);
      // A lone UNLOCK TABLES cannot say where it ran: count it on every server (not replicated).
      const before = await globalCounter(sb, 'Com_unlock_tables');
      await c.query('UNLOCK TABLES');
      const after = await globalCounter(sb, 'Com_unlock_tables');
      const ran = [...after].filter(([id, n]) => n > before.get(id)!).map(([id]) => id);
      expect(ran).to.deep.equal([sb.primary.id]);
    });

    for (const [name, sql] of PRIMARY_READS) {
      it(name, async () => {
        const c = await session();
        expect(serverAt(sb, (await where(c, sql)).port)).to.equal(sb.primary.id);
        if (name.includes('GET_LOCK')) await c.query("SELECT RELEASE_LOCK('rt_lock')");
      });
    }
    // FOR SHARE: MariaDB 10.11 rejects the form; its route is covered by test/unit/sql/classifier.test.ts.
  });

  describe('transactions', () => {
    it('BEGIN ... COMMIT: every statement on the primary, on one backend connection', async () => {
      const c = await session();
      await c.query('BEGIN');
      const [ins] = await c.query<ResultSetHeader>("INSERT INTO rt_rows (tag, port, cid) VALUES ('txn', @@port, @@pseudo_thread_id)");
      const a = await where(c);
      const b = await where(c, `SELECT ${W}, COUNT(*) AS n FROM rt_rows WHERE id = ${ins.insertId}`);
      await c.query('COMMIT');
      expect(serverAt(sb, a.port)).to.equal(sb.primary.id);
      expect(key(b)).to.equal(key(a));
      expect(Number(b.n)).to.equal(1); // sees its own uncommitted row
      expect(Number((await first(root, 'SELECT cid FROM rt_rows WHERE id = ?', [ins.insertId])).cid)).to.equal(a.cid);
    });

    it('SET autocommit=0, then SELECT: primary, on one connection', async () => {
      const c = await session();
      await c.query('SET autocommit = 0');
      const a = await where(c, `SELECT ${W} FROM rt_one`);
      const b = await where(c, `SELECT ${W} FROM rt_one`);
      await c.query('COMMIT');
      await c.query('SET autocommit = 1');
      expect(serverAt(sb, a.port)).to.equal(sb.primary.id);
      expect(key(b)).to.equal(key(a));
    });

    it('START TRANSACTION READ ONLY; SELECT; SELECT; COMMIT: all on one replica connection', async () => {
      const c = await session();
      await c.query('START TRANSACTION READ ONLY');
      const a = await where(c);
      const b = await where(c, `SELECT ${W} FROM rt_one`);
      await c.query('COMMIT');
      expect(replicaIds()).to.include(serverAt(sb, a.port));
      expect(key(b)).to.equal(key(a));
    });
  });

  describe('hints', () => {
    it('/* dbmesh:primary */ sends a read to the primary', async () => {
      const spread = await readSpread(sb, await session(), 10, `/* dbmesh:primary */ SELECT ${W}`);
      expect([...spread.keys()]).to.deep.equal([sb.primary.id]);
    });

    it('/* dbmesh:replica */ sends a read to a replica, even for a readFrom: primary user', async () => {
      const spread = await readSpread(sb, await session('fromprimary'), 10, `/* dbmesh:replica */ SELECT ${W}`);
      for (const id of spread.keys()) expect(replicaIds()).to.include(id);
    });

    it('/* dbmesh:backend=<id> */ sends a read to that backend', async () => {
      const c = await session();
      for (const target of [sb.replicas[1]!, sb.primary]) {
        const spread = await readSpread(sb, c, 10, `/* dbmesh:backend=${target.id} */ SELECT ${W}`);
        expect([...spread.keys()]).to.deep.equal([target.id]);
      }
    });

    it('a hint naming an unknown backend gets an ERR and the session goes on', async () => {
      const c = await session();
      const err = await failure(c.query('/* dbmesh:backend=no_such_backend */ SELECT 1'));
      expect(err.errno).to.equal(1105);
      expect(err.sqlMessage).to.include('no_such_backend');
      expect(Number((await first(c, 'SELECT 41 + 1 AS v')).v)).to.equal(42);
      expect(d.child.exitCode).to.equal(null);
    });
  });

  describe('read-your-writes window', () => {
    const write = (c: Conn): Promise<[ResultSetHeader, unknown]> => c.query<ResultSetHeader>("INSERT INTO rt_rows (tag) VALUES ('ryw')");

    it('readYourWritesMs 2000: the SELECT after an INSERT runs on the primary and sees the row', async () => {
      const c = await session('ryw');
      const [r] = await write(c);
      const w = await where(c, `SELECT ${W}, (SELECT COUNT(*) FROM rt_rows WHERE id = ${r.insertId}) AS n`);
      expect(serverAt(sb, w.port)).to.equal(sb.primary.id);
      expect(Number(w.n)).to.equal(1);
    });

    it('readYourWritesMs 0: the SELECT after an INSERT runs on a replica', async () => {
      const c = await session('app');
      await write(c);
      expect(replicaIds()).to.include(serverAt(sb, (await where(c)).port));
    });

    it('readYourWritesMs 300: primary inside the window, a replica after it', async () => {
      const c = await session('ryw300');
      await write(c);
      expect(serverAt(sb, (await where(c)).port)).to.equal(sb.primary.id);
      // The window is a timed rule: only waiting past it can show that it ends.
      await new Promise((r) => setTimeout(r, 450));
      expect(replicaIds()).to.include(serverAt(sb, (await where(c)).port));
    });
  });

  describe('user readFrom', () => {
    it("readFrom: 'primary' reads on the primary", async () => {
      const spread = await readSpread(sb, await session('fromprimary'), 20);
      expect([...spread.keys()]).to.deep.equal([sb.primary.id]);
    });

    it("readFrom: 'any' reads land on the replicas and the primary", async () => {
      const spread = await readSpread(sb, await session('fromany'), 60);
      expect(spread.has(sb.primary.id), JSON.stringify([...spread])).to.equal(true);
      expect(replicaIds().some((id) => spread.has(id)), JSON.stringify([...spread])).to.equal(true);
    });
  });

  it("type 'tidb': reads and writes are spread over every backend", async () => {
    const c = await session('tidb');
    // maxConnections 1 per backend: each backend id is one backend thread, found by hint.
    const t1 = (await where(c, `/* dbmesh:backend=t1 */ SELECT ${W}`)).cid;
    const t2 = (await where(c, `/* dbmesh:backend=t2 */ SELECT ${W}`)).cid;
    expect(t1).to.not.equal(t2);
    const reads = new Set<number>();
    for (let i = 0; i < 40; i++) reads.add((await where(c)).cid);
    expect([...reads].sort()).to.deep.equal([t1, t2].sort());
    const writes = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const [r] = await c.query<ResultSetHeader>("INSERT INTO rt_rows (tag, cid) VALUES ('tidb', @@pseudo_thread_id)");
      writes.add(Number((await first(root, 'SELECT cid FROM rt_rows WHERE id = ?', [r.insertId])).cid));
    }
    expect([...writes].sort()).to.deep.equal([t1, t2].sort());
  });

  describe('replication lag', () => {
    const notReplicating = (id: string) => (l: Record<string, unknown>): boolean =>
      l.message === 'backend state changed' && l.cluster === 'main' && l.backend === id && l.to === 'lagging';
    const replicatingAgain = (id: string) => (l: Record<string, unknown>): boolean =>
      l.message === 'backend state changed' && l.cluster === 'main' && l.backend === id && l.from === 'lagging' && l.to === 'up';

    async function sqlThread(id: string, verb: 'STOP' | 'START'): Promise<void> {
      const c = await connectDirect(sb.replicas.find((r) => r.id === id)!);
      try {
        await c.query(`${verb} SLAVE SQL_THREAD`);
      } finally {
        await c.end();
      }
    }

    after(async () => {
      for (const r of sb.replicas) await sqlThread(r.id, 'START').catch(() => undefined);
      await syncReplicas(sb); // later files expect caught-up replicas
    });

    it('a replica whose SQL thread stops takes no reads; with none left, reads go to the primary', async () => {
      const [r1, r2] = replicaIds() as [string, string];
      let seen = nextLog(d, notReplicating(r1), `${r1} reported not replicating`);
      await sqlThread(r1, 'STOP');
      await seen;
      const c = await session();
      expect([...(await readSpread(sb, c, 30)).keys()]).to.deep.equal([r2]);
      seen = nextLog(d, notReplicating(r2), `${r2} reported not replicating`);
      await sqlThread(r2, 'STOP');
      await seen;
      expect([...(await readSpread(sb, c, 10)).keys()]).to.deep.equal([sb.primary.id]);
      const back = Promise.all([nextLog(d, replicatingAgain(r1), `${r1} back`), nextLog(d, replicatingAgain(r2), `${r2} back`)]);
      await sqlThread(r1, 'START');
      await sqlThread(r2, 'START');
      await back;
      expect([...(await readSpread(sb, c, 40)).keys()].sort()).to.deep.equal([r1, r2].sort());
    });
  });
});
