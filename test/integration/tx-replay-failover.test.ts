/**
 * Transaction replay through a real failover (a private sandbox: its primary is killed). With
 * clusters[].transactionReplay on, 4 connections run small transactions (BEGIN, two INSERTs
 * with their own keys, COMMIT) while the primary is killed with SIGKILL and a replica promoted
 * 1 s later. A transaction interrupted before its COMMIT was sent is replayed on the new
 * primary and commits; only a COMMIT whose outcome is unknown may fail (2013). Every
 * acknowledged transaction is on the new primary, whole.
 */
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { promote, rootQuery, semiSync, startSandbox, stopSandbox, type SandboxInfo } from '../helpers/sandbox.js';

describe('transaction replay through a failover (private sandbox, primary killed)', function () {
  this.timeout(300_000);
  let sb: SandboxInfo;
  let dbm: DbmeshProcess;

  before(async () => {
    sb = await startSandbox({ replicas: 1 });
    dbm = await startDbmesh(sb, {
      overrides: {
        clusters: [{
          name: 'main', type: 'replication', transactionReplay: true,
          backends: [sb.primary, ...sb.replicas].map((s) => ({ id: s.id, host: s.host, port: s.port })),
        }],
        monitor: { user: 'monitor', password: 'monitor_pw', intervalMs: 500 },
      },
    });
    await rootQuery(sb.primary, 'CREATE TABLE sbtest.txr (id BIGINT PRIMARY KEY, k INT)');
    await semiSync(sb);
  });

  after(async () => {
    await dbm?.stop();
    if (sb) await stopSandbox(sb);
  });

  it('interrupted transactions are replayed on the new primary: none fails but a COMMIT in flight', async () => {
    const next = sb.replicas[0]!;
    let stop = false;
    const committed: number[] = [];
    const failures: string[] = [];
    const clients = await Promise.all(Array.from({ length: 4 }, () => mysql.createConnection({ host: '127.0.0.1', port: dbm.port, user: 'app', password: 'app_pw', database: 'sbtest' })));
    for (const c of clients) c.on('error', () => undefined);
    const load = clients.map(async (c, k) => {
      for (let i = 0; !stop; i++) {
        const id = (k + 1) * 1_000_000 + i * 2;
        let stage = 'begin';
        try {
          await c.query('BEGIN');
          stage = 'insert';
          await c.query('INSERT INTO txr VALUES (?, ?)', [id, k]);
          await c.query('INSERT INTO txr VALUES (?, ?)', [id + 1, k]);
          stage = 'commit';
          await c.query('COMMIT');
          committed.push(id);
        } catch (err) {
          failures.push(`${stage}: ${(err as { errno?: number }).errno ?? ''} ${(err as Error).message}`);
          return;
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(sb.primary.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    await promote(next);
    const resumed = committed.length;
    const deadline = Date.now() + 10_000;
    while (committed.length < resumed + 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await Promise.all(load);
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    const replayed = dbm.logs.filter((l) => l.message === 'transaction replayed').length;
    console.log(`      ${committed.length} transactions committed, ${replayed} replayed on the new primary, ${failures.length} failed: ${failures.join(' | ').slice(0, 300)}`);
    expect(committed.length, 'transactions resumed after the promotion').to.be.at.least(resumed + 20);
    expect(failures.filter((f) => !f.startsWith('commit')), 'only a COMMIT in flight may fail').to.deep.equal([]);
    expect(replayed, 'some transaction was interrupted and replayed').to.be.greaterThan(0);
    const rows = Number((await rootQuery(next, `SELECT COUNT(*) FROM sbtest.txr WHERE id IN (${committed.flatMap((id) => [id, id + 1]).join(',')})`)).trim());
    expect(rows, 'every acknowledged transaction, whole, on the new primary').to.equal(committed.length * 2);
  });
});
