// What dbmesh leaves prepared on the servers. Issue 8 #3: a prepare / execute / close loop
// raised a replica's Prepared_stmt_count by one per loop, forever (preparing the same text
// again replaced the cache entry without closing the old server statement; the client's
// COM_STMT_CLOSE was never forwarded), until the server-wide max_prepared_stmt_count refused
// prepares to every client of that server, dbmesh's or not.
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { rootQuery, type SandboxInfo, type SandboxServer } from '../helpers/sandbox.js';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';

const connect = (port: number): Promise<mysql.Connection> =>
  mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app_pw', database: 'dbmesh_test' });

describe('prepared statements on the servers', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let servers: SandboxServer[];
  let mesh: DbmeshProcess;

  /** Statements prepared on every sandbox server, summed. */
  async function onServers(): Promise<number> {
    let n = 0;
    for (const s of servers) n += Number((await rootQuery(s, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'PREPARED_STMT_COUNT'")).trim());
    return n;
  }

  /** COM_STMT_CLOSE has no answer: the count settles once dbmesh has written it. */
  async function settlesAt(want: (n: number) => boolean, what: string): Promise<number> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const n = await onServers();
      if (want(n)) return n;
      if (Date.now() > deadline) throw new Error(`${what}: Prepared_stmt_count is ${n}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function setLimit(n: number): Promise<void> {
    for (const s of servers) await rootQuery(s, `SET GLOBAL max_prepared_stmt_count = ${n}`);
  }

  before(async () => {
    sb = await sharedSandbox();
    servers = [sb.primary, ...sb.replicas];
    // Reads spread over the replicas (with several connections each under concurrency).
    mesh = await startDbmesh(sb, { overrides: { users: [{ name: 'app', password: 'app_pw', cluster: 'main', readFrom: 'replica' }] } });
  });

  after(async () => {
    await setLimit(16382);
    await mesh?.stop();
  });

  it('a prepare / execute / close loop leaves nothing prepared, during and after', async () => {
    const base = await onServers();
    const c = await connect(mesh.port);
    let peak = 0;
    for (let i = 0; i < 1500; i++) {
      const st = await c.prepare('SELECT ? AS v');
      const [rows] = await st.execute([i]);
      expect(rows).to.deep.equal([{ v: i }]);
      c.unprepare('SELECT ? AS v');
      if (i % 250 === 0) peak = Math.max(peak, (await onServers()) - base);
    }
    expect(peak, 'statements on the servers during the loop').to.be.at.most(2);
    await c.end();
    await settlesAt((n) => n <= base, 'after the client left');
  });

  it('closes a statement on the servers only when the last session using its text closes it', async () => {
    const base = await onServers();
    const a = await connect(mesh.port);
    const b = await connect(mesh.port);
    const sa = await a.prepare('SELECT ? + 1 AS shared');
    const sb2 = await b.prepare('SELECT ? + 1 AS shared');
    await sa.execute([1]);
    await sb2.execute([2]);
    a.unprepare('SELECT ? + 1 AS shared');
    await a.query('SELECT 1'); // the close has gone out by now, if it were sent
    const [rows] = await sb2.execute([41]);
    expect(rows, 'still prepared for the other session').to.deep.equal([{ shared: 42 }]);
    b.unprepare('SELECT ? + 1 AS shared');
    await b.query('SELECT 1');
    await settlesAt((n) => n <= base, 'after both closed');
    await a.end();
    await b.end();
  });

  it('a session that leaves without closing its statements leaves none behind', async () => {
    const base = await onServers();
    const c = await connect(mesh.port);
    for (let i = 0; i < 20; i++) await (await c.prepare(`SELECT ? AS left_open_${i}`)).execute([i]);
    expect(await onServers(), 'held while the session lives').to.be.at.least(base + 20);
    c.destroy();
    await settlesAt((n) => n <= base, 'after the session closed');
  });

  it('with max_prepared_stmt_count = 16, neither a close loop nor multiplexed sessions get 1461 where a direct client would not', async () => {
    await setLimit(16);
    try {
      // Four sessions, three statements each (12 < 16: fine directly, on one connection each),
      // executed concurrently: through dbmesh each text is prepared on several pooled
      // connections of each replica, more than the server allows in total.
      const errors: string[] = [];
      await Promise.all([1, 2, 3, 4].map(async (w) => {
        const c = await connect(mesh.port);
        const sts = [];
        for (let i = 0; i < 3; i++) sts.push(await c.prepare(`SELECT ? AS v, ${w} AS w${i}`));
        for (let round = 0; round < 60; round++) {
          await Promise.all(sts.map(async (st) => {
            try {
              const [rows] = await st.execute([round]);
              if ((rows as { v: number }[])[0]!.v !== round) errors.push('wrong row');
            } catch (e) {
              errors.push(String((e as Error).message));
            }
          }));
        }
        for (let i = 0; i < 100; i++) {
          const st = await c.prepare('SELECT ? AS lp');
          await st.execute([i]);
          c.unprepare('SELECT ? AS lp');
        }
        await c.end();
      }));
      expect(errors).to.deep.equal([]);
    } finally {
      await setLimit(16382);
    }
  });
});
