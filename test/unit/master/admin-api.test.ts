/**
 * The admin API's HTTP layer over a real socket, with a small in-test MasterControl
 * (the supervisor is not under test here: only auth, routing, bodies, status codes, streaming).
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { expect } from 'chai';
import winston from 'winston';
import { DEFAULTS, type AdminConfig } from '../../../src/config/index.js';
import { startAdminApi, type AdminApi } from '../../../src/master/admin-api.js';
import { adminConnectionCap, openFileLimit } from '../../../src/master/fd-budget.js';
import type { MasterControl, MasterStatus, ProgressEvent, ReloadResult, UpgradeResult } from '../../../src/master/control.js';
import type { DigestRow } from '../../../src/insight/digest-store.js';
import { AllowlistStub } from '../../helpers/control-stubs.js';

const TOKEN = 's3cret-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const silent = winston.createLogger({ silent: true });

const STATUS: MasterStatus = {
  pid: 4242,
  version: '0.1.0',
  uptimeSeconds: 3725,
  configVersion: 3,
  configPath: '/etc/dbmesh/dbmesh.yaml',
  workers: [{ id: 1, pid: 4243, version: '0.1.0', state: 'ready', connections: 12, rssBytes: 50 * 1024 * 1024, startedAt: '2024-01-01T00:00:00.000Z', restarts: 0, pinned: {}, pools: {} }],
  alerts: [],
  watchdog: { softLimitBytes: 512 * 1024 * 1024, hardLimitBytes: 1024 * 1024 * 1024, softReplacements: 0, hardKills: 0 },
};

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A MasterControl whose answers each test sets; it records what it was asked. */
class TestControl extends AllowlistStub implements MasterControl {
  statusImpl = (): MasterStatus => STATUS;
  reloadResult: ReloadResult = { ok: true, configVersion: 4, problems: [] };
  upgradeImpl: (version: string, onProgress: (e: ProgressEvent) => void) => Promise<UpgradeResult> = async (version) => ({
    ok: true, fromVersion: '0.1.0', toVersion: version, sessionsMoved: 0, sessionsClosed: 0,
  });
  stopImpl: () => Promise<void> = async () => {};
  readonly calls: string[] = [];

  status(): MasterStatus {
    this.calls.push('status');
    return this.statusImpl();
  }
  async reload(): Promise<ReloadResult> {
    this.calls.push('reload');
    return this.reloadResult;
  }
  upgrade(version: string, onProgress: (e: ProgressEvent) => void): Promise<UpgradeResult> {
    this.calls.push(`upgrade ${version}`);
    return this.upgradeImpl(version, onProgress);
  }
  rollback(onProgress: (e: ProgressEvent) => void): Promise<UpgradeResult> {
    this.calls.push('rollback');
    return this.upgradeImpl('0.0.9', onProgress);
  }
  stop(): Promise<void> {
    this.calls.push('stop');
    return this.stopImpl();
  }
  digests(): DigestRow[] {
    return [];
  }

  resetDigests(): void {}
  backendAction(): null {
    return null;
  }

  backendConnections(): number | null {
    return null;
  }

  async metrics(): Promise<string> {
    return '# TYPE dbmesh_workers gauge\ndbmesh_workers 1\n';
  }
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json(): unknown;
}

/** One request on its own connection (agent: false), so nothing is left open after a test. */
function call(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as unknown });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('master/admin-api', () => {
  let control: TestControl;
  let api: AdminApi;
  const admin: AdminConfig = { ...DEFAULTS.admin, port: 0, token: TOKEN };

  beforeEach(async () => {
    control = new TestControl();
    api = await startAdminApi(admin, control, silent);
  });

  afterEach(async () => {
    await api.close();
  });

  describe('authorization', () => {
    it('answers 401 without a token, with a wrong one, or with another scheme', async () => {
      const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }];
      for (const headers of attempts) {
        const r = await call(api.port, 'GET', '/api/status', headers);
        expect(r.status).to.equal(401);
        expect(r.json()).to.deep.equal({ error: 'unauthorized' });
        expect(r.headers['www-authenticate']).to.match(/^Bearer/);
      }
      expect(control.calls).to.deep.equal([]);
    });

    it('checks the token before the route exists, so paths cannot be probed', async () => {
      expect((await call(api.port, 'GET', '/nope')).status).to.equal(401);
      expect((await call(api.port, 'POST', '/api/stop')).status).to.equal(401);
      expect(control.calls).to.deep.equal([]);
    });

    it('refuses every request when the configured token is empty', async () => {
      const open = await startAdminApi({ ...admin, token: '' }, control, silent);
      try {
        for (const authorization of ['Bearer ', 'Bearer x', `Bearer ${TOKEN}`]) {
          const r = await call(open.port, 'GET', '/api/status', { authorization });
          expect(r.status).to.equal(401);
        }
        expect((await call(open.port, 'GET', '/metrics')).status).to.equal(401);
      } finally {
        await open.close();
      }
    });

    it('protects /metrics too', async () => {
      expect((await call(api.port, 'GET', '/metrics')).status).to.equal(401);
    });
  });

  describe('routes', () => {
    it('GET /api/status returns control.status() as JSON', async () => {
      const r = await call(api.port, 'GET', '/api/status?x=1', AUTH);
      expect(r.status).to.equal(200);
      expect(r.headers['content-type']).to.match(/^application\/json/);
      expect(r.json()).to.deep.equal(STATUS);
    });

    it('POST /api/reload answers 200 when applied', async () => {
      const r = await call(api.port, 'POST', '/api/reload', AUTH);
      expect(r.status).to.equal(200);
      expect(r.json()).to.deep.equal({ ok: true, configVersion: 4, problems: [] });
    });

    it('POST /api/reload answers 422 with every problem when the config is invalid', async () => {
      control.reloadResult = { ok: false, configVersion: 3, problems: ['/workers: must be >= 1', '/users/0: must have required property name'] };
      const r = await call(api.port, 'POST', '/api/reload', AUTH);
      expect(r.status).to.equal(422);
      expect(r.json()).to.deep.equal(control.reloadResult);
    });

    it('GET /metrics returns the Prometheus text format', async () => {
      const r = await call(api.port, 'GET', '/metrics', AUTH);
      expect(r.status).to.equal(200);
      expect(r.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
      expect(r.text).to.equal('# TYPE dbmesh_workers gauge\ndbmesh_workers 1\n');
    });

    it('answers 404 for an unknown path and 405 (with Allow) for a wrong method', async () => {
      const missing = await call(api.port, 'GET', '/api/nope', AUTH);
      expect(missing.status).to.equal(404);
      expect(missing.json()).to.deep.equal({ error: 'not found' });
      const wrong = await call(api.port, 'GET', '/api/reload', AUTH);
      expect(wrong.status).to.equal(405);
      expect(wrong.headers.allow).to.equal('POST');
      expect((await call(api.port, 'POST', '/api/status', AUTH)).status).to.equal(405);
      expect(control.calls).to.deep.equal([]);
    });

    it('refuses malformed backend actions before they reach the control: bad escape, unknown action, bad wait', async () => {
      expect((await call(api.port, 'POST', '/api/backends/%ZZ/db1/drain', AUTH)).status).to.equal(404);
      expect((await call(api.port, 'POST', '/api/backends/main/db1/explode', AUTH)).status).to.equal(404);
      for (const wait of ['-1', 'abc', '1.5', '600001']) {
        const r = await call(api.port, 'POST', `/api/backends/main/db1/drain?wait=${wait}`, AUTH);
        expect(r.status, wait).to.equal(400);
      }
      expect((await call(api.port, 'GET', '/api/backends/main/db1/drain', AUTH)).status).to.equal(405);
      // Well formed but unknown to the control: 404 naming it.
      const unknown = await call(api.port, 'POST', '/api/backends/main/nope/drain', AUTH);
      expect(unknown.status).to.equal(404);
      expect(unknown.json()).to.deep.equal({ error: "no backend 'nope' in cluster 'main'" });
    });

    it('answers 500 without details when the control throws', async () => {
      control.statusImpl = () => {
        throw new Error('boom at /secret/path/file.js:12');
      };
      const r = await call(api.port, 'GET', '/api/status', AUTH);
      expect(r.status).to.equal(500);
      expect(r.text).not.to.match(/boom|secret|at /);
      expect(r.json()).to.have.property('error');
    });
  });

  describe('request bodies', () => {
    it('answers 400 to an upgrade body that is not JSON, lacks a version, or names a path', async () => {
      for (const body of ['', '{not json', '[]', 'null', '{"version": 2}', '{"version": "../../etc"}', '{"version": "1.2"}']) {
        const r = await call(api.port, 'POST', '/api/upgrade', { ...AUTH, 'content-type': 'application/json' }, body);
        expect(r.status, body).to.equal(400);
        expect(r.json()).to.have.property('error').that.is.a('string');
      }
      expect(control.calls).to.deep.equal([]);
    });

    it('answers 413 to a body over 64 KiB, declared or chunked', async () => {
      const big = Buffer.alloc(70 * 1024, 'x');
      const declared = await call(api.port, 'POST', '/api/reload', AUTH, big);
      expect(declared.status).to.equal(413);
      expect(declared.json()).to.have.property('error');
      const chunked = await call(api.port, 'POST', '/api/upgrade', { ...AUTH, 'transfer-encoding': 'chunked' }, big);
      expect(chunked.status).to.equal(413);
      const exactly = await call(api.port, 'POST', '/api/upgrade', AUTH, `{"version":"1.2.3"}${' '.repeat(64 * 1024 - 19)}`);
      expect(exactly.status).to.equal(200);
      expect(control.calls).to.deep.equal(['upgrade 1.2.3']);
    });
  });

  describe('upgrade and rollback streams', () => {
    it('streams each progress event as it happens, then the result line', async () => {
      const gate = deferred<void>();
      control.upgradeImpl = async (version, onProgress) => {
        onProgress({ phase: 'start', message: `upgrading to ${version}` });
        await gate.promise; // held until the test has seen the first line
        onProgress({ phase: 'spawned', message: 'worker 5000 started', workerPid: 5000 });
        onProgress({ phase: 'done', message: 'all workers on 0.2.0', sessionsMoved: 3 });
        return { ok: true, fromVersion: '0.1.0', toVersion: version, sessionsMoved: 3, sessionsClosed: 1 };
      };
      const lines: unknown[] = [];
      const firstLine = deferred<void>();
      const finished = new Promise<{ contentType: string | undefined; status: number }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: api.port, method: 'POST', path: '/api/upgrade', headers: AUTH, agent: false }, (res) => {
          let pending = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            pending += chunk;
            for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
              lines.push(JSON.parse(pending.slice(0, nl)));
              pending = pending.slice(nl + 1);
              if (lines.length === 1) firstLine.resolve();
            }
          });
          res.on('end', () => resolve({ contentType: res.headers['content-type'], status: res.statusCode ?? 0 }));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ version: '0.2.0' }));
      });
      await firstLine.promise;
      expect(lines).to.deep.equal([{ phase: 'start', message: 'upgrading to 0.2.0' }]);
      gate.resolve();
      const { contentType, status } = await finished;
      expect(status).to.equal(200);
      expect(contentType).to.match(/^application\/x-ndjson/);
      expect(lines).to.deep.equal([
        { phase: 'start', message: 'upgrading to 0.2.0' },
        { phase: 'spawned', message: 'worker 5000 started', workerPid: 5000 },
        { phase: 'done', message: 'all workers on 0.2.0', sessionsMoved: 3 },
        { result: { ok: true, fromVersion: '0.1.0', toVersion: '0.2.0', sessionsMoved: 3, sessionsClosed: 1 } },
      ]);
    });

    it('answers 200 for a failed rollback: the result line says so', async () => {
      control.upgradeImpl = async (version, onProgress) => {
        onProgress({ phase: 'rollback', message: 'no previous release' });
        return { ok: false, fromVersion: '0.1.0', toVersion: version, sessionsMoved: 0, sessionsClosed: 0, error: 'no previous release' };
      };
      const r = await call(api.port, 'POST', '/api/rollback', AUTH);
      expect(r.status).to.equal(200);
      expect(r.text.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).to.deep.equal([
        { phase: 'rollback', message: 'no previous release' },
        { result: { ok: false, fromVersion: '0.1.0', toVersion: '0.0.9', sessionsMoved: 0, sessionsClosed: 0, error: 'no previous release' } },
      ]);
    });

    it('ends the stream with a failed result, and no details, when the control throws', async () => {
      control.upgradeImpl = async () => {
        throw new Error('TypeError at /opt/dbmesh/dist/src/master/supervisor.js:99');
      };
      const r = await call(api.port, 'POST', '/api/upgrade', AUTH, '{"version":"0.3.0"}');
      expect(r.status).to.equal(200);
      const last = JSON.parse(r.text.trimEnd().split('\n').pop() as string) as { result: UpgradeResult };
      expect(last.result.ok).to.equal(false);
      expect(last.result.toVersion).to.equal('0.3.0');
      expect(r.text).not.to.match(/supervisor|TypeError/);
    });
  });

  describe('stop', () => {
    it('answers 202 first, then calls stop (which may close the server under the response)', async () => {
      const stopped = deferred<void>();
      control.stopImpl = async () => {
        stopped.resolve();
        await api.close();
      };
      const r = await call(api.port, 'POST', '/api/stop', AUTH);
      expect(r.status).to.equal(202);
      expect(r.json()).to.deep.equal({ stopping: true });
      await stopped.promise;
      expect(control.calls).to.deep.equal(['stop']);
    });
  });
});

/** A raw connection that reads (so the server's close is seen) and says when it closed. */
function rawConnection(port: number): Promise<{ socket: net.Socket; closed: Promise<number>; data: () => string }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = net.connect(port, '127.0.0.1');
    socket.setEncoding('utf8').on('data', (t: string) => { text += t; });
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    socket.once('error', () => {});
    socket.once('connect', () => resolve({ socket, closed, data: () => text }));
    socket.once('error', reject);
  });
}

describe('master/admin-api: connection cap and timeouts', () => {
  let control: TestControl;
  let api: AdminApi;
  const sockets: net.Socket[] = [];
  const start = async (limits: Partial<AdminConfig>): Promise<void> => {
    api = await startAdminApi({ ...DEFAULTS.admin, port: 0, token: TOKEN, ...limits }, control, silent);
  };
  const open = async (): Promise<Awaited<ReturnType<typeof rawConnection>>> => {
    const c = await rawConnection(api.port);
    sockets.push(c.socket);
    return c;
  };
  /** The server has seen `n` connections (accepting is asynchronous to the client's connect). */
  const accepted = async (n: number): Promise<void> => {
    while (api.connections < n) await new Promise((r) => setImmediate(r));
  };

  beforeEach(() => {
    control = new TestControl();
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await api.close();
  });

  it('over the cap, a new connection closes the oldest idle one and is served', async () => {
    await start({ maxConnections: 3 });
    const first = await open();
    await accepted(1);
    const others = [await open(), await open()];
    await accepted(3);
    const r = await call(api.port, 'GET', '/api/status', AUTH);
    expect(r.status).to.equal(200);
    await first.closed;
    expect(others.every((o) => !o.socket.destroyed)).to.equal(true);
    expect(api.connections).to.be.at.most(3);
  });

  it('when every connection has a request in progress, a new one is closed at once', async () => {
    await start({ maxConnections: 2 });
    const release = deferred<void>();
    let working = 0;
    control.reload = async () => {
      working++;
      await release.promise;
      return control.reloadResult;
    };
    const busy = [call(api.port, 'POST', '/api/reload', AUTH), call(api.port, 'POST', '/api/reload', AUTH)];
    while (working < 2) await new Promise((r) => setImmediate(r));
    const extra = await open();
    await extra.closed;
    expect(extra.data()).to.equal('');
    release.resolve();
    expect((await Promise.all(busy)).map((r) => r.status)).to.deep.equal([200, 200]);
  });

  it('closes a connection whose headers do not arrive within headersTimeoutMs', async () => {
    await start({ headersTimeoutMs: 1000, requestTimeoutMs: 1000 });
    const slow = await open();
    slow.socket.write('GET /api/status HTTP/1.1\r\nHost: x\r\n'); // never the blank line
    const t0 = Date.now();
    const closedAt = await slow.closed;
    expect(closedAt - t0).to.be.within(900, 3500); // checked once a second
  });

  it('closes an idle keep-alive connection after keepAliveTimeoutMs', async () => {
    await start({ keepAliveTimeoutMs: 1000 });
    const c = await open();
    c.socket.write(`GET /api/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
    const t0 = Date.now();
    const closedAt = await c.closed;
    expect(c.data()).to.match(/^HTTP\/1\.1 200/);
    expect(closedAt - t0).to.be.within(900, 3000);
  });

  it('the idle timeout closes a silent connection, but not one whose request is still being worked on', async () => {
    await start({ idleTimeoutMs: 1000, headersTimeoutMs: 5000 });
    control.reload = async () => {
      await new Promise((r) => setTimeout(r, 2500)); // silent for more than the idle timeout
      return control.reloadResult;
    };
    const silent = await open(); // sends nothing: the idle timeout (1 s) comes before the headers one (5 s)
    const t0 = Date.now();
    const reload = call(api.port, 'POST', '/api/reload', AUTH);
    expect((await silent.closed) - t0).to.be.below(3000);
    expect((await reload).status).to.equal(200);
  });

  it('applies a new cap and timeouts on configure (a reload)', async () => {
    await start({ maxConnections: 10 });
    api.configure({ ...DEFAULTS.admin, port: 0, token: TOKEN, maxConnections: 1 });
    expect(api.maxConnections).to.equal(1);
    const first = await open();
    await accepted(1);
    expect((await call(api.port, 'GET', '/api/status', AUTH)).status).to.equal(200);
    await first.closed;
  });
});

describe('master/fd-budget', () => {
  const LIMITS = (soft: string): string => `Limit                     Soft Limit           Hard Limit           Units
Max processes             63523                63523                processes
Max open files            ${soft}                 20000                files
`;

  it('reads the open-file limit from /proc/self/limits text', () => {
    expect(openFileLimit(LIMITS('1024'))).to.equal(1024);
    expect(openFileLimit(LIMITS('unlimited'))).to.equal(null);
    expect(openFileLimit('')).to.equal(null);
    expect(openFileLimit()).to.be.a('number'); // this process, on Linux
  });

  it('keeps the admin API within a quarter of the master\'s descriptors', () => {
    expect(adminConnectionCap(64, 1_048_576)).to.equal(64);
    expect(adminConnectionCap(64, 100)).to.equal(25);
    expect(adminConnectionCap(64, 2)).to.equal(1);
    expect(adminConnectionCap(64, null)).to.equal(64);
  });
});
