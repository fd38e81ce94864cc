/**
 * Firewall allowlists through a real dbmesh with two workers: learn a workload (the learned
 * digests are exactly the workload's, merged from both workers, kept in the file next to the
 * config), then protect: the same workload passes untouched and a new statement shape gets
 * ERR 1148 without reaching the server; detect lets it through and logs and counts it. Set
 * through the CLI and the admin API; a user@cidr account; the file survives a restart.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { rootQuery, type SandboxInfo } from '../helpers/sandbox.js';
import { closeAll, waitUntil } from '../helpers/routing.js';
import { cli } from '../helpers/control.js';
import { fingerprint } from '../../src/sql/fingerprint.js';
import { digestId } from '../../src/sql/digest-id.js';

type Err = Error & { errno?: number; sqlState?: string };

const T = 'fw_al';
/** The workload: text statements, and one prepared (its text is checked at prepare). */
const TEXT = (i: number): string[] => [
  `SELECT v FROM ${T} WHERE id = ${i}`,
  `INSERT INTO ${T} (id, v) VALUES (${100 + i}, 'row ${i}') ON DUPLICATE KEY UPDATE v = VALUES(v)`,
  'BEGIN',
  `UPDATE ${T} SET v = 'seen' WHERE id = ${i}`,
  'COMMIT',
];
const PREPARED = `SELECT COUNT(*) AS n FROM ${T} WHERE id > ?`;
const NEW_SHAPE = `UPDATE ${T} SET v = 'intruder' WHERE id = 1 OR v = 'x'`;

describe('firewall: allowlists (learn, detect, protect)', function () {
  this.timeout(120_000);
  let sb: SandboxInfo;
  let d: DbmeshProcess;
  let allowlistFile: string;
  const api = (method: string, p: string, body?: unknown): Promise<Response> => fetch(`http://127.0.0.1:${d.adminPort}${p}`, {
    method, headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const connect = (db: DbmeshProcess = d): Promise<mysql.Connection> => mysql.createConnection({ host: '127.0.0.1', port: db.port, user: 'app', password: 'app_pw', database: 'dbmesh_test' });
  const expectedDigests = new Set([...TEXT(1), PREPARED].map((s) => digestId(fingerprint(s))));

  /** The workload on four connections (both workers get some); every statement must succeed. */
  async function workload(db: DbmeshProcess = d, bothWorkers = false): Promise<void> {
    const conns = await Promise.all([1, 2, 3, 4].map(() => connect(db)));
    try {
      if (bothWorkers) {
        await waitUntil(async () => {
          const status = (await (await api('GET', '/api/status')).json()) as { workers: { connections: number }[] };
          return status.workers.filter((w) => w.connections > 0).length === 2;
        }, 'sessions on both workers');
      }
      await Promise.all(conns.map(async (c, n) => {
        for (let i = 1; i <= 3; i++) for (const sql of TEXT(n * 10 + i)) await c.query(sql);
        await c.execute(PREPARED, [n]);
      }));
    } finally {
      await closeAll(conns);
    }
  }

  async function learned(): Promise<Set<string>> {
    const res = await api('GET', '/api/firewall/users/app');
    if (res.status !== 200) return new Set();
    return new Set(((await res.json()) as { digests: { digest: string }[] }).digests.map((x) => x.digest));
  }

  before(async () => {
    sb = await sharedSandbox();
    allowlistFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'dbmesh-allowlist-')), 'allow.json');
    d = await startDbmesh(sb, { overrides: { workers: 2, firewall: { guards: 'none', allowlistFile } } });
    await rootQuery(sb.primary, `CREATE TABLE IF NOT EXISTS dbmesh_test.${T} (id INT PRIMARY KEY, v VARCHAR(40)); DELETE FROM dbmesh_test.${T}; INSERT INTO dbmesh_test.${T} VALUES (1, 'one')`);
  });

  after(async () => {
    await d?.stop();
  });

  it('learn (set with the CLI): records exactly the digests the account sent, from every worker, in the file', async () => {
    const set = await cli(['firewall', 'mode', 'app', 'learn', '-c', d.configPath]);
    expect(set.code, set.stderr).to.equal(0);
    expect(set.stdout).to.match(/^app: learn \(0 digests/);
    await workload(d, true);
    await waitUntil(async () => (await learned()).size >= expectedDigests.size, 'the learned digests to reach the master');
    expect([...(await learned())].sort()).to.deep.equal([...expectedDigests].sort());
    await waitUntil(() => existsSync(allowlistFile) && Object.keys((JSON.parse(readFileSync(allowlistFile, 'utf8')) as { accounts: Record<string, { digests: object }> }).accounts.app?.digests ?? {}).length === expectedDigests.size, 'the file to hold them');
    const file = JSON.parse(readFileSync(allowlistFile, 'utf8')) as { accounts: Record<string, { mode: string; digests: Record<string, string> }> };
    expect(file.accounts.app!.mode).to.equal('learn');
    expect(file.accounts.app!.digests[digestId(fingerprint(PREPARED))]).to.equal(fingerprint(PREPARED));
  });

  it('protect (set through the API): the learned workload passes untouched; a new shape gets ERR 1148 and never reaches the server', async () => {
    const res = await api('POST', '/api/firewall/users/app/mode', { mode: 'protect' });
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ account: 'app', mode: 'protect', digests: expectedDigests.size });
    await workload();
    const c = await connect();
    try {
      const err = await c.query(NEW_SHAPE).then(() => null, (e: Err) => e);
      expect(err?.errno).to.equal(1148);
      expect(err?.sqlState).to.equal('42000');
      expect(err?.message).to.match(/^dbmesh firewall: statement not in the allowlist of account 'app' \(digest [0-9a-f]{16}\)/);
      expect((await rootQuery(sb.primary, `SELECT v FROM dbmesh_test.${T} WHERE id = 1`)).trim(), 'the blocked UPDATE did not run').to.equal('seen');
      // Prepared statements are checked at prepare.
      const perr = await c.prepare(`SELECT v FROM ${T} WHERE v LIKE ?`).then(() => null, (e: Err) => e);
      expect(perr?.errno).to.equal(1148);
      // The session goes on.
      expect(((await c.query(`SELECT v FROM ${T} WHERE id = 1`))[0] as { v: string }[])[0]!.v).to.equal('seen');
    } finally {
      await c.end();
    }
  });

  it('detect: a new shape runs, is logged once with its digest and counted as allowlist/log', async () => {
    const res = await api('POST', '/api/firewall/users/app/mode', { mode: 'detect' });
    expect(res.status).to.equal(200);
    const c = await connect();
    try {
      await c.query(`SELECT v FROM ${T} WHERE v LIKE 'o%' ORDER BY id`);
      await c.query(`SELECT v FROM ${T} WHERE v LIKE 'x%' ORDER BY id`);
    } finally {
      await c.end();
    }
    const digest = digestId(fingerprint(`SELECT v FROM ${T} WHERE v LIKE 'o%' ORDER BY id`));
    await waitUntil(() => d.logs.some((l) => l.message === 'statement outside the allowlist (detect mode: let through)' && l.digest === digest), 'the detect log line');
    expect(d.logs.filter((l) => l.message === 'statement outside the allowlist (detect mode: let through)' && l.digest === digest).length).to.equal(1);
    await waitUntil(async () => {
      const text = await (await api('GET', '/metrics')).text();
      return /dbmesh_firewall_verdicts_total\{rule="allowlist",action="log"\} 2/.test(text);
    }, 'the two detections in /metrics');
    expect((await learned()).has(digest), 'detect does not learn').to.equal(false);
  });

  it('the CLI shows the list (--json) and replaces it (--load): a digest taken out is blocked again', async () => {
    const shown = await cli(['firewall', 'allowlist', 'app', '--json', '-c', d.configPath]);
    expect(shown.code, shown.stderr).to.equal(0);
    const list = JSON.parse(shown.stdout) as { account: string; mode: string; digests: { digest: string; fingerprint: string }[] };
    expect(list.mode).to.equal('detect');
    expect(new Set(list.digests.map((x) => x.digest))).to.deep.equal(expectedDigests);
    const table = await cli(['firewall', 'allowlist', 'app', '-c', d.configPath]);
    expect(table.stdout).to.include(fingerprint(PREPARED));
    const prepared = digestId(fingerprint(PREPARED));
    const reduced = path.join(path.dirname(allowlistFile), 'reduced.json');
    writeFileSync(reduced, JSON.stringify({ mode: 'protect', digests: list.digests.filter((x) => x.digest !== prepared) }));
    const load = await cli(['firewall', 'allowlist', 'app', '--load', reduced, '-c', d.configPath]);
    expect(load.code, load.stderr).to.equal(0);
    expect(load.stdout).to.match(new RegExp(`^app: protect, ${expectedDigests.size - 1} digests`));
    const c = await connect();
    try {
      const err = await c.execute(PREPARED, [1]).then(() => null, (e: Err) => e);
      expect(err?.errno).to.equal(1148);
      await c.query(TEXT(1)[0]!);
    } finally {
      await c.end();
    }
  });

  it('refuses a bad mode, a bad digest or a bad body with 400, saying what is expected', async () => {
    expect((await api('POST', '/api/firewall/users/app/mode', { mode: 'block' })).status).to.equal(400);
    const bad = await api('PUT', '/api/firewall/users/app', { digests: ['nothex'] });
    expect(bad.status).to.equal(400);
    expect(((await bad.json()) as { error: string }).error).to.match(/digests\[0\]: not a digest id/);
    expect((await api('PUT', '/api/firewall/users/app', { mode: 'protect' })).status).to.equal(400);
    expect((await api('PUT', '/api/firewall/users/app', { digests: [null, 7, { digest: 'x' }] })).status).to.equal(400);
    expect((await api('PUT', '/api/firewall/users/app', { digests: [{ digest: '0123456789abcdef', fingerprint: 5 }] })).status).to.equal(400);
    expect((await api('POST', '/api/firewall/users/app/mode', 'not json')).status).to.equal(400);
    expect((await api('GET', `/api/firewall/users/${'a'.repeat(401)}`)).status).to.equal(404);
    expect((await api('GET', '/api/firewall/users/nobody')).status).to.equal(404);
    const badCli = await cli(['firewall', 'mode', 'app', 'block', '-c', d.configPath]);
    expect(badCli.code).to.not.equal(0);
    expect(badCli.stderr).to.match(/expected one of off, learn, detect, protect/);
  });

  it('an account narrowed to an address block (user@cidr) applies to clients there, before the user\'s own', async () => {
    expect((await api('PUT', '/api/firewall/users/app', { mode: 'off', digests: [] })).status).to.equal(200);
    expect((await api('PUT', `/api/firewall/users/${encodeURIComponent('app@10.0.0.0/8')}`, { mode: 'protect', digests: [] })).status).to.equal(200);
    const c = await connect();
    await c.query(TEXT(1)[0]!); // 127.0.0.1 is not in 10.0.0.0/8: the user's account (off) applies
    expect((await api('PUT', `/api/firewall/users/${encodeURIComponent('app@127.0.0.0/8')}`, { mode: 'protect', digests: [] })).status).to.equal(200);
    const err = await c.query(TEXT(1)[0]!).then(() => null, (e: Err) => e);
    expect(err?.errno, 'an open session follows the change at once').to.equal(1148);
    expect(err?.message).to.include("account 'app@127.0.0.0/8'");
    await c.end();
    const accounts = ((await (await api('GET', '/api/firewall/users')).json()) as { accounts: { account: string; mode: string }[] }).accounts;
    expect(accounts.map((a) => `${a.account}:${a.mode}`).sort()).to.deep.equal(['app:off', 'app@10.0.0.0/8:protect', 'app@127.0.0.0/8:protect']);
  });

  it('the file outlives the process: a new dbmesh on it protects from its first statement', async () => {
    expect((await api('PUT', `/api/firewall/users/${encodeURIComponent('app@127.0.0.0/8')}`, { mode: 'protect', digests: [digestId(fingerprint(TEXT(1)[0]!))] })).status).to.equal(200);
    await d.stop();
    d = await startDbmesh(sb, { overrides: { workers: 2, firewall: { guards: 'none', allowlistFile } } });
    const c = await connect();
    try {
      await c.query(TEXT(7)[0]!);
      const err = await c.query(TEXT(7)[1]!).then(() => null, (e: Err) => e);
      expect(err?.errno).to.equal(1148);
    } finally {
      await c.end();
    }
  });

  it('an invalid allowlist file refuses the start (exit 2), naming the file', async () => {
    const broken = path.join(path.dirname(allowlistFile), 'broken.json');
    writeFileSync(broken, JSON.stringify({ version: 1, accounts: { app: { mode: 'guard', digests: {} } } }));
    const started = startDbmesh(sb, { overrides: { firewall: { guards: 'none', allowlistFile: broken } } });
    const err = await started.then((x) => { void x.stop(); return null; }, (e: Error) => e);
    expect(err?.message).to.match(/exited \(code 2\)/);
    expect(err?.message).to.include('broken.json');
    expect(err?.message).to.match(/accounts\.app\.mode: must be one of off, learn, detect, protect/);
  });
});
