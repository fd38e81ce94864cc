/**
 * Causal reads: with `causalReads` on, a session's read after its own write runs on a
 * replica only once that replica has applied the write (MASTER_GTID_WAIT on the GTID the
 * primary reported in the OK packet's session-track data, or from @@last_gtid for clients
 * without session tracking); when the replica cannot catch up in time the read goes to the
 * primary. Either way the session sees its write.
 */
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { rootQuery, type SandboxInfo } from '../helpers/sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';

describe('causal reads (read your own writes through GTID waits)', function () {
  this.timeout(120000);
  let sb: SandboxInfo;
  let dbmesh: DbmeshProcess;

  const setDelay = async (seconds: number): Promise<void> => {
    for (const r of sb.replicas) await rootQuery(r, `STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = ${seconds}; START SLAVE`);
  };

  before(async function () {
    sb = await sharedSandbox();
    dbmesh = await startDbmesh(sb, {
      overrides: {
        users: [{ name: 'app', password: 'app_pw', cluster: 'main', readFrom: 'replica' }],
        clusters: [{
          name: 'main', type: 'replication', causalReads: true, causalReadTimeoutMs: 300, readYourWritesMs: 0,
          backends: [sb.primary, ...sb.replicas].map((s) => ({ id: s.id, host: s.host, port: s.port })),
        }],
      },
    });
    await rootQuery(sb.primary, 'CREATE TABLE IF NOT EXISTS dbmesh_test.causal (id INT PRIMARY KEY, v INT)');
    await rootQuery(sb.primary, 'DELETE FROM dbmesh_test.causal');
  });

  after(async function () {
    await setDelay(0).catch(() => undefined);
    await rootQuery(sb.primary, 'DROP TABLE IF EXISTS dbmesh_test.causal').catch(() => undefined);
    await dbmesh?.stop();
  });

  const replicaPorts = (): number[] => sb.replicas.map((r) => r.port);

  for (const [label, flags, base] of [['with session tracking (mysql2 default)', [], 0], ['without session tracking', ['-SESSION_TRACK'], 1000]] as const) {
    it(`a read right after a write sees it and runs on a replica (${label})`, async function () {
      const c = await mysql.createConnection({ host: '127.0.0.1', port: dbmesh.port, user: 'app', password: 'app_pw', database: 'dbmesh_test', flags: [...flags] });
      try {
        let onReplica = 0;
        for (let i = 1; i <= 30; i++) {
          await c.query('INSERT INTO causal VALUES (?, ?)', [base + i, i]);
          const [rows] = await c.query('SELECT v, @@port AS port FROM causal WHERE id = ?', [base + i]) as [{ v: number; port: number }[], unknown];
          expect(rows, `row ${base + i} visible to its writer`).to.have.length(1);
          expect(rows[0]!.v).to.equal(i);
          if (replicaPorts().includes(rows[0]!.port)) onReplica++;
        }
        expect(onReplica, 'reads that ran on a replica after waiting for the write').to.be.above(20);
      } finally {
        await c.end();
      }
    });
  }

  it('falls back to the primary when the replica does not catch up in time', async function () {
    await setDelay(5); // replicas apply events 5 s late: longer than causalReadTimeoutMs
    const c = await mysql.createConnection({ host: '127.0.0.1', port: dbmesh.port, user: 'app', password: 'app_pw', database: 'dbmesh_test' });
    try {
      await c.query('INSERT INTO causal VALUES (5000, 1)');
      const [rows] = await c.query('SELECT v, @@port AS port FROM causal WHERE id = 5000') as [{ v: number; port: number }[], unknown];
      expect(rows).to.have.length(1);
      expect(rows[0]!.port, 'served by the primary').to.equal(sb.primary.port);
    } finally {
      await c.end();
      await setDelay(0);
    }
  });
});
