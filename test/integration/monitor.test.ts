/**
 * The backend monitor against the shared sandbox: it finds the primary and the replicas with
 * their lag, keeps one connection per backend across probes, marks a replica whose SQL thread
 * stopped as lagging and takes it back, reports an unreachable backend down after
 * `monitor.failures` probes, keeps working (misconfigured, roles known) with a wrong monitor
 * password, and leaves no connection behind. Every wait is on the monitor's own probe events.
 */
import { expect } from 'chai';
import { applyDefaults, type Config, type ConfigFile } from '../../src/config/index.js';
import { Monitor } from '../../src/monitor/monitor.js';
import type { BackendHealth } from '../../src/monitor/health-view.js';
import { logger } from '../../src/observability/logger.js';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { freePort, sandboxConfig } from '../helpers/dbmesh.js';
import { rootQuery, type SandboxInfo, type SandboxServer } from '../helpers/sandbox.js';

const CLUSTER = 'main';
const INTERVAL_MS = 100;

function configFor(sb: SandboxInfo, opts: { extra?: Record<string, unknown>[]; password?: string } = {}): Config {
  const file = sandboxConfig(sb, 0, 0) as unknown as ConfigFile & Record<string, unknown>;
  const cluster = file.clusters[0]!;
  return applyDefaults({
    ...file,
    clusters: [{ ...cluster, backends: [...cluster.backends, ...(opts.extra ?? [])] as ConfigFile['clusters'][0]['backends'] }],
    monitor: { user: 'monitor', password: opts.password ?? 'monitor_pw', intervalMs: INTERVAL_MS, timeoutMs: 1000, failures: 2, successes: 2 },
  }, process.cwd());
}

/** Resolves after the first probe at which `pred` holds (at once if it holds now). */
function until(m: Monitor, pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  if (pred()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => { done = true; reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(m.view().clusters[CLUSTER])}`)); }, timeoutMs);
    m.onProbe(() => {
      if (done || !pred()) return;
      done = true;
      clearTimeout(timer);
      resolve();
    });
  });
}

async function monitorSessions(s: SandboxServer, user = 'monitor'): Promise<number> {
  return Number((await rootQuery(s, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '${user}'`)).trim());
}

describe('backend monitor', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let mon: Monitor | null = null;
  const log = logger('monitor-test');
  const b = (id: string): BackendHealth => mon!.view().clusters[CLUSTER]!.backends.find((x) => x.id === id)!;

  before(async () => {
    sb = await sharedSandbox();
    mon = new Monitor(configFor(sb), log);
    await mon.start();
  });

  after(async () => {
    if (sb) await rootQuery(sb.replicas[0]!, 'START SLAVE SQL_THREAD').catch(() => {});
    mon?.stop();
  });

  it('finds the primary and the replicas with their lag, version and probe time', async () => {
    const v = mon!.view();
    expect(v.complete).to.equal(true);
    expect(v.misconfigured).to.equal(null);
    expect(v.clusters[CLUSTER]!.primary).to.equal(sb.primary.id);
    await until(mon!, () => sb.replicas.every((r) => b(r.id).state === 'up'), 'both replicas up');
    for (const r of sb.replicas) {
      expect(b(r.id)).to.include({ role: 'replica', writable: false, state: 'up' });
      expect(b(r.id).lagSeconds).to.be.a('number').within(0, 10);
    }
    expect(b(sb.primary.id)).to.include({ role: 'primary', writable: true, state: 'up', lagSeconds: null, lastError: null });
    expect(b(sb.primary.id).version).to.match(/MariaDB/);
    expect(b(sb.primary.id).checkedAt).to.be.greaterThan(0);
    expect(v.clusters[CLUSTER]!.greeting?.serverVersion).to.match(/MariaDB/);
  });

  it('keeps one monitor connection per backend across probes', async () => {
    const t = Date.now();
    await until(mon!, () => [sb.primary, ...sb.replicas].every((s) => b(s.id).checkedAt > t + 3 * INTERVAL_MS), 'three more probes each');
    for (const s of [sb.primary, ...sb.replicas]) expect(await monitorSessions(s), s.id).to.equal(1);
  });

  it('marks a replica whose SQL thread stopped as lagging (no reads), and up again when it resumes', async () => {
    const victim = sb.replicas[0]!;
    const published: string[] = [];
    mon!.onChange((v) => published.push(v.clusters[CLUSTER]!.backends.find((x) => x.id === victim.id)!.state));
    await rootQuery(victim, 'STOP SLAVE SQL_THREAD');
    await until(mon!, () => b(victim.id).state === 'lagging', `${victim.id} lagging`);
    expect(b(victim.id).lagSeconds).to.equal(-1);
    expect(b(victim.id).reason).to.match(/replication stopped/);
    expect(mon!.view().alerts.join('\n')).to.include(`replica ${victim.id} lagging`);
    expect(mon!.view().clusters[CLUSTER]!.primary).to.equal(sb.primary.id);
    await rootQuery(victim, 'START SLAVE SQL_THREAD');
    await until(mon!, () => b(victim.id).state === 'up', `${victim.id} up again`);
    expect(published).to.include.members(['lagging', 'up']);
    expect(mon!.view().changes[`${CLUSTER}/${victim.id}`]).to.be.at.least(2);
  });

  it('reports a backend on a closed port down, with its error and an alert, after a reload', async () => {
    const port = await freePort(); // nothing listens there now
    await mon!.setConfig(configFor(sb, { extra: [{ id: 'gone', host: '127.0.0.1', port }] }));
    await until(mon!, () => b('gone').state === 'down', 'gone down');
    expect(b('gone').lastError).to.match(/ECONNREFUSED|refused/i);
    expect(b('gone').role).to.equal('unknown');
    expect(mon!.view().alerts.join('\n')).to.include('backend gone down');
    expect(mon!.view().clusters[CLUSTER]!.primary).to.equal(sb.primary.id);
    await mon!.setConfig(configFor(sb));
    expect(mon!.view().clusters[CLUSTER]!.backends.map((x) => x.id)).to.not.include('gone');
  });

  it('drain, disable and enable: operator states override health and leave the primary out of writes', async () => {
    const r = sb.replicas[1]!.id;
    expect(mon!.setOperatorState(CLUSTER, r, 'draining')?.state).to.equal('draining');
    expect(mon!.setOperatorState(CLUSTER, 'nope', 'draining')).to.equal(null);
    expect(mon!.setOperatorState(CLUSTER, r, 'disabled')?.state).to.equal('disabled');
    expect(mon!.setOperatorState(CLUSTER, r, 'none')?.state).to.equal('up');
    expect(mon!.setOperatorState(CLUSTER, sb.primary.id, 'draining')?.state).to.equal('draining');
    expect(mon!.view().clusters[CLUSTER]!.primary).to.equal(null);
    expect(mon!.view().alerts.join('\n')).to.include('no writable backend is serving');
    mon!.setOperatorState(CLUSTER, sb.primary.id, 'none');
    expect(mon!.view().clusters[CLUSTER]!.primary).to.equal(sb.primary.id);
  });

  it('two writable servers: keeps the last known primary, refuses to switch, raises an alert', async () => {
    const rogue = sb.replicas[0]!;
    try {
      await rootQuery(rogue, 'SET GLOBAL read_only = 0');
      await until(mon!, () => b(rogue.id).writable, `${rogue.id} writable`);
      expect(mon!.view().clusters[CLUSTER]!.primary).to.equal(sb.primary.id);
      expect(mon!.view().alerts.join('\n')).to.match(new RegExp(`2 writable servers \\(${sb.primary.id}, ${rogue.id}\\); writes stay on ${sb.primary.id}`));
    } finally {
      await rootQuery(rogue, 'SET GLOBAL read_only = 1');
    }
    await until(mon!, () => !b(rogue.id).writable, `${rogue.id} read-only again`);
    expect(mon!.view().alerts.join('\n')).to.not.include('writable servers');
  });

  it('with a wrong monitor password: backends stay up, roles come from a user login, the monitor says it is misconfigured', async () => {
    const wrong = new Monitor(configFor(sb, { password: 'WRONG' }), log);
    try {
      await wrong.start();
      const v = wrong.view();
      expect(v.misconfigured).to.match(/monitor account 'monitor' refused.*1045/);
      expect(v.alerts[0]).to.equal(v.misconfigured);
      expect(v.clusters[CLUSTER]!.primary).to.equal(sb.primary.id);
      for (const h of v.clusters[CLUSTER]!.backends) expect(h.state, h.id).to.be.oneOf(['up', 'lagging']);
    } finally {
      wrong.stop();
    }
  });

  it('stop leaves no monitor connection behind', async () => {
    mon!.stop();
    const deadline = Date.now() + 10_000;
    for (const s of [sb.primary, ...sb.replicas]) {
      while (await monitorSessions(s) !== 0) {
        if (Date.now() > deadline) throw new Error(`monitor sessions left on ${s.id}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
});
