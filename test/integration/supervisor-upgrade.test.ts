/**
 * Upgrades driven by the real master: SIGUSR2 upgrades to what `releases.dir/current`
 * points at, with an open transaction and a prepared statement surviving the move;
 * `dbmesh upgrade` refuses an absent release, rolls back automatically from a release whose
 * workers die at once (the old workers never stop serving), and `dbmesh rollback` returns to
 * the previous release (or says there is none).
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import type { MasterStatus } from '../../src/master/control.js';
import { buildReleases, cli, connect, nextLog, scalar, status } from '../helpers/control.js';

type Line = Record<string, unknown>;

/** A release directory dbmesh accepts, whose worker entry exits with code 1 at once. */
function writeBrokenRelease(dir: string, version: string): void {
  const target = path.join(dir, version);
  mkdirSync(target, { recursive: true });
  writeFileSync(path.join(target, 'package.json'), JSON.stringify({ name: 'dbmesh', version, dbmesh: { workerEntry: 'broken-worker.js' } }, null, 2));
  writeFileSync(path.join(target, 'broken-worker.js'), 'process.exit(1);\n');
}

/** Only `version` workers, all ready, as many as configured. */
function expectOnly(st: MasterStatus, version: string, workers: number): void {
  expect(st.version).to.equal(version);
  expect(st.workers.map((w) => `${w.version}/${w.state}`)).to.deep.equal(Array.from({ length: workers }, () => `${version}/ready`));
}

describe('supervisor: SIGUSR2 upgrades to releases/current', function () {
  this.timeout(180000);
  let dbmesh: DbmeshProcess;
  let releases: string;

  before(async function () {
    releases = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-sup-usr2-'));
    buildReleases(releases, ['7.1.0-a', '7.1.0-b']);
    dbmesh = await startDbmesh(await sharedSandbox(), {
      overrides: { workers: 2, releases: { dir: releases }, supervisor: { drainTimeoutMs: 15000, probationMs: 300 } },
    });
  });

  after(async function () {
    await dbmesh?.stop();
    if (releases) rmSync(releases, { recursive: true, force: true });
  });

  it('moves an open transaction and a prepared statement to the new workers', async function () {
    expectOnly(await status(dbmesh), '7.1.0-a', 2);
    const c = await connect(dbmesh);
    try {
      await c.query('DROP TABLE IF EXISTS sup_usr2');
      await c.query('CREATE TABLE sup_usr2 (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB');
      const insert = await c.prepare('INSERT INTO sup_usr2 (id, v) VALUES (?, ?)');
      await c.query('BEGIN');
      await insert.execute([1, 'before']);
      await c.query('SET @sup_marker = 7');

      execFileSync('ln', ['-sfn', '7.1.0-b', path.join(releases, 'current')]);
      const done = nextLog(dbmesh, (l) => typeof l.message === 'string' && l.message.startsWith('SIGUSR2 upgrade'), 90000);
      process.kill(dbmesh.pid, 'SIGUSR2');
      const line = await done;
      expect(line.message, JSON.stringify(line)).to.equal('SIGUSR2 upgrade done');
      expect(line).to.include({ from: '7.1.0-a', to: '7.1.0-b' });
      expect(line.sessions_moved).to.be.at.least(1);
      expectOnly(await status(dbmesh), '7.1.0-b', 2);

      // Same backend session: the transaction, the user variable, the statement id.
      expect(Number(await scalar(c, 'SELECT @@in_transaction'))).to.equal(1);
      expect(Number(await scalar(c, 'SELECT @sup_marker'))).to.equal(7);
      await insert.execute([2, 'after']);
      await c.query('COMMIT');
      await insert.close();
      const [rows] = await c.query('SELECT id, v FROM sup_usr2 ORDER BY id');
      expect(rows).to.deep.equal([{ id: 1, v: 'before' }, { id: 2, v: 'after' }]);
      await c.query('DROP TABLE sup_usr2');
    } finally {
      await c.end();
    }
    expect(readlinkSync(path.join(releases, 'current'))).to.equal('7.1.0-b');
  });
});

describe('supervisor: dbmesh upgrade refusal, automatic rollback, dbmesh rollback', function () {
  this.timeout(180000);
  let dbmesh: DbmeshProcess;
  let releases: string;

  before(async function () {
    releases = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-sup-upgrade-'));
    buildReleases(releases, ['7.2.0-a', '7.2.0-b']);
    writeBrokenRelease(releases, '7.2.0-bad');
    dbmesh = await startDbmesh(await sharedSandbox(), {
      overrides: { workers: 2, releases: { dir: releases }, supervisor: { drainTimeoutMs: 15000, probationMs: 500, readyTimeoutMs: 20000 } },
    });
  });

  after(async function () {
    await dbmesh?.stop();
    if (releases) rmSync(releases, { recursive: true, force: true });
  });

  it('dbmesh rollback with no upgrade since start: exit 1, nothing to roll back to', async function () {
    const before = await status(dbmesh);
    const r = await cli(['rollback', '--config', dbmesh.configPath]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.include('nothing to roll back to');
    expect((await status(dbmesh)).workers.map((w) => w.pid)).to.deep.equal(before.workers.map((w) => w.pid));
  });

  it('dbmesh upgrade --version 9.9.9 (absent): exit 1 with a clear message; nothing changes', async function () {
    const before = await status(dbmesh);
    const r = await cli(['upgrade', '--version', '9.9.9', '--config', dbmesh.configPath]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.include('upgrade failed').and.include('release 9.9.9 not found');
    const after = await status(dbmesh);
    expectOnly(after, '7.2.0-a', 2);
    expect(after.workers.map((w) => w.pid)).to.deep.equal(before.workers.map((w) => w.pid));
    expect(readlinkSync(path.join(releases, 'current'))).to.equal('7.2.0-a');
  });

  it('a release whose workers exit at once is rolled back; the old workers never stop serving', async function () {
    const before = await status(dbmesh);
    const open = await connect(dbmesh);
    try {
      await open.query('SET @sup_marker = 11');
      const r = await cli(['upgrade', '--version', '7.2.0-bad', '--config', dbmesh.configPath]);
      expect(r.code, `${r.stdout}\n${r.stderr}`).to.equal(1);
      expect(r.stdout).to.match(/rollback\s+rolling back/);
      expect(r.stderr).to.include('upgrade failed').and.include('did not become ready');

      const after = await status(dbmesh);
      expectOnly(after, '7.2.0-a', 2);
      expect(after.workers.map((w) => w.pid)).to.deep.equal(before.workers.map((w) => w.pid));
      expect(readlinkSync(path.join(releases, 'current'))).to.equal('7.2.0-a');

      expect(Number(await scalar(open, 'SELECT @sup_marker'))).to.equal(11);
      const fresh = await connect(dbmesh);
      expect(Number(await scalar(fresh, 'SELECT 40 + 2'))).to.equal(42);
      await fresh.end();
    } finally {
      await open.end();
    }
    // A failed upgrade is not one to roll back from.
    const rb = await cli(['rollback', '--config', dbmesh.configPath]);
    expect(rb.code, rb.stderr).to.equal(1);
    expect(rb.stderr).to.include('nothing to roll back to');
  });

  it('dbmesh rollback after an upgrade a -> b returns to a', async function () {
    const up = await cli(['upgrade', '--version', '7.2.0-b', '--config', dbmesh.configPath]);
    expect(up.code, `${up.stdout}\n${up.stderr}`).to.equal(0);
    expect(up.stdout).to.include('upgraded 7.2.0-a -> 7.2.0-b');
    expectOnly(await status(dbmesh), '7.2.0-b', 2);
    expect(readlinkSync(path.join(releases, 'current'))).to.equal('7.2.0-b');

    const open = await connect(dbmesh);
    try {
      await open.query('SET @sup_marker = 13');
      const rb = await cli(['rollback', '--config', dbmesh.configPath]);
      expect(rb.code, `${rb.stdout}\n${rb.stderr}`).to.equal(0);
      expect(rb.stdout).to.include('rolled back 7.2.0-b -> 7.2.0-a');
      expectOnly(await status(dbmesh), '7.2.0-a', 2);
      expect(readlinkSync(path.join(releases, 'current'))).to.equal('7.2.0-a');
      expect(Number(await scalar(open, 'SELECT @sup_marker'))).to.equal(13);
    } finally {
      await open.end();
    }
  });
});
