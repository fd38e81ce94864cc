/**
 * The SQL firewall's built-in guards through a real dbmesh: a blocked statement gets ERR 1148
 * (42000) naming the guard and never reaches the server (its general log), the session and an
 * open transaction go on, prepared statements are checked at prepare, admin-only statements
 * pass for an admin user, and every verdict is counted in /metrics and captured with its rule.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { rootQuery, type SandboxInfo } from '../helpers/sandbox.js';
import { waitUntil } from '../helpers/routing.js';
import { fingerprint } from '../../src/sql/fingerprint.js';
import { digestId } from '../../src/sql/digest-id.js';

async function metrics(d: DbmeshProcess): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${d.adminPort}/metrics`, { headers: { authorization: 'Bearer test-token' } });
  return res.text();
}

describe('firewall: built-in guards', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let d: DbmeshProcess;
  let captureFile: string;
  const connect = (user = 'app', password = 'app_pw'): Promise<mysql.Connection> =>
    mysql.createConnection({ host: '127.0.0.1', port: d.port, user, password, database: 'dbmesh_test', multipleStatements: true });

  before(async () => {
    sb = await sharedSandbox();
    captureFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'dbmesh-fw-')), 'capture.log');
    d = await startDbmesh(sb, {
      overrides: {
        users: [
          { name: 'app', password: 'app_pw', cluster: 'main', readFrom: 'primary' },
          { name: 'app2', password: 'app2_pw', cluster: 'main', readFrom: 'primary', admin: true, fileAccess: true, multiStatements: true },
        ],
        firewall: { guards: 'all' },
        observability: { capture: { file: captureFile, statements: 'all' } },
      },
    });
    await rootQuery(sb.primary, 'CREATE TABLE IF NOT EXISTS dbmesh_test.fw_t (id INT PRIMARY KEY, v VARCHAR(40)); DELETE FROM dbmesh_test.fw_t');
  });

  after(async () => {
    await d?.stop();
  });

  it('answers a blocked statement with ERR 1148 / 42000 naming the guard; the session goes on', async () => {
    const c = await connect();
    const err = await c.query('SELECT * FROM fw_t WHERE id = 1 OR 1=1').then(() => null, (e: Error & { errno?: number; sqlState?: string }) => e);
    expect(err?.errno).to.equal(1148);
    expect(err?.sqlState).to.equal('42000');
    expect(err?.message).to.match(/^dbmesh firewall: blocked by guard tautology: OR with an always-true condition/);
    const [rows] = await c.query('SELECT 1 AS one');
    expect((rows as { one: number }[])[0]!.one).to.equal(1);
    await c.end();
  });

  it('never lets a blocked statement reach the server (general log), while the ones around it do', async () => {
    const marker = `fw${Date.now()}`;
    await rootQuery(sb.primary, "SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1");
    try {
      const c = await connect();
      const blocked = [
        `SELECT '${marker}' FROM fw_t WHERE id = 1 OR 'a'='a'`,
        `SELECT '${marker}' FROM fw_t WHERE id = 1 UNION SELECT table_name FROM information_schema.tables`,
        `DELETE FROM fw_t /* ${marker} */`,
        `SELECT '${marker}' FROM fw_t WHERE id = 1 AND SLEEP(3)`,
        `SELECT '${marker}'; DROP TABLE fw_t`,
      ];
      for (const sql of blocked) {
        const err = await c.query(sql).then(() => null, (e: Error & { errno?: number }) => e);
        expect(err?.errno, sql).to.equal(1148);
      }
      await c.query(`SELECT '${marker}-passes' AS m`);
      await c.end();
    } finally {
      await rootQuery(sb.primary, 'SET GLOBAL general_log = 0');
    }
    const seen = (await rootQuery(sb.primary, `SELECT argument FROM mysql.general_log WHERE argument LIKE '%${marker}%'`)).trim().split('\n');
    expect(seen).to.deep.equal([`SELECT '${marker}-passes' AS m`]);
  });

  it('does not disturb an open transaction', async () => {
    const c = await connect();
    await c.query('BEGIN');
    await c.query("INSERT INTO fw_t VALUES (1, 'one')");
    const err = await c.query('UPDATE fw_t SET v = NULL').then(() => null, (e: Error & { errno?: number }) => e);
    expect(err?.errno).to.equal(1148);
    expect(err?.message).to.match(/unbounded-write: UPDATE without WHERE or LIMIT/);
    await c.query("INSERT INTO fw_t VALUES (2, 'two')");
    await c.query('COMMIT');
    await c.end();
    expect((await rootQuery(sb.primary, 'SELECT id, v FROM dbmesh_test.fw_t ORDER BY id')).trim().split('\n')).to.deep.equal(['1\tone', '2\ttwo']);
  });

  it('checks prepared statements at prepare', async () => {
    const c = await connect();
    const err = await c.execute('SELECT * FROM fw_t WHERE id = ? OR 2>1', [1]).then(() => null, (e: Error & { errno?: number }) => e);
    expect(err?.errno).to.equal(1148);
    const [rows] = await c.execute('SELECT v FROM fw_t WHERE id = ?', [1]);
    expect((rows as { v: string }[])[0]!.v).to.equal('one');
    await c.end();
  });

  it('lets an admin user do what the admin, file and multi-statement guards refuse others', async () => {
    const app = await connect();
    const admin = await connect('app2', 'app2_pw');
    for (const sql of ['CREATE TABLE IF NOT EXISTS fw_scratch (id INT)', 'SELECT 1; SELECT 2']) {
      await admin.query(sql);
    }
    for (const [sql, guard] of [['DROP TABLE fw_scratch', 'admin-statements'], ['SELECT 1; SELECT 2', 'multi-statements'], ["SELECT LOAD_FILE('/etc/hostname')", 'file-access']] as const) {
      const err = await app.query(sql).then(() => null, (e: Error & { errno?: number }) => e);
      expect(err?.message, sql).to.include(`guard ${guard}`);
    }
    await admin.query('DROP TABLE fw_scratch');
    await app.end();
    await admin.end();
  });

  it('counts every verdict in /metrics by rule and writes it to the capture with the rule', async () => {
    const c = await connect();
    const before = await metrics(d);
    const n = (text: string): number => Number(/^dbmesh_firewall_verdicts_total\{rule="guard:tautology",action="block"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    for (let i = 0; i < 3; i++) await c.query(`SELECT * FROM fw_t WHERE id = ${i} OR 1=1`).catch(() => undefined);
    await c.end();
    await waitUntil(async () => n(await metrics(d)) >= n(before) + 3, 'the verdicts in /metrics');
    await waitUntil(() => readFileSync(captureFile, 'utf8').includes('WHERE id = 2 OR 1=1'), 'the capture lines');
    const line = readFileSync(captureFile, 'utf8').split('\n').filter((l) => l.includes('WHERE id = 2 OR 1=1')).map((l) => JSON.parse(l) as Record<string, unknown>)[0]!;
    expect(line).to.include({ errno: 1148, firewall: 'guard:tautology', backend: '' });
  });
});

describe('firewall: rules', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let d: DbmeshProcess;
  const connect = (user = 'app', password = 'app_pw'): Promise<mysql.Connection> =>
    mysql.createConnection({ host: '127.0.0.1', port: d.port, user, password, database: 'dbmesh_test' });
  const fails = async (c: mysql.Connection, sql: string): Promise<string | null> => c.query(sql).then(() => null, (e: Error & { errno?: number }) => `${e.errno} ${e.message}`);
  const readDigest = fingerprintDigest('SELECT v FROM fw_r WHERE id = 1');
  const rules = [
    { name: 'no-secrets', action: 'block', tables: ['fw_secret'], message: 'the secrets table is off limits' },
    { name: 'maintenance', action: 'allow', users: ['app2'], pattern: '^delete from fw_r$' },
    { name: 'ddl-audit', action: 'log', kinds: ['ddl'] },
    { name: 'no-show-from-loopback', action: 'block', kinds: ['show'], clients: ['127.0.0.0/8', '::1'] },
    { name: 'not-from-elsewhere', action: 'block', clients: ['10.0.0.0/8'] },
    { name: 'one-shape', action: 'block', digests: [readDigest] },
  ];

  before(async () => {
    sb = await sharedSandbox();
    d = await startDbmesh(sb, {
      overrides: {
        users: [
          { name: 'app', password: 'app_pw', cluster: 'main', readFrom: 'primary' },
          { name: 'app2', password: 'app2_pw', cluster: 'main', readFrom: 'primary', admin: true },
        ],
        firewall: { guards: 'all', rules },
      },
    });
    await rootQuery(sb.primary, 'CREATE TABLE IF NOT EXISTS dbmesh_test.fw_r (id INT PRIMARY KEY, v INT); CREATE TABLE IF NOT EXISTS dbmesh_test.fw_secret (id INT)');
  });

  after(async () => {
    await d?.stop();
  });

  it('blocks by table with the rule\'s message, by client address and kind, and by digest id', async () => {
    const c = await connect();
    expect(await fails(c, 'SELECT * FROM dbmesh_test.fw_secret')).to.equal('1148 dbmesh firewall: the secrets table is off limits');
    expect(await fails(c, 'SHOW TABLES')).to.equal('1148 dbmesh firewall: blocked by rule no-show-from-loopback');
    expect(await fails(c, 'SELECT v FROM fw_r WHERE id = 42')).to.equal('1148 dbmesh firewall: blocked by rule one-shape');
    expect(await fails(c, 'SELECT id FROM fw_r WHERE id = 42')).to.equal(null);
    await c.end();
  });

  it('allow exempts a statement from the guards for the users it names; log lets it through, counted', async () => {
    const app = await connect();
    const admin = await connect('app2', 'app2_pw');
    expect(await fails(app, 'DELETE FROM fw_r')).to.match(/^1148 .*guard unbounded-write/);
    expect(await fails(admin, 'DELETE FROM fw_r')).to.equal(null);
    expect(await fails(admin, 'CREATE TABLE IF NOT EXISTS fw_r2 (id INT)')).to.equal(null);
    expect(await fails(admin, 'DROP TABLE fw_r2')).to.equal(null);
    await app.end();
    await admin.end();
    await waitUntil(async () => /^dbmesh_firewall_verdicts_total\{rule="ddl-audit",action="log"\} 2$/m.test(await metrics(d)), 'the log verdicts');
    expect(d.logs.some((l) => l.message === 'statement matched a firewall log rule' && l.rule === 'ddl-audit')).to.equal(true);
  });

  it('applies a changed rule set on reload, and refuses an invalid rule with its path', async () => {
    const c = await connect();
    const file = JSON.parse(readFileSync(d.configPath, 'utf8')) as { firewall: { rules: unknown[] } };
    const reload = async (): Promise<{ status: number; body: { problems?: string[] } }> => {
      writeFileSync(d.configPath, JSON.stringify(file, null, 2));
      const res = await fetch(`http://127.0.0.1:${d.adminPort}/api/reload`, { method: 'POST', headers: { authorization: 'Bearer test-token' } });
      return { status: res.status, body: await res.json() as { problems?: string[] } };
    };
    file.firewall.rules = [{ name: 'bad', action: 'block', pattern: '(unclosed', clients: ['300.1.1.1/8'] }];
    const refused = await reload();
    expect(refused.status).to.equal(422);
    expect(refused.body.problems!.join('\n')).to.match(/firewall\.rules\[0\]\.pattern: not a valid regular expression/);
    expect(refused.body.problems!.join('\n')).to.match(/firewall\.rules\[0\]\.clients\[0\]: "300\.1\.1\.1\/8" is not an IPv4 or IPv6 address/);
    expect(await fails(c, 'SELECT * FROM fw_secret')).to.match(/off limits/); // unchanged
    file.firewall.rules = [{ name: 'no-fw-r', action: 'block', tables: ['fw_r'] }];
    expect((await reload()).status).to.equal(200);
    expect(await fails(c, 'SELECT * FROM fw_secret')).to.equal(null);
    expect(await fails(c, 'SELECT id FROM fw_r')).to.equal('1148 dbmesh firewall: blocked by rule no-fw-r');
    await c.end();
  });
});

function fingerprintDigest(sql: string): string {
  return digestId(fingerprint(sql));
}
