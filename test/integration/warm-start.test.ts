/**
 * Warm-up on start: the master remembers, in the releases directory, which backend
 * connections its workers held per login shape; started again, its workers open them before
 * they report ready, so the first clients find warm pools.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { sessionsOf, type SandboxInfo } from '../helpers/sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';

describe('warm-up on start', function () {
  this.timeout(60000);
  let sb: SandboxInfo;
  let releases: string;
  let dbmesh: DbmeshProcess | null = null;

  before(async function () {
    sb = await sharedSandbox();
    releases = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-releases-'));
  });

  after(async function () {
    await dbmesh?.stop();
    rmSync(releases, { recursive: true, force: true });
  });

  const start = (): Promise<DbmeshProcess> => startDbmesh(sb, { overrides: { releases: { dir: releases } } });

  it('opens, before the first client, the connections the previous run held', async function () {
    const file = path.join(releases, '.warm-shapes.json');
    dbmesh = await start();
    // Four sessions each in a transaction: the pool holds four connections of their shape.
    const clients = await Promise.all(Array.from({ length: 4 }, () => mysql.createConnection({ host: '127.0.0.1', port: dbmesh!.port, user: 'app', password: 'app_pw', database: 'dbmesh_test' })));
    await Promise.all(clients.map((c) => c.query('BEGIN')));
    await Promise.all(clients.map((c) => c.query('SELECT 1')));
    // The master writes what it learned from the workers' reports (about once a second).
    const deadline = Date.now() + 10000;
    while (!(existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { open: number }[]).some((s) => s.open >= 4))) {
      if (Date.now() > deadline) throw new Error('the master did not remember the pools within 10 s');
      await new Promise((r) => setTimeout(r, 200)); // polling a file: there is no event to await
    }
    await Promise.all(clients.map((c) => c.query('COMMIT').then(() => c.end())));
    await dbmesh.stop();
    dbmesh = null;
    const gone = Date.now() + 10000;
    while (await sessionsOf(sb.primary) > 0) {
      if (Date.now() > gone) throw new Error('the first run left backend connections behind');
      await new Promise((r) => setTimeout(r, 100)); // the server reaps closed sessions on its own time
    }

    dbmesh = await start(); // resolves when the master is ready, i.e. its workers warmed up
    expect(await sessionsOf(sb.primary), 'connections open before any client').to.be.at.least(4);
    const c = await mysql.createConnection({ host: '127.0.0.1', port: dbmesh.port, user: 'app', password: 'app_pw', database: 'dbmesh_test' });
    const [rows] = await c.query('SELECT 42 AS v');
    expect((rows as { v: number }[])[0]!.v).to.equal(42);
    await c.end();
  });
});
