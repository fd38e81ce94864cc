/**
 * The operator's side of health: a wrong monitor password keeps clients working and says so
 * in the status and metrics; `dbmesh backend drain` under read load fails nothing and leaves
 * nothing there; writes wait for a writable backend (failover.holdMs) and then fail clearly;
 * a cluster whose every backend is down answers at once, with the reason.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { DBMESH_BIN, freePort, startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import type { SandboxInfo } from '../helpers/sandbox.js';

interface StatusView { backends?: { misconfigured: string | null; clusters: Record<string, { primary: string | null; backends: { id: string; state: string }[] }> }; alerts: string[] }

async function admin(dbm: DbmeshProcess, method: string, path: string): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(`http://127.0.0.1:${dbm.adminPort}${path}`, { method, headers: { authorization: 'Bearer test-token' } });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // /metrics is text
  }
  return { status: res.status, body, text };
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DBMESH_BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

describe('health operations', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let dbm: DbmeshProcess;
  const connect = (): Promise<mysql.Connection> => mysql.createConnection({ host: '127.0.0.1', port: dbm.port, user: 'app', password: 'app_pw', database: 'sbtest' });
  const serverId = async (c: mysql.Connection): Promise<number> => Number(((await c.query('SELECT @@server_id AS s'))[0] as { s: number }[])[0]!.s);

  before(async () => {
    sb = await sharedSandbox();
    dbm = await startDbmesh(sb, {
      overrides: {
        users: [{ name: 'app', password: 'app_pw', cluster: 'main', readFrom: 'replica' }],
        monitor: { user: 'monitor', password: 'WRONG-password', intervalMs: 200 },
        failover: { holdMs: 1500 },
      },
    });
  });

  after(async () => {
    await dbm?.stop();
  });

  it('with a wrong monitor password: clients are served, status and metrics say the monitor is misconfigured', async () => {
    const c = await connect();
    await c.query('SELECT 1');
    const seen = new Set<number>();
    for (let i = 0; i < 60; i++) seen.add(await serverId(c));
    await c.end();
    expect([...seen].sort()).to.deep.equal([2, 3]);
    const st = (await admin(dbm, 'GET', '/api/status')).body as StatusView;
    expect(st.backends?.misconfigured).to.match(/monitor account 'monitor' refused .*1045/);
    expect(st.alerts.join('\n')).to.match(/monitor account 'monitor' refused/);
    expect(st.backends?.clusters.main?.primary).to.equal(sb.primary.id);
    const metrics = (await admin(dbm, 'GET', '/metrics')).text;
    expect(metrics).to.match(/^dbmesh_monitor_misconfigured 1$/m);
    expect(metrics).to.match(new RegExp(`^dbmesh_backend_state\\{cluster="main",backend="${sb.primary.id}",state="up"\\} 1$`, 'm'));
    const text = await cli(['status', '--config', dbm.configPath]);
    expect(text.stdout).to.match(/monitor: MISCONFIGURED/);
    expect(text.stdout).to.match(new RegExp(`main\\s+${sb.primary.id}\\s+\\S+\\s+primary\\s+up`));
  });

  it('dbmesh backend drain under read load: zero failed reads, none there afterwards; enable brings it back', async () => {
    const victim = sb.replicas[1]!;
    const conns = await Promise.all(Array.from({ length: 8 }, () => connect()));
    let stop = false;
    let errors = 0;
    let reads = 0;
    const load = conns.map(async (k) => {
      while (!stop) {
        try {
          await k.query('SELECT SQL_NO_CACHE COUNT(*) FROM information_schema.tables');
          reads++;
        } catch {
          errors++;
        }
      }
    });
    await new Promise((r) => setTimeout(r, 500));
    const drained = await cli(['backend', 'drain', `main/${victim.id}`, '--config', dbm.configPath]);
    expect(drained.code, drained.stderr).to.equal(0);
    expect(drained.stdout).to.match(new RegExp(`main/${victim.id}: draining, empty`));
    const c = await connect();
    const after = new Set<number>();
    for (let i = 0; i < 40; i++) after.add(await serverId(c));
    stop = true;
    await Promise.all(load);
    await Promise.all(conns.map((k) => k.end()));
    expect(errors, `${errors} failed of ${reads + errors}`).to.equal(0);
    expect([...after]).to.deep.equal([2]);
    const enabled = await cli(['backend', 'enable', `main/${victim.id}`, '--config', dbm.configPath]);
    expect(enabled.code, enabled.stderr).to.equal(0);
    expect(enabled.stdout).to.match(/enabled \(state up\)/);
    const back = new Set<number>();
    for (let i = 0; i < 60; i++) back.add(await serverId(c));
    await c.end();
    expect(back.has(3), 'reads reach the enabled backend again').to.equal(true);
    expect((await admin(dbm, 'POST', '/api/backends/main/nope/drain')).status).to.equal(404);
    expect((await admin(dbm, 'POST', `/api/backends/main/${victim.id}/explode`)).status).to.equal(404);
  });

  it('without a writable backend, writes wait failover.holdMs (reads go on), then fail naming the cluster; a primary back in time takes them', async () => {
    const c = await connect();
    await c.query('CREATE TABLE IF NOT EXISTS hold_t (id INT AUTO_INCREMENT PRIMARY KEY)');
    expect((await admin(dbm, 'POST', `/api/backends/main/${sb.primary.id}/drain`)).status).to.equal(200);
    try {
      const t0 = Date.now();
      const err = await c.query('INSERT INTO hold_t VALUES ()').then(() => null, (e: Error & { errno?: number }) => e);
      const waited = Date.now() - t0;
      expect(err?.message).to.match(/no backend available for cluster 'main': no writable backend appeared within failover.holdMs \(1500 ms\)/);
      expect(waited).to.be.within(1400, 3000);
      expect(await serverId(c), 'reads still served by a replica').to.be.oneOf([2, 3]);
      // A write waiting when the primary comes back runs.
      const held = c.query('INSERT INTO hold_t VALUES ()');
      await new Promise((r) => setTimeout(r, 500));
      await admin(dbm, 'POST', `/api/backends/main/${sb.primary.id}/enable`);
      const [r] = await held;
      expect((r as mysql.ResultSetHeader).affectedRows).to.equal(1);
    } finally {
      await admin(dbm, 'POST', `/api/backends/main/${sb.primary.id}/enable`);
      await c.end();
    }
  });

  it('a cluster whose every backend is down answers a login at once, with the reason', async () => {
    const ports = [await freePort(), await freePort()];
    const dead = await startDbmesh(sb, {
      overrides: {
        clusters: [{ name: 'main', type: 'replication', backends: ports.map((port, i) => ({ id: `x${i}`, host: '127.0.0.1', port })) }],
        monitor: { user: 'monitor', password: 'monitor_pw', intervalMs: 200 },
      },
    });
    try {
      const t0 = Date.now();
      const err = await mysql.createConnection({ host: '127.0.0.1', port: dead.port, user: 'app', password: 'app_pw' }).then(() => null, (e: Error) => e);
      expect(err?.message).to.match(/every backend is down \(x0: connect ECONNREFUSED.*; x1: connect ECONNREFUSED/);
      expect(Date.now() - t0).to.be.below(1000);
    } finally {
      await dead.stop();
    }
  });
});
