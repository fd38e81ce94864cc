/**
 * KILL of a dbmesh connection id held by another worker: the worker asks the master, which
 * asks the other workers; the KILL then runs for that backend thread.
 */
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';

describe('KILL across workers', function () {
  this.timeout(60000);
  let dbmesh: DbmeshProcess;
  const conns: Connection[] = [];

  before(async function () {
    const sb = await sharedSandbox();
    dbmesh = await startDbmesh(sb, { overrides: { workers: 2 } });
  });

  after(async function () {
    for (const c of conns) c.destroy();
    await dbmesh?.stop();
  });

  it('KILL QUERY and KILL CONNECTION reach a session in the other worker', async function () {
    // Connection ids carry the worker in their high bits: open until two workers are seen.
    const byWorker = new Map<number, Connection>();
    for (let i = 0; i < 20 && byWorker.size < 2; i++) {
      const c = await mysql.createConnection({ host: '127.0.0.1', port: dbmesh.port, user: 'app', password: 'app_pw' });
      conns.push(c);
      byWorker.set(c.threadId! >>> 22, c);
    }
    expect(byWorker.size).to.equal(2);
    const [a, b] = [...byWorker.values()] as [Connection, Connection];
    const started = Date.now();
    const sleeping = a.query('SELECT SLEEP(20)').then(() => null, (err: { errno?: number }) => err);
    // Wait until A's query is running on its backend (visible in the processlist).
    for (;;) {
      const [rows] = await b.query("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(20)'");
      if ((rows as { n: number }[])[0]!.n > 0) break;
    }
    await b.query(`KILL QUERY ${a.threadId}`);
    const err = await sleeping;
    expect(Date.now() - started).to.be.lessThan(15000);
    // MariaDB returns the interrupted SLEEP as a result (1) or as ER_QUERY_INTERRUPTED.
    if (err !== null) expect(err.errno).to.equal(1317);
    const [rows] = await a.query('SELECT 7 AS v');
    expect((rows as { v: number }[])[0]!.v).to.equal(7);

    const closed = new Promise<void>((resolve) => a.once('error', () => resolve()));
    await b.query(`KILL CONNECTION ${a.threadId}`);
    await Promise.race([closed, a.query('SELECT 1').then(() => { throw new Error('A still works after KILL CONNECTION'); }, () => undefined)]);
    const [after] = await b.query('SELECT 8 AS v');
    expect((after as { v: number }[])[0]!.v).to.equal(8);
  });
});
