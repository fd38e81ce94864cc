/**
 * Balancer weights change live on reload: the same session's reads follow the new weights
 * right after `POST /api/reload`, without reconnecting.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import type { SandboxInfo } from '../helpers/sandbox.js';
import type { DbmeshProcess } from '../helpers/dbmesh.js';
import { admin } from '../helpers/control.js';
import { connectVia, readSpread, startRouted, type Conn } from '../helpers/routing.js';

describe('balancer weights on reload', function () {
  this.timeout(60000);
  let sb: SandboxInfo;
  let dbmesh: DbmeshProcess;
  let c: Conn;

  before(async function () {
    sb = await sharedSandbox();
    dbmesh = await startRouted(sb, [{ name: 'main', settings: { balancer: 'round-robin', readYourWritesMs: 0 } }], [{ name: 'reader', cluster: 'main', readFrom: 'replica' }]);
    c = await connectVia(dbmesh, 'reader');
  });

  after(async function () {
    await c?.end();
    await dbmesh?.stop();
  });

  const share = async (): Promise<number[]> => {
    const spread = await readSpread(sb, c, 40);
    return sb.replicas.map((r) => spread.get(r.id) ?? 0);
  };

  it('spreads reads by weight, and by the new weights after a reload', async function () {
    expect(await share(), 'equal weights').to.deep.equal([20, 20]);
    const file = JSON.parse(readFileSync(dbmesh.configPath, 'utf8')) as { clusters: { backends: { id: string; weight?: number }[] }[] };
    for (const b of file.clusters[0]!.backends) if (b.id === sb.replicas[1]!.id) b.weight = 3;
    writeFileSync(dbmesh.configPath, JSON.stringify(file, null, 2));
    const r = await admin(dbmesh, 'POST', '/api/reload');
    expect(r.status).to.equal(200);
    expect(await share(), 'weights 1 and 3').to.deep.equal([10, 30]);
  });
});
