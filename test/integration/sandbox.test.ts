// The sandbox every other integration test builds on: roles, replication, grants,
// limits, and a stop that leaves nothing behind.
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { rootQuery, startSandbox, stopSandbox, type SandboxInfo } from '../helpers/sandbox.js';

function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

describe('scripts/sandbox', function () {
  this.timeout(120_000);
  let sb: SandboxInfo | undefined;

  before(async () => {
    sb = await startSandbox({ replicas: 2 });
  });

  after(async () => {
    // Only reached with a live sandbox when a test failed before the stop test ran.
    if (sb) await stopSandbox(sb);
  });

  function info(): SandboxInfo {
    if (!sb) throw new Error('sandbox not started');
    return sb;
  }

  it('starts one writable primary and two read-only replicas', async () => {
    const { primary, replicas } = info();
    expect(replicas).to.have.length(2);
    expect((await rootQuery(primary, 'SELECT @@read_only')).trim()).to.equal('0');
    for (const r of replicas) {
      expect((await rootQuery(r, 'SELECT @@read_only')).trim()).to.equal('1');
    }
  });

  it('sets max_connections=500 on every server', async () => {
    const { primary, replicas } = info();
    for (const s of [primary, ...replicas]) {
      expect((await rootQuery(s, 'SELECT @@max_connections')).trim()).to.equal('500');
    }
  });

  it('replicates a row written on the primary to every replica', async () => {
    const { primary, replicas } = info();
    const pos = (await rootQuery(primary,
      'CREATE TABLE dbmesh_test.sandbox_probe (id INT PRIMARY KEY, v VARCHAR(20));' +
      "INSERT INTO dbmesh_test.sandbox_probe VALUES (1, 'hello');" +
      'SELECT @@gtid_binlog_pos')).trim();
    expect(pos).to.match(/^\d+-\d+-\d+/);
    for (const r of replicas) {
      const waited = await rootQuery(r, `SELECT MASTER_GTID_WAIT('${pos}', 10)`);
      expect(waited.trim(), `${r.id} caught up`).to.equal('0');
      const row = await rootQuery(r, 'SELECT id, v FROM dbmesh_test.sandbox_probe');
      expect(row.trim()).to.equal('1\thello');
    }
  });

  it('rejects a write by the app user on a replica with 1290 (read-only)', async () => {
    const { replicas, users } = info();
    const app = users.app;
    expect(app).to.not.equal(undefined);
    const conn = await mysql.createConnection({
      host: replicas[0].host, port: replicas[0].port,
      user: app.name, password: app.password, database: 'dbmesh_test',
    });
    try {
      let errno: number | undefined;
      try {
        await conn.query("INSERT INTO sandbox_probe VALUES (2, 'wrong route')");
      } catch (err) {
        errno = (err as { errno?: number }).errno;
      }
      expect(errno).to.equal(1290);
    } finally {
      await conn.end();
    }
  });

  it('stops every server by pid and removes the directory', async () => {
    const s = info();
    const pids = [s.primary, ...s.replicas].map((x) => x.pid);
    for (const pid of pids) expect(pidGone(pid), `pid ${pid} running before stop`).to.equal(false);
    await stopSandbox(s);
    sb = undefined;
    for (const pid of pids) expect(pidGone(pid), `pid ${pid} gone after stop`).to.equal(true);
    expect(existsSync(s.dir)).to.equal(false);
    // Stopping again is a no-op.
    await stopSandbox(s);
  });
});
