/**
 * Memory watchdog: a worker pushed over the soft limit (through the debug allocation hook,
 * enabled only by DBMESH_DEBUG_HOOKS=1) is replaced gracefully under load with zero failed
 * statements; one over the hard limit is killed and replaced at once.
 */
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import type { MasterStatus } from '../../src/master/control.js';
import { admin } from '../helpers/control.js';

describe('memory watchdog', function () {
  this.timeout(120000);
  let dbmesh: DbmeshProcess;

  before(async function () {
    const sb = await sharedSandbox();
    dbmesh = await startDbmesh(sb, {
      overrides: { workers: 2, watchdog: { softLimit: '220MiB', hardLimit: '700MiB', intervalMs: 200 }, supervisor: { drainTimeoutMs: 10000, probationMs: 200 } },
      env: { DBMESH_DEBUG_HOOKS: '1' },
    });
  });

  after(async function () {
    await dbmesh?.stop();
  });

  it('replaces a worker over the soft limit gracefully, with zero failed statements', async function () {
    const pool = mysql.createPool({ host: '127.0.0.1', port: dbmesh.port, user: 'app', password: 'app_pw', connectionLimit: 8 });
    let ok = 0;
    const errors: string[] = [];
    let stop = false;
    const load = Array.from({ length: 8 }, async () => {
      const c = await pool.getConnection();
      while (!stop) {
        try {
          await c.query('SELECT 1 + 1 AS two');
          await c.execute('SELECT ? AS v', [ok]);
          ok++;
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
      c.release();
    });
    const before = (await admin(dbmesh, 'GET', '/api/status')).json as MasterStatus;
    const victim = before.workers[0]!.pid;
    const exited = dbmesh.waitForLog((l) => l.message === 'worker exited' && l.worker_pid === victim, 60000);
    const r = await admin(dbmesh, 'POST', '/api/debug/alloc', { pid: victim, mib: 300 });
    expect(r.status).to.equal(200);
    const line = await exited;
    expect(line.reason).to.equal('memory soft limit');
    stop = true;
    await Promise.all(load);
    await pool.end();
    const after = (await admin(dbmesh, 'GET', '/api/status')).json as MasterStatus;
    expect(errors).to.deep.equal([]);
    expect(ok).to.be.greaterThan(100);
    expect(after.watchdog.softReplacements).to.equal(1);
    expect(after.workers.map((w) => w.pid)).to.not.include(victim);
    expect(after.workers.filter((w) => w.state === 'ready')).to.have.length(2);
  });

  it('kills and replaces a worker over the hard limit at once', async function () {
    // Only the hard limit can trip here (the soft one is out of reach), so the outcome does
    // not depend on which sample sees the memory first.
    const sb = await sharedSandbox();
    const hard = await startDbmesh(sb, {
      overrides: { workers: 2, watchdog: { softLimit: '8192MiB', hardLimit: '300MiB', intervalMs: 200 } },
      env: { DBMESH_DEBUG_HOOKS: '1' },
    });
    try {
      const before = (await admin(hard, 'GET', '/api/status')).json as MasterStatus;
      const victim = before.workers[0]!.pid;
      const exited = hard.waitForLog((l) => l.message === 'worker exited' && l.worker_pid === victim, 60000);
      const replaced = hard.waitForLog((l) => l.message === 'worker ready' && !before.workers.some((w) => w.pid === l.worker_pid), 60000);
      const r = await admin(hard, 'POST', '/api/debug/alloc', { pid: victim, mib: 800 });
      expect(r.status).to.equal(200);
      const line = await exited;
      expect(line.reason).to.equal('memory hard limit');
      expect(line.signal).to.equal('SIGKILL');
      await replaced;
      const after = (await admin(hard, 'GET', '/api/status')).json as MasterStatus;
      expect(after.watchdog.hardKills).to.equal(1);
      expect(after.watchdog.softReplacements).to.equal(0);
      expect(after.workers.filter((w) => w.state === 'ready')).to.have.length(2);
      // The replacement serves.
      const c = await mysql.createConnection({ host: '127.0.0.1', port: hard.port, user: 'app', password: 'app_pw' });
      const [rows] = await c.query('SELECT 42 AS v');
      expect((rows as { v: number }[])[0]!.v).to.equal(42);
      await c.end();
    } finally {
      await hard.stop();
    }
  });

  it('refuses the debug hook when it is not enabled', async function () {
    const sb = await sharedSandbox();
    const plain = await startDbmesh(sb);
    try {
      const st = (await admin(plain, 'GET', '/api/status')).json as MasterStatus;
      const r = await admin(plain, 'POST', '/api/debug/alloc', { pid: st.workers[0]!.pid, mib: 10 });
      expect(r.status).to.equal(404);
    } finally {
      await plain.stop();
    }
  });
});
