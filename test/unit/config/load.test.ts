import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import {
  ConfigError,
  DEFAULTS,
  configSchema,
  installRoot,
  loadConfigFile,
  parseConfig,
  type Config,
} from '../../../src/config/index.js';

const MINIMAL = {
  listen: { host: '127.0.0.1', port: 6033 },
  admin: { host: '127.0.0.1', port: 6034, token: 'change-me' },
  workers: 2,
  users: [{ name: 'app', password: 'app_pw', cluster: 'main' }],
  clusters: [
    {
      name: 'main',
      type: 'replication',
      backends: [
        { id: 'db1', host: '127.0.0.1', port: 13306 },
        { id: 'db2', host: '127.0.0.1', port: 13307 },
        { id: 'db3', host: '127.0.0.1', port: 13308 },
      ],
    },
  ],
  monitor: { user: 'monitor', password: 'monitor_pw' },
};

const MINIMAL_YAML = `
listen: { host: 127.0.0.1, port: 6033 }
admin: { host: 127.0.0.1, port: 6034, token: change-me }
workers: 2
users:
  - { name: app, password: app_pw, cluster: main }
clusters:
  - name: main
    type: replication
    backends:
      - { id: db1, host: 127.0.0.1, port: 13306 }
      - { id: db2, host: 127.0.0.1, port: 13307 }
      - { id: db3, host: 127.0.0.1, port: 13308 }
monitor: { user: monitor, password: monitor_pw }
`;

/** "Billion laughs": nine levels of nine aliases each, 9^9 strings once expanded. */
const ALIAS_BOMB = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  ...'bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`),
  MINIMAL_YAML].join('\n');

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = path.join(REPO, 'bin', 'dbmesh.js');

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  expect.fail('expected a ConfigError');
}

function isDeepFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeepFrozen);
}

describe('config/load', () => {
  let dir: string;
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-config-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads the minimal form and fills every default', () => {
    const c = loadConfigFile(write('dbmesh.json', JSON.stringify(MINIMAL)));
    expect(c.listen).to.deep.equal({ host: '127.0.0.1', port: 6033 });
    expect(c.admin).to.deep.equal({
      host: '127.0.0.1', port: 6034, token: 'change-me', maxConnections: 64,
      headersTimeoutMs: 5000, requestTimeoutMs: 30000, keepAliveTimeoutMs: 5000, idleTimeoutMs: 60000,
    });
    expect(c.workers).to.equal(2);
    expect(c.users).to.deep.equal([
      { name: 'app', password: 'app_pw', cluster: 'main', backendUser: 'app', backendPassword: 'app_pw', readFrom: 'replica', admin: false, fileAccess: false, multiStatements: false },
    ]);
    expect(c.clusters[0]!.backends[1]).to.deep.equal({ id: 'db2', host: '127.0.0.1', port: 13307, weight: 1, maxConnections: 0 });
    expect(c.monitor).to.deep.equal({ user: 'monitor', password: 'monitor_pw', intervalMs: 1000, timeoutMs: 1000, failures: 2, successes: 2 });
    expect(c.failover).to.deep.equal({ holdMs: 5000, retryReads: true, readTimeoutMs: 0 });
    expect(c.firewall).to.deep.equal({ guards: 'none', rules: [] });
    expect(c.limits).to.deep.equal({
      maxAllowedPacket: 67108864,
      maxClientConnections: 10000,
      connectTimeoutMs: 5000,
      handshakeTimeoutMs: 10000,
      maxHandshakePacket: 16384,
      maxPendingHandshakes: 2000,
    });
    expect(c.protocol).to.deep.equal({ allowLocalInfile: false });
    expect(c.releases.dir).to.equal(path.join(installRoot(), 'releases'));
    expect(c.log).to.deep.equal({ level: 'info' });
  });

  it('fills section defaults when only users and clusters are given', () => {
    const c = parseConfig(JSON.stringify({ users: MINIMAL.users, clusters: MINIMAL.clusters }), 'json');
    expect(c.listen).to.deep.equal(DEFAULTS.listen);
    expect(c.admin).to.deep.equal({ ...DEFAULTS.admin, token: '' });
    expect(c.workers).to.equal(os.availableParallelism());
    expect(c.monitor).to.deep.equal({ user: 'monitor', password: '', intervalMs: 1000, timeoutMs: 1000, failures: 2, successes: 2 });
  });

  it('loads the YAML equivalent (.yaml and .yml) to the same snapshot', () => {
    const fromJson = loadConfigFile(write('a.json', JSON.stringify(MINIMAL)));
    expect(loadConfigFile(write('a.yaml', MINIMAL_YAML))).to.deep.equal(fromJson);
    expect(loadConfigFile(write('a.yml', MINIMAL_YAML))).to.deep.equal(fromJson);
    expect(loadConfigFile(write('a.conf', MINIMAL_YAML))).to.deep.equal(fromJson);
  });

  it('returns a deep-frozen snapshot', () => {
    const c: Config = parseConfig(JSON.stringify(MINIMAL), 'json');
    expect(isDeepFrozen(c)).to.equal(true);
    expect(() => {
      (c.clusters[0]!.backends[0] as { port: number }).port = 1;
    }).to.throw(TypeError);
  });

  it('resolves a relative releases.dir against the config file directory', () => {
    const file = write('r.json', JSON.stringify({ ...MINIMAL, releases: { dir: 'rel' } }));
    expect(loadConfigFile(file).releases.dir).to.equal(path.join(dir, 'rel'));
  });

  it('lists every schema problem with its path', () => {
    const bad = structuredClone(MINIMAL) as Record<string, unknown> & typeof MINIMAL;
    (bad.listen as Record<string, unknown>).hots = 'x';
    (bad.clusters[0]!.backends[1] as Record<string, unknown>).port = '13307';
    delete (bad.users[0] as Partial<(typeof bad.users)[0]>).password;
    bad.workers = 0;
    (bad as Record<string, unknown>).limits = { maxAllowedPacket: 512 };
    (bad.clusters[0] as Record<string, unknown>).type = 'galera';
    const problems = problemsOf(() => loadConfigFile(write('bad.json', JSON.stringify(bad))));
    expect(problems).to.have.members([
      'listen: unknown property "hots"',
      'clusters[0].backends[1].port: must be integer',
      'users[0]: missing required property "password"',
      'workers: must be >= 1',
      'limits.maxAllowedPacket: must be >= 1024',
      'clusters[0].type: must be one of "replication", "tidb"',
    ]);
  });

  it('reports semantic problems: unknown cluster, duplicates, empty backends', () => {
    const bad = structuredClone(MINIMAL);
    bad.users.push({ name: 'app', password: 'x', cluster: 'mian' });
    bad.clusters[0]!.backends[2]!.id = 'db1';
    bad.clusters.push({ name: 'main', type: 'tidb', backends: [] });
    const problems = problemsOf(() => parseConfig(JSON.stringify(bad), 'json'));
    expect(problems).to.have.members([
      'users[1].cluster: unknown cluster "mian"',
      'users[1].name: duplicate user name "app" (first at users[0])',
      'clusters[0].backends[2].id: duplicate backend id "db1" (first at clusters[0].backends[0])',
      'clusters[1].name: duplicate cluster name "main" (first at clusters[0])',
      'clusters[1].backends: a cluster needs at least one backend',
    ]);
  });

  it('refuses an admin request timeout below its headers timeout (node:http would throw at start)', () => {
    expect(problemsOf(() => parseConfig(JSON.stringify({ ...MINIMAL, admin: { token: 't', requestTimeoutMs: 2000 } })))).to.deep.equal([
      'admin.requestTimeoutMs: 2000 is below admin.headersTimeoutMs (5000): a request includes its headers',
    ]);
  });

  it('refuses a ready timeout a backend probe can outlast, and a ready limit below it', () => {
    expect(problemsOf(() => parseConfig(JSON.stringify({ ...MINIMAL, supervisor: { readyTimeoutMs: 5000 } })))[0]).to.match(
      /^supervisor\.readyTimeoutMs: 5000 is below twice limits\.connectTimeoutMs \(5000\): probing a backend that does not answer/,
    );
    expect(problemsOf(() => parseConfig(JSON.stringify({ ...MINIMAL, supervisor: { readyLimitMs: 10000 } })))).to.deep.equal([
      'supervisor.readyLimitMs: 10000 is below supervisor.readyTimeoutMs (20000)',
    ]);
    const ok = parseConfig(JSON.stringify({ ...MINIMAL, limits: { connectTimeoutMs: 1000 }, supervisor: { readyTimeoutMs: 2000, readyLimitMs: 2000 } }));
    expect(ok.supervisor).to.include({ readyTimeoutMs: 2000, readyLimitMs: 2000 });
  });

  it('refuses admin and listen on the same address', () => {
    const bad = { ...MINIMAL, admin: { port: 6033, token: 't' } };
    expect(problemsOf(() => parseConfig(JSON.stringify(bad)))).to.deep.equal([
      'admin.port: 6033 is already used by listen (127.0.0.1:6033)',
    ]);
  });

  it('refuses watchdog limits that would kill every worker as it starts, or a soft limit above the hard one', () => {
    const problems = (watchdog: Record<string, unknown>): readonly string[] => problemsOf(() => parseConfig(JSON.stringify({ ...MINIMAL, watchdog })));
    expect(problems({ softLimit: '0MiB', hardLimit: '0%' })).to.have.members([
      'watchdog.softLimit: "0MiB" must be more than 0 (every worker would be over it as soon as it starts)',
      'watchdog.hardLimit: "0%" must be more than 0 (every worker would be over it as soon as it starts)',
    ]);
    expect(problems({ hardLimit: '100MiB' })[0]).to.match(/^watchdog\.hardLimit: "100MiB" is below the minimum of 128MiB: an idle worker alone uses about 60 MiB/);
    expect(problems({ softLimit: '101%' })).to.deep.equal(['watchdog.softLimit: "101%" is more than 100% of the memory available']);
    expect(problems({ softLimit: '2GiB', hardLimit: '1.5GiB' })[0]).to.match(/^watchdog\.softLimit: "2GiB" is above watchdog\.hardLimit "1\.5GiB": a worker would be killed/);
    expect(problems({ softLimit: '60%', hardLimit: '50%' })[0]).to.match(/^watchdog\.softLimit: "60%" is above watchdog\.hardLimit "50%"/);
    expect(problems({ hardLimit: '512MiB' })[0]).to.match(/^watchdog\.hardLimit: "512MiB" is below the default watchdog\.softLimit "1024MiB"; set softLimit too/);
    expect(problems({ softLimit: '4GiB' })[0]).to.match(/^watchdog\.softLimit: "4GiB" is above the default watchdog\.hardLimit "2048MiB"; set hardLimit too/);
    // Equal limits (no graceful replacement), and MiB against % (the master decides), pass.
    for (const ok of [{ softLimit: '300MiB', hardLimit: '300MiB' }, { softLimit: '40%', hardLimit: '512MiB' }, { softLimit: '128MiB' }]) {
      expect(parseConfig(JSON.stringify({ ...MINIMAL, watchdog: ok })).watchdog).to.include(ok);
    }
  });

  it('refuses pool periods too short to mean anything, and a backend that is dbmesh itself', () => {
    const bad = structuredClone(MINIMAL) as Record<string, unknown> & typeof MINIMAL;
    (bad.clusters[0] as Record<string, unknown>).pool = { maxLifetimeMs: 5, keepAliveMs: 999 };
    bad.clusters[0]!.backends[2] = { id: 'db3', host: 'localhost', port: 6033 };
    expect(problemsOf(() => parseConfig(JSON.stringify(bad)))).to.have.members([
      'clusters[0].pool.maxLifetimeMs: must be 0 (off) or at least 1000 (pool housekeeping runs once a second)',
      'clusters[0].pool.keepAliveMs: must be 0 (off) or at least 1000 (pool housekeeping runs once a second)',
      "clusters[0].backends[2]: localhost:6033 is dbmesh's own listen address (dbmesh would connect to itself)",
    ]);
    const ok = structuredClone(MINIMAL) as Record<string, unknown> & typeof MINIMAL;
    (ok.clusters[0] as Record<string, unknown>).pool = { maxLifetimeMs: 0, keepAliveMs: 1000 };
    ok.clusters[0]!.backends[2] = { id: 'db3', host: '10.0.0.3', port: 6033 };
    expect(parseConfig(JSON.stringify(ok)).clusters[0]!.pool).to.include({ maxLifetimeMs: 0, keepAliveMs: 1000 });
  });

  it('reports syntax and read errors as ConfigError', () => {
    const json = problemsOf(() => loadConfigFile(write('s.json', '{"users": [')));
    expect(json[0]).to.match(/^invalid JSON: /);
    const yaml = problemsOf(() => loadConfigFile(write('s.yaml', 'users: [\n')));
    expect(yaml[0]).to.match(/^invalid YAML: /);
    expect(problemsOf(() => loadConfigFile(write('e.yaml', '# nothing\n')))).to.deep.equal(['(root): must be object']);
    expect(problemsOf(() => loadConfigFile(path.join(dir, 'missing.json')))).to.deep.equal(['cannot read file: no such file']);
  });

  it('refuses a YAML alias bomb as a syntax error instead of expanding it', () => {
    const problems = problemsOf(() => loadConfigFile(write('bomb.yaml', ALIAS_BOMB)));
    expect(problems).to.have.length(1);
    expect(problems[0]).to.match(/^invalid YAML: aliases expand too much \(over 100 alias uses/);
    // Anchors as people use them (shared settings) still load.
    const shared = `${MINIMAL_YAML.replace('type: replication', 'type: replication\n    pool: &pool { minIdle: 1 }')}
  - { name: other, type: tidb, pool: *pool, backends: [ { id: t1, host: 127.0.0.1 } ] }
`.replace('monitor: { user: monitor, password: monitor_pw }\n', '') + 'monitor: { user: monitor, password: monitor_pw }\n';
    expect(parseConfig(shared, 'yaml').clusters.map((c) => c.pool.minIdle)).to.deep.equal([1, 1]);
  });

  it('documents in the schema the same defaults it applies', () => {
    const s = configSchema.properties;
    const d = (p: { default?: unknown }): unknown => p.default;
    expect(d(s.limits.properties.maxAllowedPacket)).to.equal(DEFAULTS.limits.maxAllowedPacket);
    expect(d(s.limits.properties.maxClientConnections)).to.equal(DEFAULTS.limits.maxClientConnections);
    expect(d(s.limits.properties.connectTimeoutMs)).to.equal(DEFAULTS.limits.connectTimeoutMs);
    expect(d(s.limits.properties.handshakeTimeoutMs)).to.equal(DEFAULTS.limits.handshakeTimeoutMs);
    expect(d(s.limits.properties.maxHandshakePacket)).to.equal(DEFAULTS.limits.maxHandshakePacket);
    expect(d(s.limits.properties.maxPendingHandshakes)).to.equal(DEFAULTS.limits.maxPendingHandshakes);
    expect(d(s.listen.properties.host)).to.equal(DEFAULTS.listen.host);
    expect(d(s.listen.properties.port)).to.equal(DEFAULTS.listen.port);
    expect(d(s.admin.properties.port)).to.equal(DEFAULTS.admin.port);
    expect(d(s.admin.properties.token)).to.equal(DEFAULTS.admin.token);
    for (const k of ['maxConnections', 'headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs', 'idleTimeoutMs'] as const) {
      expect(d(s.admin.properties[k]), `admin.${k}`).to.equal(DEFAULTS.admin[k]);
    }
    expect(d(s.monitor.properties.user)).to.equal(DEFAULTS.monitor.user);
    expect(d(s.monitor.properties.intervalMs)).to.equal(DEFAULTS.monitor.intervalMs);
    expect(d(s.protocol.properties.allowLocalInfile)).to.equal(DEFAULTS.protocol.allowLocalInfile);
    expect(d(s.log.properties.level)).to.equal(DEFAULTS.log.level);
    for (const k of ['drainTimeoutMs', 'readyTimeoutMs', 'readyLimitMs', 'probationMs'] as const) {
      expect(d(s.supervisor.properties[k]), `supervisor.${k}`).to.equal(DEFAULTS.supervisor[k]);
    }
    const backend = configSchema.definitions.backend.properties;
    expect([backend.port.default, backend.weight.default, backend.maxConnections.default]).to.deep.equal([
      DEFAULTS.backend.port,
      DEFAULTS.backend.weight,
      DEFAULTS.backend.maxConnections,
    ]);
    expect(configSchema.definitions.user.properties.readFrom.default).to.equal(DEFAULTS.user.readFrom);
  });
});

describe('dbmesh config validate (CLI)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-cli-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function run(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { cwd: dir }, (err, stdout, stderr) => {
        resolve({ code: err ? (err as { code?: number }).code ?? null : 0, stdout, stderr });
      });
    });
  }

  it('exits 0 and prints "FILE: ok" for a valid file', async () => {
    writeFileSync(path.join(dir, 'good.json'), JSON.stringify(MINIMAL));
    const r = await run('config', 'validate', 'good.json');
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal('good.json: ok\n');
  });

  it('exits 2 and lists every problem on its own stderr line', async () => {
    const bad = structuredClone(MINIMAL) as typeof MINIMAL & { listen: Record<string, unknown> };
    bad.listen.hots = 'x';
    (bad.clusters[0]!.backends[1] as Record<string, unknown>).port = 'x';
    bad.users[0]!.cluster = 'nope';
    writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(bad));
    const r = await run('config', 'validate', 'bad.json');
    expect(r.code).to.equal(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).to.equal('bad.json: invalid');
    expect(lines.slice(1)).to.have.members([
      'listen: unknown property "hots"',
      'clusters[0].backends[1].port: must be integer',
      'users[0].cluster: unknown cluster "nope"',
    ]);
  });

  it('exits 2 with a clear message for an unreadable file', async () => {
    const r = await run('config', 'validate', 'missing.yaml');
    expect(r.code).to.equal(2);
    expect(r.stderr).to.equal('missing.yaml: cannot read file: no such file\n');
  });

  it('exits 2 for a YAML alias bomb ("billion laughs"), naming the problem', async () => {
    writeFileSync(path.join(dir, 'bomb.yaml'), ALIAS_BOMB);
    const r = await run('config', 'validate', 'bomb.yaml');
    expect(r.code).to.equal(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).to.equal('bomb.yaml: invalid');
    expect(lines[1]).to.match(/^invalid YAML: aliases expand too much .*billion laughs/);
  });

  it('start with an invalid config exits 2 and starts nothing', async () => {
    writeFileSync(path.join(dir, 'bad.yaml'), 'users: []\nclusters: []\n');
    const r = await run('start', '--config', 'bad.yaml');
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('users: must NOT have fewer than 1 items');
  });
});
