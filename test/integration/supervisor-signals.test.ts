/**
 * Signals to the real master (`dbmesh start`): SIGHUP reloads, and with an invalid config
 * file changes nothing and says why; SIGTERM drains (idle sessions closed, an open
 * transaction may still COMMIT) and exits 0; SIGQUIT takes master and workers down at once.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { cli, connect, exitOf, isGone, nextLog, scalar, status, untilGone } from '../helpers/control.js';

type Line = Record<string, unknown>;

function killAll(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Resolves when the server side has closed the client's socket. */
function closedByServer(c: mysql.Connection): Promise<void> {
  c.on('error', () => {}); // the loss is expected here
  const stream = (c as unknown as { connection: { stream: net.Socket } }).connection.stream;
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

describe('supervisor: SIGHUP reload', function () {
  this.timeout(120000);
  let dbmesh: DbmeshProcess;
  let good: Record<string, unknown>;

  before(async function () {
    dbmesh = await startDbmesh(await sharedSandbox(), { overrides: { workers: 2 } });
    good = JSON.parse(readFileSync(dbmesh.configPath, 'utf8')) as Record<string, unknown>;
  });

  after(async function () {
    await dbmesh?.stop();
  });

  it('SIGHUP re-reads the config file and applies it (config version 2)', async function () {
    expect((await status(dbmesh)).configVersion).to.equal(1);
    writeFileSync(dbmesh.configPath, JSON.stringify({ ...good, limits: { maxClientConnections: 5000 } }, null, 2));
    const reloaded = nextLog(dbmesh, (l) => l.message === 'config reloaded');
    process.kill(dbmesh.pid, 'SIGHUP');
    expect((await reloaded).config_version).to.equal(2);
    const st = await status(dbmesh);
    expect(st.configVersion).to.equal(2);
    expect(st.workers.filter((w) => w.state === 'ready')).to.have.length(2);
  });

  it('SIGHUP with an invalid config file changes nothing, logs the problems, and clients keep working', async function () {
    const before = await status(dbmesh);
    const open = await connect(dbmesh);
    try {
      writeFileSync(dbmesh.configPath, JSON.stringify({ ...good, listen: { ...(good.listen as object), port: 'not-a-port' } }, null, 2));
      const refused = nextLog(dbmesh, (l) => typeof l.message === 'string' && l.message.startsWith('reload refused'));
      process.kill(dbmesh.pid, 'SIGHUP');
      const line = await refused;
      expect(line.problems).to.be.an('array').that.satisfies((ps: string[]) => ps.some((p) => p.includes('listen.port')));

      const after = await status(dbmesh);
      expect(after.configVersion).to.equal(before.configVersion);
      expect(after.workers.map((w) => w.pid).sort()).to.deep.equal(before.workers.map((w) => w.pid).sort());
      expect(dbmesh.logs.filter((l) => l.message === 'config reloaded')).to.have.length(1);

      // The CLI reads the same file: it names the problem by path and exits 2.
      const r = await cli(['reload', '--config', dbmesh.configPath]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.include('listen.port');
      expect((await status(dbmesh)).configVersion).to.equal(before.configVersion);

      // A connection opened before, and a new one, both work.
      expect(Number(await scalar(open, 'SELECT 1 + 1'))).to.equal(2);
      const fresh = await connect(dbmesh);
      expect(Number(await scalar(fresh, 'SELECT 40 + 2'))).to.equal(42);
      await fresh.end();
    } finally {
      await open.end();
      writeFileSync(dbmesh.configPath, JSON.stringify(good, null, 2));
    }
  });

  it('reloads again once the file is fixed', async function () {
    const reloaded = nextLog(dbmesh, (l) => l.message === 'config reloaded');
    process.kill(dbmesh.pid, 'SIGHUP');
    expect((await reloaded).config_version).to.equal(3);
    expect((await status(dbmesh)).configVersion).to.equal(3);
  });
});

describe('supervisor: SIGTERM and SIGQUIT', function () {
  this.timeout(120000);
  const DRAIN_TIMEOUT_MS = 20000;
  let dbmesh: DbmeshProcess | undefined;
  let workers: number[] = [];

  afterEach(async function () {
    await dbmesh?.stop();
    killAll(workers.filter((p) => !isGone(p))); // only if the master failed to take them down
    dbmesh = undefined;
    workers = [];
  });

  it('SIGTERM: closes idle sessions, lets an open transaction COMMIT, then the master exits 0 and no worker is left', async function () {
    const sb = await sharedSandbox();
    dbmesh = await startDbmesh(sb, { overrides: { workers: 2, supervisor: { drainTimeoutMs: DRAIN_TIMEOUT_MS } } });
    workers = (await status(dbmesh)).workers.map((w) => w.pid);
    expect(workers).to.have.length(2);
    const setup = await connect(dbmesh);
    await setup.query('DROP TABLE IF EXISTS sup_sigterm');
    await setup.query('CREATE TABLE sup_sigterm (id INT PRIMARY KEY) ENGINE=InnoDB');
    await setup.end();

    const idle = await connect(dbmesh);
    const busy = await connect(dbmesh);
    await busy.query('BEGIN');
    await busy.query('INSERT INTO sup_sigterm VALUES (1)');
    const idleClosed = closedByServer(idle);
    const busyClosed = closedByServer(busy);
    const masterExit = exitOf(dbmesh.child);

    const t0 = Date.now();
    process.kill(dbmesh.pid, 'SIGTERM');
    await idleClosed;
    expect(dbmesh.child.exitCode, 'the master waits for the open transaction').to.equal(null);
    await busy.query('INSERT INTO sup_sigterm VALUES (2)');
    await busy.query('COMMIT');
    await busyClosed; // closed at the first boundary outside the transaction
    const { code, signal } = await masterExit;
    expect({ code, signal }).to.deep.equal({ code: 0, signal: null });
    expect(Date.now() - t0, 'exited before the drain timeout').to.be.below(DRAIN_TIMEOUT_MS);
    expect(await untilGone(workers, 10000), 'worker pids still alive').to.deep.equal([]);

    const direct = await mysql.createConnection({ host: sb.primary.host, port: sb.primary.port, user: 'app', password: 'app_pw', database: 'dbmesh_test' });
    try {
      const [rows] = await direct.query('SELECT id FROM sup_sigterm ORDER BY id');
      expect(rows).to.deep.equal([{ id: 1 }, { id: 2 }]);
      await direct.query('DROP TABLE sup_sigterm');
    } finally {
      await direct.end();
    }
  });

  it('SIGHUP during a graceful stop starts no new worker', async function () {
    // The drain timeout is the window: the open transaction holds the stop that long.
    dbmesh = await startDbmesh(await sharedSandbox(), { overrides: { workers: 2, supervisor: { drainTimeoutMs: 3000 } } });
    const d = dbmesh;
    workers = (await status(d)).workers.map((w) => w.pid);
    const busy = await connect(d);
    await busy.query('BEGIN');
    const busyClosed = closedByServer(busy);
    const masterExit = exitOf(d.child);
    const stopping = nextLog(d, (l) => l.message === 'dbmesh stopping');
    process.kill(d.pid, 'SIGTERM');
    await stopping;
    const hup = nextLog(d, (l) => l.message === 'signal received' && l.signal === 'SIGHUP');
    process.kill(d.pid, 'SIGHUP');
    await hup;
    expect(await masterExit).to.deep.equal({ code: 0, signal: null });
    await busyClosed;
    const from = d.logs.findIndex((l) => l.message === 'dbmesh stopping');
    const started = d.logs.slice(from).filter((l) => l.message === 'worker starting');
    workers.push(...started.map((l) => Number(l.worker_pid)));
    expect(started.map((l) => l.worker_pid), 'workers started after "dbmesh stopping"').to.deep.equal([]);
    expect(await untilGone(workers, 10000), 'worker pids still alive').to.deep.equal([]);
  });

  it('SIGQUIT: master and workers exit at once, even with a transaction open', async function () {
    dbmesh = await startDbmesh(await sharedSandbox(), { overrides: { workers: 2, supervisor: { drainTimeoutMs: DRAIN_TIMEOUT_MS } } });
    workers = (await status(dbmesh)).workers.map((w) => w.pid);
    const busy = await connect(dbmesh);
    await busy.query('BEGIN');
    await busy.query('SELECT 1 FOR UPDATE');
    const busyClosed = closedByServer(busy);
    const masterExit = exitOf(dbmesh.child);
    const t0 = Date.now();
    process.kill(dbmesh.pid, 'SIGQUIT');
    const { code, signal } = await masterExit;
    expect({ code, signal }).to.deep.equal({ code: 0, signal: null });
    expect(Date.now() - t0, 'SIGQUIT does not wait for the drain').to.be.below(5000);
    expect(await untilGone(workers, 5000), 'worker pids still alive').to.deep.equal([]);
    await busyClosed;
    expect(Date.now() - t0).to.be.below(DRAIN_TIMEOUT_MS);
  });
});
