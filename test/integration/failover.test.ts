/**
 * Failover with real servers killed (a private sandbox: this file kills and promotes its
 * servers). A replica killed with SIGKILL under mixed load costs no statement and rejoins
 * after it restarts; the primary killed under 8 writing connections, a replica promoted 2 s
 * later: at most the statement in flight fails per connection, writes resume within 3 s of
 * the promotion, every acknowledged write is on the new primary, none reached a read-only
 * server. Prints the detection, hold and resume times.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { promote, rootQuery, semiSync, startSandbox, stopSandbox, type SandboxInfo, type SandboxServer } from '../helpers/sandbox.js';
import { waitUntil } from '../helpers/routing.js';

const INTERVAL_MS = 500;
const READ_TIMEOUT_MS = 2000;

/** SIGKILL a server; returns how to start it again (same command line, new pid recorded for stopSandbox). */
function killServer(sb: SandboxInfo, s: SandboxServer): () => Promise<void> {
  const argv = readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').split('\0').filter((x) => x !== '');
  process.kill(s.pid, 'SIGKILL');
  return async () => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', detached: true });
    child.unref();
    s.pid = child.pid!;
    writeFileSync(path.join(sb.dir, s.id, 'server.pid'), `${child.pid}\n`);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await rootQuery(s, 'SELECT 1');
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
}

async function backendState(dbm: DbmeshProcess, id: string): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${dbm.adminPort}/api/status`, { headers: { authorization: 'Bearer test-token' } });
  const st = await res.json() as { backends?: { clusters: Record<string, { backends: { id: string; state: string }[] }> } };
  return st.backends?.clusters.main?.backends.find((b) => b.id === id)?.state;
}

const waitFor = (what: string, pred: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> => waitUntil(pred, what, timeoutMs);

describe('failover (private sandbox, servers killed)', function () {
  this.timeout(300_000);
  let sb: SandboxInfo;
  let dbm: DbmeshProcess;
  const conn = (): Promise<mysql.Connection> => mysql.createConnection({ host: '127.0.0.1', port: dbm.port, user: 'app', password: 'app_pw', database: 'sbtest' });

  before(async () => {
    sb = await startSandbox({ replicas: 2 });
    dbm = await startDbmesh(sb, {
      overrides: {
        users: [{ name: 'app', password: 'app_pw', cluster: 'main', readFrom: 'replica' }],
        monitor: { user: 'monitor', password: 'monitor_pw', intervalMs: INTERVAL_MS },
        failover: { readTimeoutMs: READ_TIMEOUT_MS },
      },
    });
    const c = await conn();
    await c.query('CREATE TABLE IF NOT EXISTS fo (id BIGINT AUTO_INCREMENT PRIMARY KEY, w INT)');
    await c.end();
    await semiSync(sb);
  });

  after(async () => {
    await dbm?.stop();
    if (sb) await stopSandbox(sb);
  });

  it('a hung replica (SIGSTOP): reads stuck there are retried after failover.readTimeoutMs, new reads avoid it within a probe, none fails', async () => {
    const victim = sb.replicas[1]!;
    let stop = false;
    const errors: string[] = [];
    const slowAfter: number[] = [];
    let reads = 0;
    let stoppedAt = 0;
    let maxMs = 0;
    const clients = await Promise.all(Array.from({ length: 4 }, () => conn()));
    const load = clients.map(async (c) => {
      while (!stop) {
        const t0 = Date.now();
        try {
          await c.query('SELECT COUNT(*) FROM fo');
          reads++;
          const ms = Date.now() - t0;
          maxMs = Math.max(maxMs, ms);
          // Begun when the monitor has had a probe timeout and an interval to see it: must be quick.
          if (stoppedAt > 0 && t0 > stoppedAt + 1000 + INTERVAL_MS + 500 && ms > 500) slowAfter.push(ms);
        } catch (err) {
          errors.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    });
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(victim.pid, 'SIGSTOP');
    stoppedAt = Date.now();
    try {
      await new Promise((r) => setTimeout(r, 6000));
    } finally {
      process.kill(victim.pid, 'SIGCONT');
    }
    stop = true;
    await Promise.all(load);
    await Promise.all(clients.map((c) => c.end()));
    console.log(`      hung replica: ${reads} reads, ${errors.length} failed, slowest ${maxMs} ms, ${slowAfter.length} slow after the monitor's first failed probe`);
    expect(errors, errors.slice(0, 3).join('; ')).to.deep.equal([]);
    expect(maxMs).to.be.below(READ_TIMEOUT_MS + 1500);
    expect(slowAfter).to.deep.equal([]);
    await waitFor(`${victim.id} up again`, async () => (await backendState(dbm, victim.id)) === 'up');
  });

  it('a login to a hung replica is given up when the monitor drops it: the read goes elsewhere, well within the connect timeout', async () => {
    const victim = sb.replicas[1]!;
    await waitFor(`${victim.id} up`, async () => (await backendState(dbm, victim.id)) === 'up');
    // A character set no pooled connection has: every read needs a new login where it is routed.
    const c = await mysql.createConnection({ host: '127.0.0.1', port: dbm.port, user: 'app', password: 'app_pw', database: 'sbtest', charset: 'LATIN1_SWEDISH_CI' });
    const times: number[] = [];
    process.kill(victim.pid, 'SIGSTOP');
    try {
      for (let i = 0; i < 8; i++) {
        const t0 = Date.now();
        await c.query('SELECT COUNT(*) FROM fo');
        times.push(Date.now() - t0);
      }
    } finally {
      process.kill(victim.pid, 'SIGCONT');
    }
    await c.end();
    console.log(`      reads during the hang: ${times.join(', ')} ms (connect timeout 5000 ms)`);
    expect(Math.max(...times)).to.be.below(3500);
    await waitFor(`${victim.id} up again`, async () => (await backendState(dbm, victim.id)) === 'up');
  });

  it('a replica killed under mixed load: zero failed statements; it serves again after it restarts', async () => {
    const victim = sb.replicas[1]!;
    let stop = false;
    let ok = 0;
    const errors: string[] = [];
    const clients = await Promise.all(Array.from({ length: 8 }, () => conn()));
    const load = clients.map(async (c, k) => {
      for (let i = 0; !stop; i++) {
        try {
          if (i % 4 === 0) await c.query('INSERT INTO fo (w) VALUES (?)', [k]);
          else await c.query('SELECT COUNT(*) FROM fo WHERE w = ?', [k]);
          ok++;
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1000));
    const restart = killServer(sb, victim);
    await waitFor(`${victim.id} down`, async () => (await backendState(dbm, victim.id)) === 'down');
    await new Promise((r) => setTimeout(r, 1000));
    await restart();
    const back = Date.now();
    await rootQuery(victim, 'START SLAVE').catch(() => undefined);
    await waitFor(`${victim.id} up again`, async () => (await backendState(dbm, victim.id)) === 'up');
    const rejoinMs = Date.now() - back;
    stop = true;
    await Promise.all(load);
    await Promise.all(clients.map((c) => c.end()));
    console.log(`      replica kill: ${ok} statements, ${errors.length} failed, rejoined ${rejoinMs} ms after its restart`);
    expect(errors, errors.slice(0, 3).join('; ')).to.deep.equal([]);
    expect(rejoinMs).to.be.below(8 * INTERVAL_MS + 2000);
  });

  it('the primary killed under 8 writers, a replica promoted 2 s later: one failure per connection at most, writes resume within 3 s, nothing acknowledged lost', async () => {
    const next = sb.replicas[0]!;
    let stop = false;
    let mark = 0;
    let resumeMs: number | null = null;
    const acked: number[] = [];
    const failures = new Map<number, string[]>();
    const clients: mysql.Connection[] = await Promise.all(Array.from({ length: 8 }, () => conn()));
    for (const c of clients) c.on('error', () => undefined);
    const load = clients.map(async (first, k) => {
      let c = first;
      while (!stop) {
        const t0 = Date.now();
        try {
          const [r] = await c.query('INSERT INTO fo (w) VALUES (?)', [100 + k]);
          acked.push((r as mysql.ResultSetHeader).insertId);
          if (mark > 0 && t0 >= mark && resumeMs === null) resumeMs = Date.now() - mark;
        } catch (err) {
          const e = err as { errno?: number; message: string };
          failures.set(k, [...(failures.get(k) ?? []), `${e.errno ?? ''} ${e.message}`]);
          // A connection dbmesh closed (it should not have) is replaced, and counted as failed above.
          if ((c as unknown as { connection: { _closing: boolean } }).connection._closing) c = await conn();
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1000));
    const killedAt = Date.now();
    killServer(sb, sb.primary);
    const down = dbm.waitForLog((l) => l.message === 'backend state changed' && l.backend === sb.primary.id && l.to === 'down', 10_000);
    await new Promise((r) => setTimeout(r, 2000));
    await promote(next);
    mark = Date.now();
    await waitFor('writes resumed', async () => resumeMs !== null, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await Promise.all(load);
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    const detectedMs = Date.parse(String((await down).timestamp)) - killedAt;
    const all = [...failures.values()].flat();
    console.log(`      primary kill: detected down after ${detectedMs} ms; writes held ${mark - killedAt} ms; first write ${resumeMs} ms after the promotion; ${acked.length} acknowledged, ${all.length} failed`);
    for (const [k, list] of failures) expect(list.length, `connection ${k}: ${list.join('; ')}`).to.be.at.most(1);
    expect(all.filter((m) => m.startsWith('1290')), 'a write reached a read-only server').to.deep.equal([]);
    expect(resumeMs!).to.be.at.most(3000);
    const n = Number((await rootQuery(next, `SELECT COUNT(*) FROM sbtest.fo WHERE id IN (${acked.join(',')})`)).trim());
    expect(acked.length - n, 'acknowledged writes missing on the new primary').to.equal(0);
  });
});
