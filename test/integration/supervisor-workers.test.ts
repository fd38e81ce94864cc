/**
 * The master keeps its workers: a killed worker is replaced (restarts counted on its slot),
 * a worker that always dies is reported as a crash loop, connections spread evenly over the
 * workers (node:cluster round robin), and workers whose master died exit on their own.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { rootQuery } from '../helpers/sandbox.js';
import { REPO_ROOT, startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { connect, isGone, status, untilGone } from '../helpers/control.js';

describe('supervisor: worker crashes', function () {
  this.timeout(120000);
  let dbmesh: DbmeshProcess | undefined;
  let releases: string | undefined;

  afterEach(async function () {
    await dbmesh?.stop();
    dbmesh = undefined;
    if (releases) rmSync(releases, { recursive: true, force: true });
    releases = undefined;
  });

  it('a SIGKILLed worker is replaced in its slot, with restarts counted', async function () {
    dbmesh = await startDbmesh(await sharedSandbox(), { overrides: { workers: 2 } });
    const before = await status(dbmesh);
    const victim = before.workers[0]!.pid;
    const d = dbmesh;
    const crashed = d.waitForLog((l) => l.message === 'worker crashed' && l.worker_pid === victim);
    const replaced = d.waitForLog((l) => l.message === 'worker ready' && !before.workers.some((w) => w.pid === l.worker_pid));
    process.kill(victim, 'SIGKILL');
    const crash = await crashed;
    expect(crash.signal).to.equal('SIGKILL');
    const ready = await replaced;
    expect(ready.slot).to.equal(crash.slot);

    const after = await status(d);
    expect(after.workers.filter((w) => w.state === 'ready')).to.have.length(2);
    expect(after.workers.map((w) => w.pid)).to.not.include(victim);
    const successor = after.workers.find((w) => w.pid === ready.worker_pid);
    expect(successor, 'the new worker is listed').to.not.equal(undefined);
    expect(successor!.restarts).to.be.at.least(1);
    const c = await connect(d, null);
    const [rows] = await c.query('SELECT 42 AS v');
    expect(rows).to.deep.equal([{ v: 42 }]);
    await c.end();
  });

  it('a worker that always dies is reported as a crash loop', async function () {
    releases = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-sup-loop-'));
    const bad = path.join(releases, '7.3.0-bad');
    mkdirSync(bad);
    writeFileSync(path.join(bad, 'package.json'), JSON.stringify({ name: 'dbmesh', version: '7.3.0-bad', dbmesh: { workerEntry: 'broken-worker.js' } }));
    writeFileSync(path.join(bad, 'broken-worker.js'), 'process.exit(1);\n');
    symlinkSync('7.3.0-bad', path.join(releases, 'current'));
    dbmesh = await startDbmesh(await sharedSandbox(), { overrides: { workers: 1, releases: { dir: releases } } });
    const line = await dbmesh.waitForLog((l) => l.message === 'worker crash loop', 30000);
    expect(line.slot).to.equal(0);
    expect(line.crashes).to.be.at.least(5);
    const st = await status(dbmesh);
    expect(st.alerts.join('\n')).to.match(/crash loop in slot 0/);
    expect(st.workers.filter((w) => w.state === 'ready')).to.deep.equal([]);
  });

  it('a slot that recovers from a crash loop no longer reports it', async function () {
    // Fails its first 5 starts (a counter file), then runs the real worker of this tree.
    releases = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-sup-flaky-'));
    const flaky = path.join(releases, '7.3.0-flaky');
    mkdirSync(flaky);
    writeFileSync(path.join(flaky, 'package.json'), JSON.stringify({ name: 'dbmesh', version: '7.3.0-flaky', dbmesh: { workerEntry: 'flaky-worker.js' } }));
    const counter = path.join(releases, 'starts');
    const realWorker = pathToFileURL(path.join(REPO_ROOT, 'dist', 'src', 'worker', 'main.js')).href;
    writeFileSync(path.join(flaky, 'flaky-worker.js'), [
      "const fs = require('node:fs');",
      `let n = 0; try { n = Number(fs.readFileSync(${JSON.stringify(counter)}, 'utf8')); } catch {}`,
      `fs.writeFileSync(${JSON.stringify(counter)}, String(n + 1));`,
      'if (n < 5) process.exit(1);',
      `import(${JSON.stringify(realWorker)});`,
    ].join('\n'));
    symlinkSync('7.3.0-flaky', path.join(releases, 'current'));
    dbmesh = await startDbmesh(await sharedSandbox(), { overrides: { workers: 1, releases: { dir: releases } } });
    await dbmesh.waitForLog((l) => l.message === 'worker crash loop', 30000);
    const ready = await dbmesh.waitForLog((l) => l.message === 'worker ready', 30000);
    const st = await status(dbmesh);
    expect(st.workers.map((w) => [w.pid, w.state])).to.deep.equal([[ready.worker_pid, 'ready']]);
    expect(st.workers[0]!.restarts).to.equal(5);
    expect(st.alerts, 'slot 0 serves again: no crash loop (nor backoff) to report').to.deep.equal([]);
  });
});

describe('supervisor: balance over workers', function () {
  this.timeout(240000);
  const CLIENTS = 1000;
  let dbmesh: DbmeshProcess;
  let savedMax = '500';
  const conns: mysql.Connection[] = [];

  before(async function () {
    const sb = await sharedSandbox();
    savedMax = (await rootQuery(sb.primary, 'SELECT @@GLOBAL.max_connections')).trim();
    // One backend connection per client on the primary, plus monitor and slack.
    await rootQuery(sb.primary, 'SET GLOBAL max_connections = 2000');
    dbmesh = await startDbmesh(sb, { overrides: { workers: 2 } });
  });

  after(async function () {
    for (let i = 0; i < conns.length; i += 100) {
      await Promise.all(conns.slice(i, i + 100).map((c) => c.end().catch(() => c.destroy())));
    }
    await dbmesh?.stop();
    await rootQuery((await sharedSandbox()).primary, `SET GLOBAL max_connections = ${Number(savedMax) || 500}`);
  });

  it(`${CLIENTS} client connections spread over 2 workers within a 1.5 ratio`, async function () {
    for (let i = 0; i < CLIENTS; i += 100) {
      conns.push(...await Promise.all(Array.from({ length: Math.min(100, CLIENTS - i) }, () => connect(dbmesh, null))));
    }
    expect(conns).to.have.length(CLIENTS);
    // Workers post their counts every second: poll the status with a deadline.
    const end = Date.now() + 15000;
    let counts: number[] = [];
    for (;;) {
      counts = (await status(dbmesh)).workers.map((w) => w.connections);
      if (counts.reduce((a, b) => a + b, 0) === CLIENTS || Date.now() > end) break;
      await delay(200);
    }
    expect(counts).to.have.length(2);
    expect(counts.reduce((a, b) => a + b, 0), `counts ${counts.join('/')}`).to.equal(CLIENTS);
    expect(Math.max(...counts) / Math.min(...counts), `counts ${counts.join('/')}`).to.be.at.most(1.5);
    // Every connection really is served.
    const [rows] = await conns[CLIENTS - 1]!.query('SELECT 7 AS v');
    expect(rows).to.deep.equal([{ v: 7 }]);
  });
});

describe('supervisor: a worker whose master dies exits', function () {
  this.timeout(120000);
  let dbmesh: DbmeshProcess;
  let workers: number[] = [];

  before(async function () {
    dbmesh = await startDbmesh(await sharedSandbox(), { overrides: { workers: 2 } });
  });

  after(async function () {
    for (const p of workers.filter((x) => !isGone(x))) process.kill(p, 'SIGKILL'); // only if the test failed
    await dbmesh?.stop();
  });

  it('SIGKILL of the master: every worker exits within 10 s', async function () {
    workers = (await status(dbmesh)).workers.map((w) => w.pid);
    expect(workers).to.have.length(2);
    const masterExit = new Promise<NodeJS.Signals | null>((r) => dbmesh.child.once('exit', (_code, signal) => r(signal)));
    process.kill(dbmesh.pid, 'SIGKILL');
    expect(await masterExit).to.equal('SIGKILL');
    expect(await untilGone(workers, 10000), 'worker pids still alive').to.deep.equal([]);
  });
});
