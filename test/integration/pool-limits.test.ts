/**
 * Pool limits and housekeeping, against the sandbox primary: a full backend makes a
 * statement wait in a FIFO queue and then fail with a clear 1040 naming the cluster and the
 * limit; prepared statements per backend connection stay under the configured bound however
 * many a session prepares; idle connections above minIdle are closed after the idle timeout.
 */
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { rootQuery, sessionsOf, type SandboxInfo } from '../helpers/sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { connect, scalar } from '../helpers/control.js';

describe('pool limits', function () {
  this.timeout(60000);
  let sb: SandboxInfo;
  let dbmesh: DbmeshProcess;
  const open: mysql.Connection[] = [];

  before(async function () {
    sb = await sharedSandbox();
    dbmesh = await startDbmesh(sb, {
      overrides: {
        clusters: [{
          name: 'main', type: 'replication',
          pool: { acquireTimeoutMs: 300, idleTimeoutMs: 1000, maxPreparedPerConnection: 3, keepAliveMs: 0 },
          backends: [
            { id: sb.primary.id, host: sb.primary.host, port: sb.primary.port, maxConnections: 2 },
            ...sb.replicas.map((r) => ({ id: r.id, host: r.host, port: r.port })),
          ],
        }],
      },
    });
  });

  afterEach(async function () {
    for (const c of open.splice(0)) await c.end().catch(() => undefined);
  });

  after(async function () {
    await dbmesh?.stop();
  });

  const client = async (): Promise<mysql.Connection> => {
    const c = await connect(dbmesh);
    open.push(c);
    return c;
  };

  it('queues a statement while the backend is full and runs it when a connection comes back', async function () {
    const [a, b, c] = [await client(), await client(), await client()];
    await a.query('BEGIN'); // each open transaction holds one of the 2 connections
    await b.query('BEGIN');
    const waiting = scalar(c, 'SELECT 42');
    await a.query('COMMIT'); // gives its connection back: the queued statement gets it
    expect(Number(await waiting)).to.equal(42);
    await b.query('COMMIT');
  });

  it('answers 1040 naming the cluster, backend and limit when no connection comes free in time', async function () {
    const [a, b, c] = [await client(), await client(), await client()];
    await a.query('BEGIN');
    await b.query('BEGIN');
    const started = Date.now();
    const err = await c.query('SELECT 1').then(() => null, (e: { errno?: number; message?: string }) => e);
    expect(err, 'the statement failed').to.not.equal(null);
    expect(err!.errno).to.equal(1040);
    expect(err!.message).to.match(/cluster 'main'.*maxConnections=2/);
    expect(Date.now() - started, 'waited about acquireTimeoutMs').to.be.within(250, 5000);
    await a.query('COMMIT');
    await b.query('COMMIT');
    expect(Number(await scalar(c, 'SELECT 7')), 'the session still works').to.equal(7);
    expect(await sessionsOf(sb.primary), 'backend connections').to.be.at.most(2);
  });

  it('keeps at most maxPreparedPerConnection statements on each backend connection', async function () {
    const c = await client();
    const before = Number((await rootQuery(sb.primary, "SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")).split('\t')[1]);
    for (let i = 0; i < 12; i++) {
      const [rows] = await c.execute(`SELECT ? + ${i} AS v`, [1]);
      expect((rows as { v: number }[])[0]!.v).to.equal(1 + i);
    }
    const after = Number((await rootQuery(sb.primary, "SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")).split('\t')[1]);
    // 2 connections at most, 3 statements each; other sandbox users may hold a few more.
    expect(after - before, 'statements prepared on the primary by this test').to.be.at.most(6);
    // Every statement the client holds still executes (re-prepared where it was evicted).
    for (let i = 0; i < 12; i++) {
      const [rows] = await c.execute(`SELECT ? + ${i} AS v`, [2]);
      expect((rows as { v: number }[])[0]!.v).to.equal(2 + i);
    }
  });

  it('closes idle connections after idleTimeoutMs', async function () {
    const [a, b] = [await client(), await client()];
    await Promise.all([a.query('BEGIN'), b.query('BEGIN')]);
    await Promise.all([a.query('COMMIT'), b.query('COMMIT')]);
    expect(await sessionsOf(sb.primary)).to.equal(2);
    // A timed rule: the pool closes them on its housekeeping tick after 1 s idle.
    const deadline = Date.now() + 10000;
    while (await sessionsOf(sb.primary) > 0) {
      if (Date.now() > deadline) throw new Error('idle connections were not closed within 10 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(Number(await scalar(a, 'SELECT 5')), 'a new connection is opened on demand').to.equal(5);
  });
});
