/**
 * Slow-SQL statistics, SQL capture and metrics through the real master and two workers:
 * what /api/digests, /metrics, the slow log and the capture file say must equal exactly what
 * the test's clients sent (across many connections, so both workers served them). Also:
 * passwords never reach a log, the capture follows a reload, a capture nobody reads never
 * slows or grows dbmesh, 100,000 distinct statements do not grow memory past the bound, an
 * upgrade loses no counts, and the files are reopened on SIGUSR1 and rotated by size.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { admin, buildReleases, cli, status } from '../helpers/control.js';
import type { SandboxInfo } from '../helpers/sandbox.js';
import type { DigestRow } from '../../src/insight/digest-store.js';

type Line = Record<string, unknown>;
const DB = 'dbmesh_test';

async function digests(mesh: DbmeshProcess, query = 'limit=10000'): Promise<DigestRow[]> {
  const r = await admin(mesh, 'GET', `/api/digests?${query}`);
  expect(r.status).to.equal(200);
  return (r.json as { digests: DigestRow[] }).digests;
}

/** Poll until `pred` holds (workers ship about every second); returns the last value. */
async function until<T>(what: string, get: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 15000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (pred(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function metricsText(mesh: DbmeshProcess): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${mesh.adminPort}/metrics`, { headers: { authorization: 'Bearer test-token' } });
  expect(res.status).to.equal(200);
  return res.text();
}

/** Sum of a metric's samples whose labels include every `labels` pair. */
function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** The file's complete lines (a batch being appended right now may show in part: its tail is left out). */
function readLines(file: string): Line[] {
  if (!existsSync(file)) return [];
  const parts = readFileSync(file, 'utf8').split('\n');
  parts.pop(); // '' after the last newline, or a line not complete yet
  return parts.map((l) => JSON.parse(l) as Line);
}

const norm = (t: unknown): string => String(t).replace(/\s+/g, ' ').trim().toLowerCase();

/** Connections through dbmesh until both workers hold some (connection ids carry the worker in their high bits). */
async function connectionsOnBothWorkers(mesh: DbmeshProcess, n: number, user = 'app2'): Promise<Connection[]> {
  const out: Connection[] = [];
  const workers = new Set<number>();
  while (out.length < n || workers.size < 2) {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: mesh.port, user, password: `${user}_pw`, database: DB });
    c.on('error', () => {});
    out.push(c);
    workers.add(c.threadId! >>> 22);
    if (out.length > 4 * n + 40) throw new Error('connections never reached both workers');
  }
  return out;
}

describe('insight: digests, slow log, capture and metrics (2 workers)', function () {
  this.timeout(240_000);
  let sb: SandboxInfo;
  let mesh: DbmeshProcess;
  let dir: string;
  let slowFile: string;
  let captureFile: string;
  let config: Record<string, unknown>;
  const conns: Connection[] = [];

  before(async () => {
    sb = await sharedSandbox();
    dir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-insight-'));
    slowFile = path.join(dir, 'slow.log');
    captureFile = path.join(dir, 'capture.log');
    mesh = await startDbmesh(sb, {
      overrides: {
        workers: 2,
        observability: { slowLog: { file: slowFile, thresholdMs: 100 }, capture: { file: captureFile, statements: 'all' } },
      },
    });
    config = JSON.parse(readFileSync(mesh.configPath, 'utf8')) as Record<string, unknown>;
    const setup = await mysql.createConnection({ host: '127.0.0.1', port: mesh.port, user: 'app', password: 'app_pw', database: DB });
    await setup.query('CREATE TABLE IF NOT EXISTS insight_t (id INT PRIMARY KEY, v INT)');
    await setup.query('TRUNCATE TABLE insight_t');
    await setup.query('INSERT INTO insight_t VALUES ' + Array.from({ length: 200 }, (_, i) => `(${i}, 0)`).join(','));
    await setup.end();
  });

  afterEach(() => {
    for (const c of conns.splice(0)) c.destroy();
  });

  after(async () => {
    await mesh?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('counts every statement of many connections exactly, merged over both workers: digests, /metrics, slow log and capture agree with what was sent', async () => {
    const before = await metricsText(mesh);
    conns.push(...await connectionsOnBothWorkers(mesh, 16));
    const jobs: [string, string][] = [];
    for (let i = 0; i < 800; i++) jobs.push(['select', `SELECT id, v FROM insight_t WHERE id = ${i % 200}`]);
    for (let i = 0; i < 200; i++) jobs.push(['update', `UPDATE insight_t SET v = v + 1 WHERE id = ${i}`]);
    for (let i = 0; i < 12; i++) jobs.push(['sleep', 'SELECT SLEEP(0.15)']);
    for (let i = 0; i < 7; i++) jobs.push(['error', `SELECT * FROM insight_missing_${i % 2 === 0 ? 'a' : 'a'} WHERE x = ${i}`]);
    for (let i = 0; i < 60; i++) jobs.push(['prepared', String(i)]);
    const sleepMs: number[] = [];
    await Promise.all(conns.map(async (c, k) => {
      for (let j = k; j < jobs.length; j += conns.length) {
        const [kind, sql] = jobs[j]!;
        const t0 = performance.now();
        if (kind === 'prepared') await c.execute('SELECT v FROM insight_t WHERE id = ?', [Number(sql)]);
        else await c.query(sql).catch((e: { errno?: number }) => { if (kind !== 'error' || e.errno !== 1146) throw e; });
        if (kind === 'sleep') sleepMs.push(performance.now() - t0);
      }
    }));
    const total = jobs.length;

    const rows = await until('the workload in /api/digests', () => digests(mesh, 'limit=10000&user=app2'),
      (ds) => ds.reduce((n, d) => n + d.count, 0) >= total);
    const find = (text: string): DigestRow[] => rows.filter((d) => norm(d.text) === text);
    const sum = (ds: DigestRow[], f: keyof DigestRow): number => ds.reduce((n, d) => n + Number(d[f]), 0);
    expect(rows.reduce((n, d) => n + d.count, 0), 'every statement counted once').to.equal(total);
    const sel = find('select id, v from insight_t where id = ?');
    expect(sel, 'one row per (user, schema, digest), merged over the workers').to.have.length(1);
    expect(sel[0]).to.include({ count: 800, errors: 0, rowsSent: 800, rowsAffected: 0, user: 'app2', schema: DB });
    expect(sel[0]!.backends).to.deep.equal([sb.primary.id]);
    expect(sel[0]!.sample).to.match(/^SELECT id, v FROM insight_t WHERE id = \d+$/);
    expect(sel[0]!.digest).to.match(/^[0-9a-f]{16}$/);
    expect(find('update insight_t set v = v + ? where id = ?')[0]).to.include({ count: 200, rowsAffected: 200, errors: 0 });
    const err = rows.filter((d) => norm(d.text).includes('insight_missing_a'));
    expect(sum(err, 'count')).to.equal(7);
    expect(sum(err, 'errors')).to.equal(7);
    // A prepared statement counts per execute under the fingerprint of its text.
    expect(find('select v from insight_t where id = ?')[0]).to.include({ count: 60, rowsSent: 60 });

    // p99 of a known-latency statement within 10% of the client's own measurement.
    const slp = find('select sleep(?)')[0]!;
    sleepMs.sort((a, b) => a - b);
    const clientP99 = sleepMs[Math.ceil(0.99 * sleepMs.length) - 1]!;
    expect(slp.count).to.equal(12);
    expect(Math.abs(slp.p99Ms - clientP99) / clientP99, `p99 ${slp.p99Ms} ms vs client ${clientP99} ms`).to.be.at.most(0.1);
    expect(slp.p50Ms).to.be.within(150, 170);

    const after = await until('the counters in /metrics', () => metricsText(mesh),
      (t) => metricSum(t, 'dbmesh_statements_total', { user: 'app2' }) - metricSum(before, 'dbmesh_statements_total', { user: 'app2' }) >= total);
    const delta = (name: string, labels: Record<string, string> = {}): number => metricSum(after, name, labels) - metricSum(before, name, labels);
    expect(delta('dbmesh_statements_total', { user: 'app2' })).to.equal(total);
    expect(delta('dbmesh_statements_total', { user: 'app2', kind: 'write', route: 'primary' })).to.equal(200);
    expect(delta('dbmesh_statement_errors_total', { errno: '1146' })).to.equal(7);
    expect(delta('dbmesh_statement_duration_seconds_count')).to.be.at.least(total);
    expect(delta('dbmesh_statement_duration_seconds_bucket', { kind: 'read', le: '0.1' }) + 12, 'the sleeps are above 100 ms')
      .to.be.at.most(delta('dbmesh_statement_duration_seconds_bucket', { kind: 'read', le: '0.2' }));

    // The slow log holds exactly the slow statements (on a loaded machine a point select may
    // be slow too: the capture, which records the same durations, says which were), with every field.
    const slow = (await until('the slow log', async () => readLines(slowFile), (l) => l.filter((x) => x.text === 'SELECT SLEEP(0.15)').length >= 12))
      .filter((l) => l.user === 'app2');
    const sleeps = slow.filter((l) => l.text === 'SELECT SLEEP(0.15)');
    expect(sleeps).to.have.length(12);
    for (const l of sleeps) {
      expect(l).to.include({ user: 'app2', schema: DB, backend: sb.primary.id, rowsSent: 1, rowsAffected: 0, errno: 0 });
      expect(l.durationMs as number).to.be.at.least(150);
      expect(l.digest).to.equal(slp.digest);
      expect(Date.parse(l.ts as string)).to.be.greaterThan(0);
      expect(l.client).to.match(/^127\.0\.0\.1:\d+$/);
    }
    expect(slow.every((l) => (l.durationMs as number) >= 100)).to.equal(true);

    // The capture holds every statement of the workload.
    const cap = await until('the capture', async () => readLines(captureFile).filter((l) => l.user === 'app2'), (l) => l.length >= total);
    expect(cap).to.have.length(total);
    const selects = cap.filter((l) => /^SELECT id, v FROM insight_t WHERE id = \d+$/.test(String(l.text)));
    expect(selects).to.have.length(800);
    expect(selects.every((l) => l.route === 'primary' && l.inTransaction === false && l.rowsSent === 1 && l.digest === sel[0]!.digest)).to.equal(true);
    expect(cap.filter((l) => l.errno === 1146)).to.have.length(7);
    expect(new Set(cap.map((l) => l.session)).size).to.equal(conns.length);
    // (Durations are written rounded to the µs: one within a µs of the threshold may go either way.)
    const clear = (l: Line): boolean => Math.abs((l.durationMs as number) - 100) > 0.001;
    const slowInCapture = cap.filter((l) => clear(l) && (l.durationMs as number) > 100).map((l) => `${l.ts} ${l.text}`).sort();
    expect(slowInCapture).to.deep.equal(slow.filter(clear).map((l) => `${l.ts} ${l.text}`).sort());
  });

  it('never writes a password to the capture, the slow log or a digest sample', async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: mesh.port, user: 'app2', password: 'app2_pw', database: DB });
    conns.push(c);
    const secrets = ['Sekrit-One-7', "Sekrit''Two", 'Sekrit-Three'];
    await c.query(`SELECT SLEEP(0.12), PASSWORD('${secrets[0]}')`);
    await c.query(`ALTER USER IF EXISTS 'insight_nobody'@'%' IDENTIFIED BY '${secrets[1]}'`).catch(() => undefined);
    await c.query(`SET PASSWORD FOR 'insight_nobody'@'%' = PASSWORD('${secrets[2]}')`).catch(() => undefined);
    await until('the statements in the capture', async () => readLines(captureFile).filter((l) => /insight_nobody/.test(String(l.text))), (l) => l.length >= 2);
    const rows = await until('the digests', () => digests(mesh), (ds) => ds.some((d) => /password/i.test(d.text)));
    for (const text of [readFileSync(captureFile, 'utf8'), readFileSync(slowFile, 'utf8'), JSON.stringify(rows)]) {
      for (const s of ['Sekrit-One-7', 'Sekrit', 'Two', 'Sekrit-Three']) expect(text).to.not.contain(s);
    }
  });

  it('follows the capture settings live on reload', async () => {
    const write = (capture: Record<string, unknown>): void => {
      const obs = config.observability as Record<string, unknown>;
      writeFileSync(mesh.configPath, JSON.stringify({ ...config, observability: { ...obs, capture: { file: captureFile, ...capture } } }, null, 2));
    };
    const c = await mysql.createConnection({ host: '127.0.0.1', port: mesh.port, user: 'app', password: 'app_pw', database: DB });
    conns.push(c);
    const marked = (tag: string): Line[] => readLines(captureFile).filter((l) => String(l.text).includes(tag));
    try {
      write({ statements: 'writes' });
      expect((await admin(mesh, 'POST', '/api/reload')).status).to.equal(200);
      await c.query('SELECT 1 AS reload_writes_r');
      await c.query('UPDATE insight_t SET v = v WHERE id = -1 /* reload_writes_w */');
      await until('the write in the capture', async () => marked('reload_writes_w'), (l) => l.length === 1);
      expect(marked('reload_writes_r')).to.have.length(0);

      write({ statements: 'all', users: ['app2'] });
      expect((await admin(mesh, 'POST', '/api/reload')).status).to.equal(200);
      const other = await mysql.createConnection({ host: '127.0.0.1', port: mesh.port, user: 'app2', password: 'app2_pw', database: DB });
      conns.push(other);
      await c.query('SELECT 1 AS reload_for_app_one');
      await other.query('SELECT 1 AS reload_users_app2');
      await until('app2 in the capture', async () => marked('reload_users_app2'), (l) => l.length === 1);
      expect(marked('reload_for_app_one')).to.have.length(0);

      write({ statements: 'off' });
      expect((await admin(mesh, 'POST', '/api/reload')).status).to.equal(200);
      await other.query('SELECT 1 AS reload_off');
      await other.query('SELECT SLEEP(0.11) AS reload_off_marker');
      // The slow log is still on: once its line is written the capture line would have been too.
      await until('the slow line', async () => readLines(slowFile).filter((l) => String(l.text).includes('reload_off_marker')), (l) => l.length === 1);
      expect(marked('reload_off')).to.have.length(0);
    } finally {
      write({ statements: 'all' });
      await admin(mesh, 'POST', '/api/reload');
    }
  });

  it('reopens the files on SIGUSR1 (logrotate): new lines go to a new file, none lost or split', async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: mesh.port, user: 'app', password: 'app_pw', database: DB });
    conns.push(c);
    await c.query('SELECT 1 AS usr1_before');
    await until('the line before', async () => readLines(captureFile).filter((l) => String(l.text).includes('usr1_before')), (l) => l.length === 1);
    const moved = captureFile + '.rotated';
    renameSync(captureFile, moved);
    process.kill(mesh.pid, 'SIGUSR1');
    await until('the reopen', async () => existsSync(captureFile), (e) => e);
    for (let i = 0; i < 50; i++) await c.query(`SELECT ${i} AS usr1_after`);
    const fresh = await until('the lines after', async () => readLines(captureFile).filter((l) => String(l.text).includes('usr1_after')), (l) => l.length >= 50);
    const old = readLines(moved).filter((l) => String(l.text).includes('usr1_after'));
    expect(fresh.length + old.length).to.equal(50);
    expect(readLines(moved).filter((l) => String(l.text).includes('usr1_before'))).to.have.length(1);
  });

  it('POST /api/digests/reset empties the table; bad sort or limit is a 400', async () => {
    expect((await admin(mesh, 'POST', '/api/digests/reset')).status).to.equal(200);
    expect(await digests(mesh)).to.deep.equal([]);
    const c = await mysql.createConnection({ host: '127.0.0.1', port: mesh.port, user: 'app', password: 'app_pw', database: DB });
    conns.push(c);
    for (let i = 0; i < 5; i++) await c.query(`SELECT ${i} AS after_reset`);
    await until('the new digest', () => digests(mesh), (ds) => ds.some((d) => d.count === 5));
    expect((await admin(mesh, 'GET', '/api/digests?sort=bogus')).status).to.equal(400);
    expect((await admin(mesh, 'GET', '/api/digests?limit=0')).status).to.equal(400);
  });
});

describe('insight: a capture nobody reads, and 100,000 distinct statements', function () {
  this.timeout(300_000);
  let mesh: DbmeshProcess;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-insight-fifo-'));
    const fifo = path.join(dir, 'capture.fifo');
    execFileSync('mkfifo', [fifo]);
    mesh = await startDbmesh(await sharedSandbox(), {
      // digests.max below the API's largest page (10,000), so one request sees every row.
      overrides: { workers: 1, observability: { digests: { max: 5000 }, capture: { file: fifo, statements: 'all' } } },
    });
  });

  after(async () => {
    await mesh?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps statements flowing with the capture going to a FIFO nobody reads, and counts every line as dropped', async () => {
    const before = await metricsText(mesh);
    const conns = await Promise.all(Array.from({ length: 8 }, () => mysql.createConnection({ host: '127.0.0.1', port: mesh.port, user: 'app', password: 'app_pw' })));
    try {
      await Promise.all(conns.map(async (c) => {
        for (let i = 0; i < 1000; i++) await c.query('SELECT 1');
      }));
    } finally {
      await Promise.all(conns.map((c) => c.end()));
    }
    const after = await until('the drops in /metrics', () => metricsText(mesh),
      (t) => metricSum(t, 'dbmesh_capture_lines_total', { log: 'capture', outcome: 'dropped' }) - metricSum(before, 'dbmesh_capture_lines_total', { log: 'capture', outcome: 'dropped' }) >= 8000);
    expect(metricSum(after, 'dbmesh_capture_lines_total', { log: 'capture', outcome: 'dropped' }) - metricSum(before, 'dbmesh_capture_lines_total', { log: 'capture', outcome: 'dropped' })).to.equal(8000);
    expect(metricSum(after, 'dbmesh_capture_lines_total', { log: 'capture', outcome: 'written' })).to.equal(0);
  });

  it('keeps memory bounded over 100,000 distinct statements: at most digests.max rows, the rest counted in the overflow row', async () => {
    const masterRss = (): number => Number(readFileSync(`/proc/${mesh.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1]) * 1024;
    const conns = await Promise.all(Array.from({ length: 16 }, () => mysql.createConnection({ host: '127.0.0.1', port: mesh.port, user: 'app', password: 'app_pw' })));
    const run = async (from: number, n: number): Promise<void> => {
      await Promise.all(conns.map(async (c, k) => {
        for (let i = from + k; i < from + n; i += conns.length) await c.query(`SELECT ${i} AS distinct_${i}`);
      }));
    };
    try {
      await admin(mesh, 'POST', '/api/digests/reset');
      await run(0, 100_000);
      const first = { worker: mesh.rss(), master: masterRss() };
      await run(100_000, 100_000);
      const rows = await until('every statement counted', () => digests(mesh, 'limit=10000&sort=count'),
        (ds) => ds.reduce((n, d) => n + d.count, 0) >= 200_000);
      const second = { worker: mesh.rss(), master: masterRss() };
      expect(rows.length, 'rows: the bound plus the overflow row').to.equal(5001);
      expect(rows.reduce((n, d) => n + d.count, 0)).to.equal(200_000);
      expect(rows.find((d) => d.digest === 'overflow')!.count).to.equal(195_000);
      // The second 100,000 distinct statements find the tables full: memory stays about where
      // it was. RSS moves with the garbage collector's timing by a few tens of MiB (seen: up to
      // 27); a table that kept every row would add a row, a map entry and a sketch per
      // statement: about 85 MiB per 100,000 in the master (measured with an unbounded store).
      const mib = (b: number): number => Math.round(b / 1048576);
      const grew = { worker: mib(second.worker - first.worker), master: mib(second.master - first.master) };
      expect(grew.worker, `worker RSS ${mib(first.worker)} -> ${mib(second.worker)} MiB`).to.be.below(48);
      expect(grew.master, `master RSS ${mib(first.master)} -> ${mib(second.master)} MiB`).to.be.below(48);
    } finally {
      await Promise.all(conns.map((c) => c.end()));
    }
  });
});

describe('insight: an upgrade loses no counts; size rotation splits no line', function () {
  this.timeout(240_000);
  let mesh: DbmeshProcess;
  let dir: string;
  let captureFile: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-insight-up-'));
    captureFile = path.join(dir, 'capture.log');
    buildReleases(path.join(dir, 'releases'), ['7.9.0-a', '7.9.0-b']);
    mesh = await startDbmesh(await sharedSandbox(), {
      overrides: {
        workers: 2, releases: { dir: path.join(dir, 'releases') }, supervisor: { drainTimeoutMs: 15000, probationMs: 300 },
        observability: { capture: { file: captureFile, statements: 'all', maxFileBytes: 65536, keepFiles: 50 } },
      },
    });
  });

  after(async () => {
    await mesh?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('counts every statement sent just before an upgrade (the old workers ship their last counts)', async () => {
    const conns = await connectionsOnBothWorkers(mesh, 8, 'app');
    await Promise.all(conns.map(async (c, k) => {
      for (let i = 0; i < 100; i++) await c.query(`SELECT ${k * 1000 + i} AS before_upgrade`);
    }));
    await Promise.all(conns.map((c) => c.end()));
    const up = await cli(['upgrade', '--version', '7.9.0-b', '--config', mesh.configPath]);
    expect(up.code, up.stderr + up.stdout).to.equal(0);
    expect((await status(mesh)).workers.every((w) => w.version === '7.9.0-b')).to.equal(true);
    const rows = await digests(mesh);
    expect(rows.filter((d) => norm(d.text) === 'select ? as before_upgrade').reduce((n, d) => n + d.count, 0)).to.equal(conns.length * 100);
  });

  it('rotates the capture by size: every line whole, none lost', async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: mesh.port, user: 'app', password: 'app_pw' });
    try {
      for (let i = 0; i < 3000; i++) await c.query(`SELECT ${i} AS rotation_${'x'.repeat(40)}`);
    } finally {
      await c.end();
    }
    const all = (): Line[] => {
      const out: Line[] = [];
      for (let k = 50; k >= 1; k--) out.push(...readLines(`${captureFile}.${k}`));
      out.push(...readLines(captureFile));
      return out.filter((l) => String(l.text).includes('rotation_'));
    };
    const lines = await until('every line in the files', async () => all(), (l) => l.length >= 3000);
    expect(lines).to.have.length(3000);
    expect(existsSync(`${captureFile}.1`), 'rotated at least once').to.equal(true);
  });
});
