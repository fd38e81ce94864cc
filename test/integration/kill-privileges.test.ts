// KILL through dbmesh allows exactly what the server allows.
//
// Issue 8 #4: a user without PROCESS / CONNECTION ADMIN ran `KILL <id of another user's idle
// session>` and dbmesh closed it (6 of 6, across both workers); against a busy session the
// server refused but dbmesh had already marked the victim, which was dropped after its
// statement. Directly, MariaDB answers 1095 "You are not owner of thread". And a pool's test
// `KILL 123; SELECT SLEEP(0.05)` (a multi-statement) was refused by dbmesh.
//
// Three accounts: `app` (the victims' user), `kill_other` (SELECT only: may end only its own
// sessions) and `kill_admin` (CONNECTION ADMIN: may end anyone's). Two workers, so victims sit
// in both.
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';
import { rootQuery, type SandboxInfo } from '../helpers/sandbox.js';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';

const DB = 'dbmesh_test';

describe('KILL privileges through dbmesh', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let mesh: DbmeshProcess;
  const open: Connection[] = [];

  const connect = async (user: string, extra: Partial<mysql.ConnectionOptions> = {}): Promise<Connection> => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: mesh.port, user, password: `${user}_pw`, database: DB, ...extra });
    c.on('error', () => {});
    open.push(c);
    return c;
  };

  /** App sessions until both workers hold some (ids carry the worker in their high bits). */
  async function victimsOnBothWorkers(n: number): Promise<Connection[]> {
    const out: Connection[] = [];
    const workers = new Set<number>();
    while (out.length < n || workers.size < 2) {
      const c = await connect('app');
      await c.query('SELECT 1');
      out.push(c);
      workers.add(c.threadId! >>> 22);
      if (out.length > 40) throw new Error('victims never reached both workers');
    }
    return out;
  }

  const alive = (c: Connection): Promise<boolean> => c.query('SELECT 1').then(() => true, () => false);

  async function killAs(c: Connection, sql: string): Promise<{ errno: number; message: string }> {
    try {
      await c.query(sql);
      return { errno: 0, message: '' };
    } catch (e) {
      const err = e as { errno: number; message: string };
      return { errno: err.errno, message: err.message };
    }
  }

  /** Wait until `sql` shows in the server's processlist (the victim's statement is running). */
  async function running(sql: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const n = (await rootQuery(sb.primary, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = '${sql}'`)).trim();
      if (n !== '0') return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`${sql} never started`);
  }

  before(async () => {
    sb = await sharedSandbox();
    await rootQuery(sb.primary, `CREATE USER IF NOT EXISTS 'kill_other'@'%' IDENTIFIED BY 'kill_other_pw';
      GRANT SELECT ON ${DB}.* TO 'kill_other'@'%';
      CREATE USER IF NOT EXISTS 'kill_admin'@'%' IDENTIFIED BY 'kill_admin_pw';
      GRANT SELECT ON ${DB}.* TO 'kill_admin'@'%'; GRANT CONNECTION ADMIN ON *.* TO 'kill_admin'@'%'`);
    mesh = await startDbmesh(sb, {
      overrides: {
        workers: 2,
        users: ['app', 'kill_other', 'kill_admin'].map((name) => ({ name, password: `${name}_pw`, cluster: 'main', readFrom: 'primary' })),
      },
    });
  });

  afterEach(() => {
    for (const c of open.splice(0)) c.destroy();
  });

  after(async () => {
    await mesh?.stop();
    await rootQuery(sb.primary, "DROP USER IF EXISTS 'kill_other'@'%'; DROP USER IF EXISTS 'kill_admin'@'%'");
  });

  it('refuses, as the server does (1095, the id the client named), a KILL of another user\'s idle sessions without the privilege, in either worker', async () => {
    const victims = await victimsOnBothWorkers(6);
    const other = await connect('kill_other');
    for (const v of victims) {
      for (const sql of [`KILL ${v.threadId}`, `KILL CONNECTION ${v.threadId}`, `KILL QUERY ${v.threadId}`]) {
        const r = await killAs(other, sql);
        expect(r.errno, sql).to.equal(1095);
        expect(r.message, sql).to.equal(`You are not owner of thread ${v.threadId}`);
      }
    }
    for (const v of victims) expect(await alive(v), `victim ${v.threadId}`).to.equal(true);
  });

  it('refuses a KILL of another user\'s busy session without the privilege and marks nothing: its statement and the session go on', async () => {
    const victim = await connect('app');
    const other = await connect('kill_other');
    const sleeping = victim.query('SELECT SLEEP(1.5) AS s');
    await running('SELECT SLEEP(1.5) AS s');
    expect((await killAs(other, `KILL QUERY ${victim.threadId}`)).errno).to.equal(1095);
    expect((await killAs(other, `KILL ${victim.threadId}`)).errno).to.equal(1095);
    const [rows] = await sleeping;
    expect(rows, 'not interrupted').to.deep.equal([{ s: 0 }]);
    expect(await alive(victim), 'still connected after its statement').to.equal(true);
  });

  it('lets a user end its own user\'s sessions, idle or busy, in either worker', async () => {
    const victims = await victimsOnBothWorkers(4);
    const killer = await connect('app');
    for (const v of victims) expect((await killAs(killer, `KILL ${v.threadId}`)).errno).to.equal(0);
    for (const v of victims) expect(await alive(v), `victim ${v.threadId}`).to.equal(false);
    const busy = await connect('app');
    const sleeping = busy.query('SELECT SLEEP(20) AS s').then(() => 'finished', () => 'ended');
    await running('SELECT SLEEP(20) AS s');
    const started = Date.now();
    expect((await killAs(killer, `KILL ${busy.threadId}`)).errno).to.equal(0);
    expect(await sleeping).to.equal('ended');
    expect(Date.now() - started).to.be.below(10_000);
    expect(await alive(killer)).to.equal(true);
  });

  it('lets a user with CONNECTION ADMIN end anyone\'s sessions, idle or busy', async () => {
    const victims = await victimsOnBothWorkers(4);
    const admin = await connect('kill_admin');
    for (const v of victims) expect((await killAs(admin, `KILL ${v.threadId}`)).errno, `KILL ${v.threadId}`).to.equal(0);
    for (const v of victims) expect(await alive(v), `victim ${v.threadId}`).to.equal(false);
    const busy = await connect('app');
    // MariaDB reports an interrupted SLEEP as its result (1) or as ER_QUERY_INTERRUPTED (1317).
    const sleeping = busy.query('SELECT SLEEP(20) AS s').then(([rows]) => JSON.stringify(rows), (e: { errno: number }) => `error ${e.errno}`);
    await running('SELECT SLEEP(20) AS s');
    expect((await killAs(admin, `KILL QUERY ${busy.threadId}`)).errno).to.equal(0);
    expect(await sleeping, 'interrupted').to.be.oneOf(['[{"s":1}]', 'error 1317']);
    expect(await alive(busy), 'KILL QUERY leaves the session').to.equal(true);
  });

  it('runs a KILL prepared with the binary protocol (mariadb-test --ps-protocol does this) by the same rules', async () => {
    const victims = await victimsOnBothWorkers(2);
    const other = await connect('kill_other');
    const refused = await other.execute(`KILL ${victims[0]!.threadId}`).then(() => 0, (e: { errno: number }) => e.errno);
    expect(refused).to.equal(1095);
    expect(await alive(victims[0]!)).to.equal(true);
    const killer = await connect('app');
    for (const v of victims) await killer.execute(`KILL CONNECTION ${v.threadId}`);
    for (const v of victims) expect(await alive(v), `victim ${v.threadId}`).to.equal(false);
    const unknown = await killer.execute('KILL QUERY 4000001').then(() => 0, (e: { errno: number }) => e.errno);
    expect(unknown).to.equal(1094);
  });

  it('answers 1094 naming the id for an id nobody holds', async () => {
    const c = await connect('kill_other');
    const r = await killAs(c, 'KILL 4000000');
    expect([r.errno, r.message]).to.deep.equal([1094, 'Unknown thread id: 4000000']);
  });

  it('translates KILL inside a multi-statement (a pool test\'s KILL id; SELECT SLEEP(0.05)), with the same privileges', async () => {
    const victims = await victimsOnBothWorkers(2);
    const self = await connect('app', { multipleStatements: true });
    const [results] = await self.query(`KILL ${victims[0]!.threadId}; SELECT SLEEP(0.05) AS s`);
    expect((results as unknown[]).length).to.equal(2);
    expect((results as unknown[][])[1]).to.deep.equal([{ s: 0 }]);
    expect(await alive(victims[0]!)).to.equal(false);
    const [later] = await self.query(`SELECT 1 AS a; KILL ${victims[1]!.threadId}; SELECT 2 AS b`);
    expect((later as unknown[]).length).to.equal(3);
    expect(await alive(victims[1]!)).to.equal(false);

    const victim = await connect('app');
    const other = await connect('kill_other', { multipleStatements: true });
    const r = await killAs(other, `KILL ${victim.threadId}; SELECT 1`);
    expect(r.errno).to.equal(1095);
    expect(await alive(victim)).to.equal(true);
    const busy = await connect('app');
    const sleeping = busy.query('SELECT SLEEP(1) AS s');
    await running('SELECT SLEEP(1) AS s');
    expect((await killAs(other, `SELECT 1; KILL QUERY ${busy.threadId}`)).errno).to.equal(1095);
    expect((await sleeping)[0]).to.deep.equal([{ s: 0 }]);
  });

  it('CONNECTION_ID() is the id the handshake gave and KILL takes, on any pooled connection', async () => {
    const c = await connect('app');
    for (let i = 0; i < 5; i++) {
      const [rows] = await c.query('SELECT CONNECTION_ID()');
      expect(rows).to.deep.equal([{ 'CONNECTION_ID()': c.threadId }]);
      const [prepared] = await c.execute('SELECT CONNECTION_ID() AS id, ? AS i', [i]);
      expect(prepared).to.deep.equal([{ id: c.threadId, i }]);
    }
    const killer = await connect('app');
    const [[row]] = await c.query('SELECT CONNECTION_ID() AS id') as unknown as [{ id: number }[]];
    expect((await killAs(killer, `KILL ${row!.id}`)).errno).to.equal(0);
    expect(await alive(c)).to.equal(false);
  });
});
