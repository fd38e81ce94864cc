/**
 * users[].limits through a real dbmesh: maxConnections over two workers (ERR 1203),
 * maxConcurrentStatements and statementsPerSecond refused (ERR 1226) or queued (queueMs, the
 * order shown by the server's own clock), and statementTimeoutMs (ERR 3024; the statement is
 * stopped on the backend by KILL QUERY within the timeout plus 100 ms; the session goes on).
 */
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { rootQuery, type SandboxInfo } from '../helpers/sandbox.js';
import { closeAll, waitUntil } from '../helpers/routing.js';

type Err = Error & { errno?: number; sqlState?: string };

const TIMEOUT_MS = 500;

function limited(name: string, limits: Record<string, number>): Record<string, unknown> {
  return { name, password: `${name}_pw`, cluster: 'main', readFrom: 'primary', backendUser: 'app', backendPassword: 'app_pw', limits };
}

describe('per-user limits (users[].limits)', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let one: DbmeshProcess;
  let two: DbmeshProcess;
  const opened: mysql.Connection[] = [];
  const connect = async (d: DbmeshProcess, user: string): Promise<mysql.Connection> => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: d.port, user, password: `${user}_pw`, database: 'dbmesh_test' });
    opened.push(c);
    return c;
  };
  const failure = <T>(p: Promise<T>): Promise<Err | null> => p.then(() => null, (e: Err) => e);

  before(async () => {
    sb = await sharedSandbox();
    const users = [
      { name: 'app', password: 'app_pw', cluster: 'main', readFrom: 'primary' },
      limited('conn3', { maxConnections: 3 }),
      limited('conc2', { maxConcurrentStatements: 2 }),
      limited('conc1q', { maxConcurrentStatements: 1, queueMs: 5000 }),
      limited('conc1', { maxConcurrentStatements: 1 }),
      limited('rate5', { statementsPerSecond: 5 }),
      limited('rate5q', { statementsPerSecond: 5, queueMs: 5000 }),
      limited('slow', { statementTimeoutMs: TIMEOUT_MS }),
    ];
    [one, two] = await Promise.all([
      startDbmesh(sb, { overrides: { workers: 1, users } }),
      startDbmesh(sb, { overrides: { workers: 2, users } }),
    ]);
  });

  after(async () => {
    await closeAll(opened.splice(0));
    await Promise.all([one?.stop(), two?.stop()]);
  });

  it('maxConnections counts over all workers: the 4th connection gets ERR 1203; one closed lets one in', async () => {
    const conns = [await connect(two, 'conn3'), await connect(two, 'conn3'), await connect(two, 'conn3')];
    await waitUntil(async () => {
      const status = (await (await fetch(`http://127.0.0.1:${two.adminPort}/api/status`, { headers: { authorization: 'Bearer test-token' } })).json()) as { workers: { connections: number }[] };
      return status.workers.filter((w) => w.connections > 0).length === 2;
    }, 'connections on both workers');
    for (let i = 0; i < 4; i++) {
      const err = await failure(connect(two, 'conn3'));
      expect(err?.errno, `attempt ${i}`).to.equal(1203);
      expect(err?.sqlState).to.equal('42000');
      expect(err?.message).to.match(/User conn3 already has more than 'max_user_connections' active connections \(dbmesh: users\[\]\.limits\.maxConnections = 3/);
    }
    for (const c of conns) expect(((await c.query('SELECT 1 AS one'))[0] as { one: number }[])[0]!.one).to.equal(1);
    await conns[0]!.end();
    // The close reaches the master's count asynchronously: a login goes through soon after.
    let fourth: mysql.Connection | null = null;
    await waitUntil(async () => (fourth = await connect(two, 'conn3').catch(() => null)) !== null, 'a connection after one closed', 5000);
    expect(fourth).to.not.equal(null);
    expect(two.logs.some((l) => l.reason === 'user_connections')).to.equal(true);
  });

  it('COM_CHANGE_USER counts the connection for the new user: over maxConnections it gets ERR 1203; the old user\'s count goes down', async () => {
    const held = [await connect(one, 'conn3'), await connect(one, 'conn3'), await connect(one, 'conn3')];
    const app = await mysql.createConnection({ host: '127.0.0.1', port: one.port, user: 'app', password: 'app_pw', database: 'dbmesh_test' });
    app.on('error', () => undefined);
    const err = await failure(app.changeUser({ user: 'conn3', password: 'conn3_pw' }));
    expect(err?.errno).to.equal(1203);
    app.destroy();
    // One of the three becomes another user: its conn3 slot is free for a new login.
    await held[0]!.changeUser({ user: 'app', password: 'app_pw' });
    const fourth = await connect(one, 'conn3');
    expect(((await fourth.query('SELECT 7 AS seven'))[0] as { seven: number }[])[0]!.seven).to.equal(7);
    await closeAll([...held, fourth]);
  });

  it('maxConcurrentStatements without queueMs: the 3rd statement at once gets ERR 1226 naming the resource', async () => {
    const [a, b, c] = [await connect(one, 'conc2'), await connect(one, 'conc2'), await connect(one, 'conc2')];
    const running = [a.query('SELECT SLEEP(1)'), b.query('SELECT SLEEP(1)')];
    await waitUntil(async () => Number((await rootQuery(sb.primary, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(1)'")).trim()) === 2, 'both sleeps running');
    const err = await failure(c.query('SELECT 1'));
    expect(err?.errno).to.equal(1226);
    expect(err?.sqlState).to.equal('42000');
    expect(err?.message).to.match(/^User 'conc2' has exceeded the 'maxConcurrentStatements' resource \(current value: 2\)/);
    await Promise.all(running);
    expect(((await c.query('SELECT 2 AS two'))[0] as { two: number }[])[0]!.two).to.equal(2);
  });

  it('maxConcurrentStatements with queueMs: statements wait their turn, one after the other on the server', async () => {
    const conns = [await connect(one, 'conc1q'), await connect(one, 'conc1q'), await connect(one, 'conc1q')];
    const rows = await Promise.all(conns.map(async (c) => ((await c.query('SELECT UNIX_TIMESTAMP(NOW(6)) AS t, SLEEP(0.3) AS s'))[0] as { t: string }[])[0]!));
    const starts = rows.map((r) => Number(r.t)).sort((x, y) => x - y);
    expect(starts[1]! - starts[0]!, 'the second began after the first ended').to.be.at.least(0.29);
    expect(starts[2]! - starts[1]!, 'the third after the second').to.be.at.least(0.29);
  });

  it('a statement dbmesh answers itself (a prepared KILL of no thread) gives its slot back at once', async () => {
    const [a, b] = [await connect(one, 'conc1'), await connect(one, 'conc1')];
    const err = await failure(a.execute('KILL QUERY 4000000000'));
    expect(err?.errno).to.equal(1094);
    expect(((await b.query('SELECT 5 AS five'))[0] as { five: number }[])[0]!.five).to.equal(5);
    expect(((await a.query('SELECT 6 AS six'))[0] as { six: number }[])[0]!.six).to.equal(6);
  });

  it('statementsPerSecond without queueMs: a burst past one second\'s worth gets ERR 1226', async () => {
    const c = await connect(one, 'rate5');
    let ok = 0;
    let refused: Err | null = null;
    for (let i = 0; i < 20; i++) {
      const err = await failure(c.query('SELECT 1'));
      if (err === null) ok++;
      else refused ??= err;
    }
    expect(ok).to.be.within(5, 7);
    expect(refused?.errno).to.equal(1226);
    expect(refused?.message).to.match(/^User 'rate5' has exceeded the 'statementsPerSecond' resource \(current value: 5\).*queueMs/);
  });

  it('statementsPerSecond with queueMs: every statement runs, paced at the rate (server clock)', async () => {
    const c = await connect(one, 'rate5q');
    const times: number[] = [];
    for (let i = 0; i < 10; i++) times.push(Number(((await c.query('SELECT UNIX_TIMESTAMP(NOW(6)) AS t'))[0] as { t: string }[])[0]!.t));
    // 5 from the full bucket at once, then one per 200 ms: the 10th about 1 s after the 1st.
    expect(times[9]! - times[0]!).to.be.at.least(0.9);
  });

  it(`statementTimeoutMs ${TIMEOUT_MS}: SELECT SLEEP(10) gets ERR 3024 and is stopped on the backend within the timeout + 100 ms`, async () => {
    const c = await connect(one, 'slow');
    const [[{ id }]] = (await c.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
    expect(id).to.be.a('number');
    const t0 = performance.now();
    const err = await failure(c.query('SELECT SLEEP(10)'));
    const elapsed = performance.now() - t0;
    expect(err?.errno).to.equal(3024);
    expect(err?.sqlState).to.equal('HY000');
    expect(err?.message).to.match(/^Query execution was interrupted, maximum statement execution time exceeded/);
    expect(elapsed).to.be.below(TIMEOUT_MS + 100);
    // The answer came after the server ended the statement: it is no longer running there.
    expect(Number((await rootQuery(sb.primary, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(10)'")).trim())).to.equal(0);
    // The session goes on, in step.
    expect(((await c.query('SELECT 3 AS three'))[0] as { three: number }[])[0]!.three).to.equal(3);
    const perr = await failure(c.execute('SELECT SLEEP(?) AS s', [10]));
    expect(perr?.errno).to.equal(3024);
    expect(((await c.execute('SELECT ? AS four', [4]))[0] as { four: number }[])[0]!.four).to.equal(4);
  });

  it('a statement that ends in time is not disturbed by the timer of the one before', async () => {
    const c = await connect(one, 'slow');
    for (let i = 0; i < 3; i++) expect(((await c.query('SELECT SLEEP(0.2) AS s'))[0] as { s: number }[])[0]!.s).to.equal(0);
    // A timer armed for an earlier statement must not fire for this one.
    expect(((await c.query('SELECT SLEEP(0.4) AS s'))[0] as { s: number }[])[0]!.s).to.equal(0);
  });
});
