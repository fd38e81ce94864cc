/**
 * Memory watchdog: a worker pushed over the soft limit (through the debug allocation hook,
 * enabled only by DBMESH_DEBUG_HOOKS=1) is replaced gracefully under load with zero failed
 * statements; one over the hard limit is killed and replaced at once; limits that would kill
 * every worker as it starts are refused at reload, and the workers keep running.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import type { MasterStatus } from '../../src/master/control.js';
import { admin, cli, connect, scalar, status } from '../helpers/control.js';

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
    // Only the hard limit can trip here (equal limits turn the soft one off), so the outcome
    // does not depend on which sample sees the memory first.
    const sb = await sharedSandbox();
    const hard = await startDbmesh(sb, {
      overrides: { workers: 2, watchdog: { softLimit: '300MiB', hardLimit: '300MiB', intervalMs: 200 } },
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

describe('memory watchdog: limits that would kill every worker', function () {
  this.timeout(120000);
  let dbmesh: DbmeshProcess;
  let good: Record<string, unknown>;

  before(async function () {
    dbmesh = await startDbmesh(await sharedSandbox(), { overrides: { workers: 2, watchdog: { intervalMs: 200 } } });
    good = JSON.parse(readFileSync(dbmesh.configPath, 'utf8')) as Record<string, unknown>;
  });

  after(async function () {
    await dbmesh?.stop();
  });

  // Each was accepted before and, applied, killed every worker in a loop (or never let the
  // soft limit act). The last two are only wrong on a real machine (% of its memory).
  const BAD: [Record<string, string>, RegExp][] = [
    [{ hardLimit: '0MiB' }, /^watchdog\.hardLimit: "0MiB" must be more than 0/],
    [{ softLimit: '0%', hardLimit: '50%' }, /^watchdog\.softLimit: "0%" must be more than 0/],
    [{ softLimit: '64MiB', hardLimit: '2048MiB' }, /^watchdog\.softLimit: "64MiB" is below the minimum of 128MiB/],
    [{ softLimit: '2GiB', hardLimit: '1GiB' }, /^watchdog\.softLimit: "2GiB" is above watchdog\.hardLimit "1GiB"/],
    [{ hardLimit: '512MiB' }, /^watchdog\.hardLimit: "512MiB" is below the default watchdog\.softLimit "1024MiB"/],
    [{ softLimit: '0.01%', hardLimit: '0.02%' }, /^watchdog\.softLimit: "0\.01%" is .* MiB of the .* MiB available here, below the minimum/],
    [{ softLimit: '90%', hardLimit: '200MiB' }, /^watchdog\.softLimit: "90%" \(\d+ MiB here\) is above watchdog\.hardLimit "200MiB"/],
  ];

  it('refuses the reload (exit 2, the field named), and the workers keep their pids', async function () {
    const before = await status(dbmesh);
    try {
      for (const [limits, problem] of BAD) {
        writeFileSync(dbmesh.configPath, JSON.stringify({ ...good, watchdog: { intervalMs: 200, ...limits } }, null, 2));
        const r = await cli(['reload', '--config', dbmesh.configPath]);
        expect(r.code, `${JSON.stringify(limits)}: ${r.stderr}`).to.equal(2);
        expect(r.stderr.split('\n')[1]?.trim(), JSON.stringify(limits)).to.match(problem);
      }
    } finally {
      writeFileSync(dbmesh.configPath, JSON.stringify(good, null, 2));
    }
    // Several watchdog samples (every 200 ms) have passed during the reloads: none acted.
    const after = await status(dbmesh);
    expect(after.configVersion).to.equal(before.configVersion);
    expect(after.workers.map((w) => w.pid).sort()).to.deep.equal(before.workers.map((w) => w.pid).sort());
    expect(after.workers.filter((w) => w.state === 'ready')).to.have.length(2);
    expect(after.watchdog).to.include({ softReplacements: 0, hardKills: 0, softLimitBytes: before.watchdog.softLimitBytes, hardLimitBytes: before.watchdog.hardLimitBytes });
    expect(dbmesh.logs.filter((l) => l.message === 'worker exited' || l.message === 'worker crashed')).to.deep.equal([]);
    const c = await connect(dbmesh, null);
    expect(Number(await scalar(c, 'SELECT 40 + 2'))).to.equal(42);
    await c.end();
  });
});
