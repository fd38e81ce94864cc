/**
 * Transaction replay (clusters[].transactionReplay): when the backend connection of an open
 * transaction dies, dbmesh re-runs the transaction on a new connection to the primary and goes
 * on only if every result is identical. The connection is killed on the server (KILL
 * CONNECTION as root), which rolls the transaction back, as a crash of its server would.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { rootQuery, type SandboxInfo } from '../helpers/sandbox.js';

describe('transaction replay', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let on: DbmeshProcess;
  let off: DbmeshProcess;
  const connect = (d: DbmeshProcess): Promise<mysql.Connection> => mysql.createConnection({ host: '127.0.0.1', port: d.port, user: 'app', password: 'app_pw', database: 'dbmesh_test' });
  // Every backend connection of the app user dies (the transaction's among them), as in a crash.
  // Asked of the server, not in the transaction: a thread id read there would differ on replay.
  const killAppConnections = async (): Promise<void> => {
    const ids = (await rootQuery(sb.primary, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app'")).trim().split('\n').filter((x) => x !== '');
    await rootQuery(sb.primary, ids.map((id) => `KILL CONNECTION ${id};`).join(' '));
  };
  const count = async (c: mysql.Connection, sql: string): Promise<number> => Number(((await c.query(sql))[0] as { n: number }[])[0]!.n);

  before(async () => {
    sb = await sharedSandbox();
    const cluster = (replay: boolean): Record<string, unknown> => ({
      name: 'main', type: 'replication', transactionReplay: replay,
      backends: [sb.primary, ...sb.replicas].map((s) => ({ id: s.id, host: s.host, port: s.port })),
    });
    on = await startDbmesh(sb, { overrides: { clusters: [cluster(true)] } });
    off = await startDbmesh(sb, { overrides: { clusters: [cluster(false)] } });
    await rootQuery(sb.primary, 'CREATE TABLE IF NOT EXISTS dbmesh_test.replay_r (id INT PRIMARY KEY, v INT); DELETE FROM dbmesh_test.replay_r');
  });

  after(async () => {
    await on?.stop();
    await off?.stop();
  });

  it('a transaction whose connection was killed between statements goes on, and commits everything', async () => {
    const c = await connect(on);
    await c.query('BEGIN');
    await c.query('INSERT INTO replay_r VALUES (1, 10)');
    expect(await count(c, 'SELECT COUNT(*) AS n FROM replay_r WHERE id = 1')).to.equal(1);
    const lost = on.waitForLog((l) => l.message === 'transaction replayed', 10_000);
    await killAppConnections();
    await c.query('INSERT INTO replay_r VALUES (2, 20)');
    await c.query('COMMIT');
    const line = await lost;
    expect(line.statements).to.equal(3);
    await c.end();
    expect((await rootQuery(sb.primary, 'SELECT id, v FROM dbmesh_test.replay_r ORDER BY id')).trim().split('\n')).to.deep.equal(['1\t10', '2\t20']);
  });

  it('idle pooled connections killed with the transaction\'s are not taken for its replay: it goes on', async () => {
    // Eight sessions write at once and leave eight idle connections to the primary in the pool.
    const others = await Promise.all(Array.from({ length: 8 }, () => connect(on)));
    await Promise.all(others.map((o, i) => o.query('SELECT SLEEP(0.2) + ? AS n FROM replay_r FOR UPDATE', [i])));
    await Promise.all(others.map((o) => o.end()));
    const c = await connect(on);
    await c.query('BEGIN');
    await c.query('INSERT INTO replay_r VALUES (11, 110)');
    const before = on.logs.filter((l) => l.message === 'transaction replayed').length;
    await killAppConnections();
    await c.query('INSERT INTO replay_r VALUES (12, 120)');
    await c.query('COMMIT');
    await c.end();
    expect(on.logs.filter((l) => l.message === 'transaction replayed').length).to.equal(before + 1);
    expect(on.logs.some((l) => l.message === 'transaction replay failed; the session ends')).to.equal(false);
    expect((await rootQuery(sb.primary, 'SELECT id, v FROM dbmesh_test.replay_r WHERE id IN (11, 12) ORDER BY id')).trim().split('\n')).to.deep.equal(['11\t110', '12\t120']);
  });

  it('a transaction that read what another session changed since is not replayed: the session ends', async () => {
    await rootQuery(sb.primary, 'INSERT INTO dbmesh_test.replay_r VALUES (3, 30)');
    const c = await connect(on);
    c.on('error', () => undefined);
    await c.query('BEGIN');
    expect(await count(c, 'SELECT v AS n FROM replay_r WHERE id = 3')).to.equal(30);
    await c.query('INSERT INTO replay_r VALUES (6, 60)');
    await rootQuery(sb.primary, 'UPDATE dbmesh_test.replay_r SET v = 31 WHERE id = 3');
    const failed = on.waitForLog((l) => l.message === 'transaction replay failed; the session ends', 10_000);
    await killAppConnections();
    // Between statements: the replay runs at once, fails, and the session ends as with a server crash.
    expect(String((await failed).error)).to.match(/statement 2 of the transaction returned a different result/);
    const err = await c.query('UPDATE replay_r SET v = v + 1 WHERE id = 3').then(() => null, (e: Error & { code?: string }) => e);
    expect(err, 'the session does not go on').to.not.equal(null);
    expect((await rootQuery(sb.primary, 'SELECT v FROM dbmesh_test.replay_r WHERE id = 3')).trim()).to.equal('31');
    await c.end().catch(() => undefined);
  });

  it('a transaction begun before replay was switched on (reload) is not replayed: part of it was never journalled', async () => {
    const c = await connect(off);
    c.on('error', () => undefined);
    await c.query('BEGIN');
    await c.query('INSERT INTO replay_r VALUES (7, 70)');
    const file = JSON.parse(readFileSync(off.configPath, 'utf8')) as { clusters: { transactionReplay: boolean }[] };
    file.clusters[0]!.transactionReplay = true;
    writeFileSync(off.configPath, JSON.stringify(file, null, 2));
    try {
      const res = await fetch(`http://127.0.0.1:${off.adminPort}/api/reload`, { method: 'POST', headers: { authorization: 'Bearer test-token' } });
      expect(res.status).to.equal(200);
      await c.query('INSERT INTO replay_r VALUES (8, 80)');
      await killAppConnections();
      const err = await c.query('INSERT INTO replay_r VALUES (9, 90)').then(() => null, (e: Error) => e);
      expect(err, 'the session does not go on with half a transaction').to.not.equal(null);
      expect(off.logs.some((l) => l.message === 'transaction replayed')).to.equal(false);
      expect(Number((await rootQuery(sb.primary, 'SELECT COUNT(*) FROM dbmesh_test.replay_r WHERE id IN (7, 8, 9)')).trim())).to.equal(0);
    } finally {
      file.clusters[0]!.transactionReplay = false;
      writeFileSync(off.configPath, JSON.stringify(file, null, 2));
      await fetch(`http://127.0.0.1:${off.adminPort}/api/reload`, { method: 'POST', headers: { authorization: 'Bearer test-token' } });
      await c.end().catch(() => undefined);
    }
  });

  it('off (the default): the killed transaction ends with the session, nothing of it is committed', async () => {
    const c = await connect(off);
    c.on('error', () => undefined);
    await c.query('BEGIN');
    await c.query('INSERT INTO replay_r VALUES (4, 40)');
    await killAppConnections();
    const err = await c.query('INSERT INTO replay_r VALUES (5, 50)').then(() => null, (e: Error) => e);
    expect(err, 'the session does not silently continue elsewhere').to.not.equal(null);
    expect(Number((await rootQuery(sb.primary, 'SELECT COUNT(*) FROM dbmesh_test.replay_r WHERE id IN (4, 5)')).trim())).to.equal(0);
    expect(Number((await rootQuery(sb.primary, 'SELECT COUNT(*) FROM dbmesh_test.replay_r WHERE id = 6')).trim()), 'the failed replay committed nothing').to.equal(0);
    await c.end().catch(() => undefined);
  });
});
