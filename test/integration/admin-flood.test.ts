/**
 * Regression (issue 8): thousands of idle connections to the admin port used to take every
 * descriptor of the master, which under node:cluster round robin also accepts the MySQL
 * connections: no client could connect and the admin API did not answer. The master here runs
 * with an open-file limit the flood exceeds three times over; the admin API's connection cap
 * (oldest idle connection closed first) and its timeouts must keep MySQL clients connecting and
 * `GET /api/status` answering, during the flood and after it.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { admin, connect, nextLog, scalar, status } from '../helpers/control.js';

/** The test process's own open-file limit: the flood must fit in it. */
function ownFdLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))!;
  return Number(line.slice('Max open files'.length).trim().split(/\s+/)[0]);
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

interface Flood {
  readonly sockets: net.Socket[];
  /** Resolves once the server has closed every one of them. */
  readonly allClosed: Promise<void>;
  closed(): number;
}

/** `n` idle connections (they never send a byte), opened `batch` at a time. */
async function flood(port: number, n: number, batch = 250): Promise<Flood> {
  const sockets: net.Socket[] = [];
  let closed = 0;
  let onAll: () => void = () => {};
  const allClosed = new Promise<void>((r) => { onAll = r; });
  const open = (): Promise<void> => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => resolve());
    s.resume(); // read, so the server's FIN is seen
    s.on('error', () => resolve());
    s.once('close', () => {
      if (++closed === n) onAll();
    });
    sockets.push(s);
  });
  for (let i = 0; i < n; i += batch) await Promise.all(Array.from({ length: Math.min(batch, n - i) }, open));
  return { sockets, allClosed, closed: () => closed };
}

async function mysqlClientsWork(d: DbmeshProcess, n: number): Promise<void> {
  const conns = await Promise.all(Array.from({ length: n }, () => connect(d, null)));
  try {
    const values = await Promise.all(conns.map((c, i) => scalar(c, `SELECT ${i} + 1`)));
    expect(values.map(Number)).to.deep.equal(conns.map((_, i) => i + 1));
  } finally {
    await Promise.all(conns.map((c) => c.end()));
  }
}

describe('admin API: a flood of idle connections', function () {
  this.timeout(120000);
  const MASTER_FDS = Math.min(1024, Math.floor((ownFdLimit() - 500) / 3));
  const FLOOD = 3 * MASTER_FDS;
  let dbmesh: DbmeshProcess;
  let open: Flood | undefined;

  before(async function () {
    if (MASTER_FDS < 200) this.skip(); // this process cannot open enough sockets to matter
    dbmesh = await startDbmesh(await sharedSandbox(), { overrides: { workers: 2 }, nofile: MASTER_FDS });
    // Short timeouts, applied live by a reload, so the test does not wait out the defaults.
    const file = JSON.parse(readFileSync(dbmesh.configPath, 'utf8')) as { admin: Record<string, unknown> };
    file.admin = { ...file.admin, maxConnections: 32, headersTimeoutMs: 1000, requestTimeoutMs: 1000, keepAliveTimeoutMs: 1000, idleTimeoutMs: 2000 };
    writeFileSync(dbmesh.configPath, JSON.stringify(file, null, 2));
    expect((await admin(dbmesh, 'POST', '/api/reload')).status).to.equal(200);
  });

  after(async function () {
    for (const s of open?.sockets ?? []) s.destroy();
    await dbmesh?.stop();
  });

  it(`3x the master's fd limit of idle admin connections: MySQL clients connect and /api/status answers, during and after`, async function () {
    const baseline = fdCount(dbmesh.pid);
    const capped = nextLog(dbmesh, (l) => l.message === 'admin api connection limit reached: closing connections');
    open = await flood(dbmesh.adminPort, FLOOD);
    expect((await capped).max_connections).to.equal(32);

    // During: the admin port holds at most its cap of the master's descriptors.
    expect(fdCount(dbmesh.pid), `baseline ${baseline}`).to.be.at.most(baseline + 32 + 8);
    await mysqlClientsWork(dbmesh, 20);
    const during = await status(dbmesh); // a new connection displaces the oldest idle one
    expect(during.workers.filter((w) => w.state === 'ready')).to.have.length(2);

    // After the headers and idle timeouts, the server has closed every flood connection.
    await open.allClosed;
    expect(open.closed()).to.equal(FLOOD);
    expect(fdCount(dbmesh.pid)).to.be.at.most(baseline + 2);
    await mysqlClientsWork(dbmesh, 20);
    expect((await status(dbmesh)).workers.filter((w) => w.state === 'ready')).to.have.length(2);
  });
});
