/**
 * `dbmesh start` with an address it cannot listen on: the listen port or the admin port held
 * by another process fails the start at once, exit 3, with a message naming the address and
 * what to do, before any worker starts; a worker that loses the race for the listen port (free
 * when the master tried it, taken before the worker bound it) fails the start the same way
 * instead of being restarted in a loop. Real processes; the ports are held by this process.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { freePort } from '../../helpers/dbmesh.js';
import { cli, writeFakeRelease } from '../../helpers/control.js';

function hold(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

/** The JSON log lines among stderr's lines. */
function logLines(stderr: string): Record<string, unknown>[] {
  return stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('dbmesh start: an address it cannot listen on', function () {
  this.timeout(30000);
  let dir: string;
  let held: net.Server | undefined;
  let port: number;
  let adminPort: number;

  const writeConfig = (extra: Record<string, unknown> = {}): string => {
    const file = path.join(dir, 'dbmesh.json');
    writeFileSync(file, JSON.stringify({
      listen: { host: '127.0.0.1', port },
      admin: { host: '127.0.0.1', port: adminPort, token: 't' },
      workers: 2,
      users: [{ name: 'app', password: 'app_pw', cluster: 'main' }],
      // Never reached: the start fails before any worker talks to a backend.
      clusters: [{ name: 'main', type: 'replication', backends: [{ id: 'db1', host: '127.0.0.1', port: 9 }] }],
      ...extra,
    }));
    return file;
  };

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-start-'));
    port = await freePort();
    adminPort = await freePort();
  });

  afterEach(async () => {
    await new Promise((r) => (held ? held.close(r) : r(undefined)));
    held = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('the listen port in use: exit 3 naming the address and the fix; no worker started', async () => {
    held = await hold(port);
    const r = await cli(['start', '--config', writeConfig()]);
    expect(r.code, r.stderr).to.equal(3);
    const line = r.stderr.split('\n').find((l) => l.startsWith('dbmesh: '));
    expect(line).to.equal(`dbmesh: cannot listen on 127.0.0.1:${port} (listen, the MySQL port): the address is already in use by another process (another dbmesh?); stop it (\`ss -ltnp 'sport = :${port}'\` shows which) or set listen.port to a free port (config: ${path.join(dir, 'dbmesh.json')})`);
    const logs = logLines(r.stderr);
    expect(logs.map((l) => l.message)).to.deep.equal(['dbmesh cannot start']);
  });

  it('the admin port in use: the same, for admin.port', async () => {
    held = await hold(adminPort);
    const r = await cli(['start', '--config', writeConfig()]);
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stderr).to.include(`dbmesh: cannot listen on 127.0.0.1:${adminPort} (admin, the admin API): the address is already in use`);
    expect(r.stderr).to.include('set admin.port to a free port');
    expect(logLines(r.stderr).map((l) => l.message)).to.deep.equal(['dbmesh cannot start']);
  });

  it('--standalone with the listen port in use: exit 3 too', async () => {
    held = await hold(port);
    const r = await cli(['start', '--standalone', '--config', writeConfig()]);
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stderr).to.include(`dbmesh: cannot listen on 127.0.0.1:${port} (listen, the MySQL port): the address is already in use`);
  });

  it('workers that cannot bind the listen port at start fail it (exit 3), not a restart loop', async () => {
    // A release whose worker answers its config as a real one does when its listen() fails
    // with EADDRINUSE: the race after the master's own check, made deterministic.
    const releases = path.join(dir, 'releases');
    writeFakeRelease(releases, '7.4.0-taken', [
      "process.send({ v: 1, act: 'hello', seq: 1, version: '7.4.0-taken', pid: process.pid });",
      "process.on('message', (m) => {",
      "  if (m && m.act === 'config') process.send({ v: 1, act: 'ack', seq: 2, ack: m.seq, ok: false,",
      `    error: 'listen EADDRINUSE: address already in use 127.0.0.1:${port}', data: { code: 'EADDRINUSE' } });`,
      '});',
      "process.on('disconnect', () => process.exit(0));",
    ].join('\n'), { current: true });
    const r = await cli(['start', '--config', writeConfig({ releases: { dir: releases } })]);
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stderr).to.include(`dbmesh: cannot listen on 127.0.0.1:${port} (listen, the MySQL port): the address is already in use`);
    const messages = logLines(r.stderr).map((l) => l.message);
    expect(messages.filter((m) => m === 'worker starting'), 'the two first workers, never a restart').to.have.length(2);
    expect(messages).to.not.include('dbmesh listening');
    expect(messages).to.include('dbmesh cannot start');
  });
});
