/**
 * `dbmesh digests` and `dbmesh top` (stdout not a terminal) as child processes (bin/dbmesh.js)
 * against a real admin API server started in this process, whose digests are set by the test:
 * the table and the JSON, the query passed on, reset, and the CLI's exit codes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import winston from 'winston';
import { DEFAULTS } from '../../../src/config/index.js';
import type { DigestQuery, DigestRow } from '../../../src/insight/digest-store.js';
import { startAdminApi, type AdminApi } from '../../../src/master/admin-api.js';
import type { MasterControl } from '../../../src/master/control.js';
import { cli } from '../../helpers/control.js';
import { freePort } from '../../helpers/dbmesh.js';

const TOKEN = 'digests-test-token';

function digest(id: string, text: string, over: Partial<DigestRow> = {}): DigestRow {
  return {
    digest: id, text, user: 'app', schema: 'shop', count: 40, errors: 2, rowsSent: 400, rowsAffected: 0, totalMs: 100,
    minMs: 0.5, maxMs: 20, p50Ms: 1.5, p95Ms: 9.25, p99Ms: 18.5, firstSeen: '2026-01-01T00:00:00.000Z',
    lastSeen: '2026-01-01T00:01:00.000Z', backends: ['db1'], sample: 'select 1', ...over,
  };
}

/** A master that knows only digests; each GET runs 10 more statements of the first row. */
class DigestControl implements Pick<MasterControl, 'digests' | 'resetDigests'> {
  rows: DigestRow[] = [];
  readonly queries: DigestQuery[] = [];
  resets = 0;
  digests(q: DigestQuery): DigestRow[] {
    this.queries.push(q);
    const [first, ...rest] = this.rows;
    if (first !== undefined) this.rows = [{ ...first, count: first.count + 10, totalMs: first.totalMs + 10 }, ...rest];
    return this.rows;
  }
  resetDigests(): void {
    this.resets++;
  }
}

function unused(): never {
  throw new Error('not used by these tests');
}

describe('cli: digests and top', function () {
  this.timeout(20000);
  let dir: string;
  let control: DigestControl;
  let api: AdminApi;
  let config: string;

  function writeConfig(name: string, port: number): string {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify({
      admin: { host: '127.0.0.1', port, token: TOKEN },
      users: [{ name: 'app', password: 'app_pw', cluster: 'main' }],
      clusters: [{ name: 'main', type: 'replication', backends: [{ id: 'db1', host: '127.0.0.1', port: 13306 }] }],
    }));
    return file;
  }

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-digests-cli-'));
    control = new DigestControl();
    const master: MasterControl = {
      status: unused, reload: unused, upgrade: unused, rollback: unused, stop: unused, metrics: unused,
      digests: (q) => control.digests(q), resetDigests: () => control.resetDigests(),
      backendAction: () => null, backendConnections: () => null,
      allowlistFile: () => '', allowlists: () => [], allowlist: () => null,
      setAllowlistMode: unused, putAllowlist: unused,
    };
    api = await startAdminApi({ ...DEFAULTS.admin, port: 0, token: TOKEN }, master, winston.createLogger({ silent: true }));
    config = writeConfig('dbmesh.json', api.port);
  });

  after(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    control.rows = [
      digest('9f86d081884c7d65', 'select * from t where id = ?'),
      digest('9f86d0818844ffff', 'update s set n = ?', { user: 'batch', schema: null, count: 3, errors: 0, totalMs: 2.5, rowsSent: 0 }),
    ];
    control.queries.length = 0;
  });

  it('prints a table of the digests within 120 columns when not on a terminal', async () => {
    const r = await cli(['digests', '--config', config]);
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(/^DIGEST +COUNT +ERR +TOTAL MS +AVG MS +P50 +P95 +P99 +MAX MS +ROWS +USER@SCHEMA +TEXT$/);
    // The ids share 12 characters: the shortest prefixes that tell them apart.
    expect(lines[1]).to.match(/^9f86d081884c +50 +2 +110\.0 +2\.20 +1\.50 +9\.25 +18\.50 +20\.00 +400 +app@shop +select \* from t where id = \?$/);
    expect(lines[2]).to.match(/^9f86d0818844 +3 +0 +2\.50 +0\.833 .* batch +update s set n = \?$/);
    for (const l of lines) expect(l.length).to.be.at.most(120);
    expect(control.queries).to.deep.equal([{ sort: 'total', limit: 100 }]);
  });

  it('prints the JSON the API returned with --json, passing sort, limit, user and schema on', async () => {
    const r = await cli(['digests', '--config', config, '--json', '--sort', 'p99', '--limit', '5', '--user', 'app', '--schema', 'shop']);
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ digests: control.rows });
    expect(control.queries).to.deep.equal([{ sort: 'p99', limit: 5, user: 'app', schema: 'shop' }]);
  });

  it('resets the digests with --reset and says so', async () => {
    const before = control.resets;
    const r = await cli(['digests', '--reset', '--config', config]);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal('digests reset: every count starts again from zero\n');
    expect(control.resets).to.equal(before + 1);
    expect(control.queries).to.deep.equal([]);
  });

  it('says so when there are no digests yet', async () => {
    control.rows = [];
    const r = await cli(['digests', '--config', config]);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^no statement digests yet/);
  });

  it('refuses a bad order or limit (exit 1) and reports what the master refused (exit 1)', async () => {
    for (const args of [['--sort', 'slowest'], ['--limit', '0'], ['--limit', 'ten']]) {
      const r = await cli(['digests', '--config', config, ...args]);
      expect(r.code, args.join(' ')).to.equal(1);
      expect(r.stderr).to.match(/error: option/);
    }
    const r = await cli(['digests', '--config', config, '--limit', '10001']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal('dbmesh: the master answered HTTP 400: limit must be an integer from 1 to 10000\n');
  });

  it('says in one line that the master cannot be reached, and exits 1 (digests and top alike)', async () => {
    const file = writeConfig('down.json', await freePort());
    for (const cmd of ['digests', 'top']) {
      const r = await cli([cmd, '--config', file]);
      expect(r.code, cmd).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(/^dbmesh: cannot reach the dbmesh master at 127\.0\.0\.1:\d+ \(ECONNREFUSED\): is it running\?/);
      expect(r.stderr.trimEnd().split('\n')).to.have.length(1);
    }
  });

  it('top prints one view with rates from two fetches one interval apart when not on a terminal', async () => {
    const started = Date.now();
    const r = await cli(['top', '--config', config, '--interval', '0.5', '--sort', 'count', '--limit', '50']);
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
    expect(Date.now() - started).to.be.at.least(500);
    expect(r.stdout).to.not.contain('\x1b'); // plain text
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(/^dbmesh top {2}\d\d:\d\d:\d\d {2}QPS [\d.]+ {2}errors\/s 0 {2}digests 2 {2}sort: count \(QPS\) {2}every 0\.5 s$/);
    expect(lines[1]).to.match(/^counts since /);
    expect(lines[2]).to.match(/^ +QPS +ERR\/S +P99 MS +AVG MS +TIME% +COUNT +USER@SCHEMA +TEXT$/);
    // 10 statements of 1 ms each in about half a second; the other digest ran none.
    const busy = lines[3]!.trim().split(/ +/);
    expect(Number(busy[0])).to.be.within(5, 20);
    expect(busy.slice(1, 6)).to.deep.equal(['0', '18.50', '1.00', '100.0', '10']);
    expect(lines[3]).to.match(/app@shop +select \* from t where id = \?$/);
    expect(lines[4]).to.match(/^ +0 +0 +18\.50 +- +0\.0 +0 +batch +update s set n = \?$/);
    expect(control.queries).to.deep.equal([{ sort: 'count', limit: 50 }, { sort: 'count', limit: 50 }]);
  });

  it('top refuses an interval out of range or an unknown order (exit 1)', async () => {
    for (const args of [['--interval', '0'], ['--interval', 'soon'], ['--sort', 'max']]) {
      const r = await cli(['top', '--config', config, ...args]);
      expect(r.code, args.join(' ')).to.equal(1);
      expect(r.stderr).to.match(/error: option/);
    }
    expect(control.queries).to.deep.equal([]);
  });
});
