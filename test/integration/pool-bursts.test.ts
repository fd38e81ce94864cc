/**
 * Pool limits that hold under real traffic, with the default config (no maxConnections):
 * a burst of statements from 2,000 clients at once is served by the connections that free up
 * while the pool grows a few logins at a time (it does not open one per statement), the pool
 * stays under its share of the server's max_connections, and a server that still answers 1040
 * "Too many connections" to a new login makes statements wait for a pooled connection instead
 * of failing. Issue 10 ("Balancing and pool limits").
 */
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';
import { rootQuery, sessionsOf, type SandboxInfo } from '../helpers/sandbox.js';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { endOrDestroy } from '../helpers/routing.js';

const CLIENTS = 2000;

describe('pool bursts with the default config (no maxConnections)', function () {
  this.timeout(180_000);
  let sb: SandboxInfo;
  let mesh: DbmeshProcess;
  const clients: Connection[] = [];

  before(async () => {
    sb = await sharedSandbox();
    // One worker, maxConnections 0 (the defaults). The monitor reads max_connections once at
    // start: the 1040 test below lowers it on the server behind dbmesh's back.
    mesh = await startDbmesh(sb, { overrides: { monitor: { user: 'monitor', password: 'monitor_pw', intervalMs: 3_600_000 } } });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => endOrDestroy(c)));
  });

  after(async () => {
    await mesh?.stop();
  });

  async function openClients(n: number): Promise<void> {
    for (let i = 0; i < n; i += 100) {
      const batch = await Promise.all(Array.from({ length: Math.min(100, n - i) }, () =>
        mysql.createConnection({ host: '127.0.0.1', port: mesh.port, user: 'app', password: 'app_pw', database: 'dbmesh_test' })));
      for (const c of batch) c.on('error', () => {});
      clients.push(...batch);
    }
  }

  it(`serves ${CLIENTS} clients sending a statement at once on a few dozen backend connections, with no error`, async () => {
    await openClients(CLIENTS);
    const errors: string[] = [];
    await Promise.all(clients.map((c, i) => c.query('SELECT ? AS i', [i]).then(([rows]) => {
      if ((rows as { i: number }[])[0]!.i !== i) errors.push(`client ${i}: wrong row`);
    }, (e: Error) => { errors.push(`client ${i}: ${e.message}`); })));
    expect(errors).to.deep.equal([]);
    // The pool keeps what it opened (idle): that is how far the burst made it grow.
    const backend = await sessionsOf(sb.primary, 'app');
    expect(backend, 'backend connections after the burst').to.be.below(200);
  });

  it('makes statements wait for a pooled connection when the server answers 1040 to a new login', async () => {
    const before = Number((await rootQuery(sb.primary, 'SELECT @@GLOBAL.max_connections')).trim());
    const inUse = Number((await rootQuery(sb.primary, "SELECT COUNT(*) FROM information_schema.PROCESSLIST")).trim());
    await openClients(200);
    try {
      // Room for about 20 more connections than the server holds now.
      await rootQuery(sb.primary, `SET GLOBAL max_connections = ${inUse + 20}`);
      const errors: string[] = [];
      await Promise.all(clients.map((c, i) => c.query('SELECT SLEEP(0.05) AS s').catch((e: Error & { errno?: number }) => {
        errors.push(`client ${i}: ${e.errno} ${e.message}`);
      })));
      expect(errors, 'no client sees 1040').to.deep.equal([]);
      const warned = mesh.logs.some((l) => typeof l.message === 'string' && l.message.startsWith('backend refused a new connection: too many connections'));
      expect(warned, 'the limit was reached and logged').to.equal(true);
    } finally {
      await rootQuery(sb.primary, `SET GLOBAL max_connections = ${before}`);
    }
  });
});
