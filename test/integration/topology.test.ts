/**
 * The backend directory as the router's role and lag source: it finds the primary, lists the
 * replicas with their lag, stops offering a replica whose replication stopped and takes it
 * back when it resumes, keeps one monitor connection per backend across rounds, and reports
 * an unreachable backend as down. Driven directly against the shared sandbox; every wait is
 * on the directory's onChange, never a fixed sleep.
 */
import { expect } from 'chai';
import { applyDefaults, type Config, type ConfigFile } from '../../src/config/index.js';
import { ReadOnlyProbeDirectory } from '../../src/worker/backends.js';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { freePort, sandboxConfig } from '../helpers/dbmesh.js';
import { rootQuery, type SandboxInfo, type SandboxServer } from '../helpers/sandbox.js';

const CLUSTER = 'main';
const INTERVAL_MS = 100;
const MAX_LAG = 10;

function configFor(sb: SandboxInfo, extraBackends: Record<string, unknown>[] = []): Config {
  const file = sandboxConfig(sb, 0, 0) as unknown as ConfigFile & Record<string, unknown>;
  const cluster = file.clusters[0]!;
  return applyDefaults({
    ...file,
    clusters: [{ ...cluster, backends: [...cluster.backends, ...extraBackends] as ConfigFile['clusters'][0]['backends'] }],
    monitor: { user: 'monitor', password: 'monitor_pw', intervalMs: INTERVAL_MS },
  }, process.cwd());
}

/** Resolves at the first probe round after which `pred` holds (at once if it holds now). */
function until(dir: ReadOnlyProbeDirectory, waiters: Set<() => void>, pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  if (pred()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(dir.status(CLUSTER))}`)); }, timeoutMs);
    const check = (): void => {
      if (!pred()) return;
      waiters.delete(check);
      clearTimeout(timer);
      resolve();
    };
    waiters.add(check);
  });
}

/** Sessions of the monitor user on a server, from its processlist. */
async function monitorSessions(s: SandboxServer): Promise<number> {
  return Number((await rootQuery(s, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'monitor'")).trim());
}

describe('backend topology (ReadOnlyProbeDirectory)', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let dir: ReadOnlyProbeDirectory | null = null;
  const waiters = new Set<() => void>();
  let rounds = 0;

  before(async () => {
    sb = await sharedSandbox();
    dir = new ReadOnlyProbeDirectory(configFor(sb));
    dir.onChange(() => {
      rounds++;
      for (const w of [...waiters]) w();
    });
    dir.start();
    await dir.refresh();
  });

  after(async () => {
    // Replication must run again for the next test file, even when a test failed midway.
    if (sb) await rootQuery(sb.replicas[0]!, 'START SLAVE SQL_THREAD').catch(() => {});
    await dir?.stop();
  });

  const d = (): ReadOnlyProbeDirectory => dir!;

  it('finds the primary and lists the replicas with their lag', async () => {
    expect(d().primary(CLUSTER)?.id).to.equal(sb.primary.id);
    // Lag can read NULL for a moment while a replica's IO thread (re)connects: wait for numbers.
    await until(d(), waiters, () => d().usableReplicas(CLUSTER, MAX_LAG).length === 2, 'both replicas usable');
    const replicas = d().replicas(CLUSTER);
    expect(replicas.map((r) => r.config.id)).to.have.members(sb.replicas.map((r) => r.id));
    for (const r of replicas) {
      expect(r.up).to.equal(true);
      expect(r.writable).to.equal(false);
      expect(r.lagSeconds).to.be.a('number').within(0, MAX_LAG);
      expect(r.checkedAt).to.be.greaterThan(0);
    }
    const status = d().status(CLUSTER);
    expect(status).to.have.length(3);
    const primary = status.find((s) => s.config.id === sb.primary.id)!;
    expect(primary).to.include({ up: true, writable: true, lagSeconds: null });
    expect(d().backend(CLUSTER, sb.replicas[1]!.id)?.config.port).to.equal(sb.replicas[1]!.port);
    expect(d().backend(CLUSTER, 'no-such-backend')).to.equal(null);
    expect(d().replicas('no-such-cluster')).to.have.length(0);
  });

  it('returns the same arrays until the next probe round', async () => {
    const before = rounds;
    const replicas = d().replicas(CLUSTER);
    const usable = d().usableReplicas(CLUSTER, MAX_LAG);
    expect(d().replicas(CLUSTER)).to.equal(replicas);
    expect(d().usableReplicas(CLUSTER, MAX_LAG)).to.equal(usable);
    expect(d().status(CLUSTER)).to.equal(d().status(CLUSTER));
    expect(Object.isFrozen(replicas)).to.equal(true);
    await until(d(), waiters, () => rounds > before, 'the next round');
    expect(d().replicas(CLUSTER)).to.not.equal(replicas); // rebuilt once per round
  });

  it('keeps one monitor connection per backend across rounds', async () => {
    const id = d().greeting(CLUSTER)!.connectionId;
    const before = rounds;
    await until(d(), waiters, () => rounds >= before + 3, 'three more rounds');
    expect(d().greeting(CLUSTER)!.connectionId, 'same primary monitor connection').to.equal(id);
    for (const s of [sb.primary, ...sb.replicas]) expect(await monitorSessions(s), s.id).to.equal(1);
  });

  it('reopens a monitor connection the server killed without reporting the backend down', async () => {
    const id = d().greeting(CLUSTER)!.connectionId;
    let lostPrimary = false;
    const watch = (): void => { if (d().primary(CLUSTER) === null) lostPrimary = true; };
    waiters.add(watch);
    try {
      await rootQuery(sb.primary, `KILL CONNECTION ${id}`);
      const before = rounds;
      await until(d(), waiters, () => rounds >= before + 2 && d().greeting(CLUSTER)!.connectionId !== id, 'a new monitor connection');
    } finally {
      waiters.delete(watch);
    }
    expect(lostPrimary, 'primary stayed known').to.equal(false);
    expect(await monitorSessions(sb.primary)).to.equal(1);
  });

  it('stops offering a replica whose SQL thread stopped, and takes it back when it resumes', async () => {
    const victim = sb.replicas[0]!;
    const lagOf = (): number | null | undefined => d().status(CLUSTER).find((s) => s.config.id === victim.id)?.lagSeconds;
    const usableIds = (): string[] => d().usableReplicas(CLUSTER, MAX_LAG).map((r) => r.config.id);

    await rootQuery(victim, 'STOP SLAVE SQL_THREAD');
    await until(d(), waiters, () => lagOf() === Infinity, `${victim.id} lag Infinity`);
    expect(usableIds()).to.deep.equal([sb.replicas[1]!.id]);
    // Still up and still a replica (the hint may name it); only lag-bounded reads skip it.
    expect(d().replicas(CLUSTER).map((r) => r.config.id)).to.include(victim.id);
    expect(d().backend(CLUSTER, victim.id)?.lagSeconds).to.equal(Infinity);
    expect(d().primary(CLUSTER)?.id).to.equal(sb.primary.id);

    await rootQuery(victim, 'START SLAVE SQL_THREAD');
    await until(d(), waiters, () => { const l = lagOf(); return typeof l === 'number' && l <= MAX_LAG; }, `${victim.id} replicating again`);
    expect(usableIds()).to.have.members(sb.replicas.map((r) => r.id));
  });

  it('reports a backend on a closed port as down without throwing, after a reload', async () => {
    const port = await freePort(); // nothing listens there now
    const reloaded = configFor(sb, [{ id: 'gone', host: '127.0.0.1', port }]);
    await d().setConfig(reloaded);
    const gone = d().status(CLUSTER).find((s) => s.config.id === 'gone')!;
    expect(gone).to.include({ up: false, writable: false, lagSeconds: null });
    expect(gone.checkedAt).to.be.greaterThan(0);
    expect(d().backend(CLUSTER, 'gone')).to.equal(null);
    expect(d().replicas(CLUSTER).map((r) => r.config.id)).to.not.include('gone');
    expect(d().primary(CLUSTER)?.id).to.equal(sb.primary.id);
    // The loop goes on with the new list.
    const before = rounds;
    await until(d(), waiters, () => rounds > before, 'a round after the reload');
    expect(d().status(CLUSTER)).to.have.length(4);
  });

  it('probes on demand without the loop and leaves no monitor connection behind', async () => {
    const port = await freePort();
    const once = new ReadOnlyProbeDirectory(configFor(sb, [{ id: 'gone', host: '127.0.0.1', port }]));
    await once.refresh();
    expect(once.primary(CLUSTER)?.id).to.equal(sb.primary.id);
    expect(once.backend(CLUSTER, 'gone')).to.equal(null);
    expect(once.replicas(CLUSTER)).to.have.length(2);
    await once.stop();
    await d().stop();
    // The servers notice the COM_QUITs asynchronously: poll their processlists briefly.
    const deadline = Date.now() + 10_000;
    for (const s of [sb.primary, ...sb.replicas]) {
      while (await monitorSessions(s) !== 0) {
        if (Date.now() > deadline) throw new Error(`monitor sessions left on ${s.id}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
});
