/**
 * `dbmesh status|reload|upgrade|rollback|stop` as child processes (bin/dbmesh.js) against a
 * real admin API server started in this process with an in-test MasterControl.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import winston from 'winston';
import { DEFAULTS } from '../../../src/config/index.js';
import { startAdminApi, type AdminApi } from '../../../src/master/admin-api.js';
import type { MasterControl, MasterStatus, ProgressEvent, ReloadResult, UpgradeResult } from '../../../src/master/control.js';
import type { DigestRow } from '../../../src/insight/digest-store.js';
import { AllowlistStub } from '../../helpers/control-stubs.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = path.join(REPO, 'bin', 'dbmesh.js');
const TOKEN = 'cli-test-token';
const MIB = 1024 * 1024;

const STATUS: MasterStatus = {
  pid: 4242,
  version: '0.1.0',
  uptimeSeconds: 93784,
  configVersion: 7,
  configPath: '/etc/dbmesh/dbmesh.yaml',
  workers: [
    { id: 1, pid: 5001, version: '0.1.0', state: 'ready', connections: 12, rssBytes: 50 * MIB, startedAt: '2024-01-01T00:00:00.000Z', restarts: 0, pinned: {}, pools: {} },
    { id: 2, pid: 5002, version: '0.2.0', state: 'spawning', bootPhase: 'probing backends', connections: 0, rssBytes: 30.5 * MIB, startedAt: '2024-01-01T00:00:01.000Z', restarts: 2, pinned: {}, pools: {} },
  ],
  alerts: ['crash loop in slot 2: 5 crashes in 60 s; backing off 8 s'],
  watchdog: { softLimitBytes: 512 * MIB, hardLimitBytes: 1024 * MIB, softReplacements: 1, hardKills: 0 },
};

type Progress = (e: ProgressEvent) => void;

class TestControl extends AllowlistStub implements MasterControl {
  reloadResult: ReloadResult = { ok: true, configVersion: 8, problems: [] };
  upgradeImpl: (version: string, onProgress: Progress) => Promise<UpgradeResult> = async (version) => ({
    ok: true, fromVersion: '0.1.0', toVersion: version, sessionsMoved: 0, sessionsClosed: 0,
  });
  readonly calls: string[] = [];

  status(): MasterStatus {
    return STATUS;
  }
  async reload(): Promise<ReloadResult> {
    return this.reloadResult;
  }
  upgrade(version: string, onProgress: Progress): Promise<UpgradeResult> {
    this.calls.push(`upgrade ${version}`);
    return this.upgradeImpl(version, onProgress);
  }
  rollback(onProgress: Progress): Promise<UpgradeResult> {
    this.calls.push('rollback');
    return this.upgradeImpl('0.0.9', onProgress);
  }
  async stop(): Promise<void> {
    this.calls.push('stop');
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
    return '';
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI; onStdout sees stdout as it grows (to act while the child still runs). */
function dbmesh(args: string[], onStdout?: (soFar: string) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      onStdout?.(stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('cli: control commands', function () {
  let dir: string;
  let control: TestControl;
  let api: AdminApi;
  let config: string;

  function writeConfig(name: string, admin: { port: number; token: string }): string {
    const file = path.join(dir, name);
    const body = {
      listen: { host: '127.0.0.1', port: 6033 },
      admin: { host: '127.0.0.1', ...admin },
      workers: 1,
      users: [{ name: 'app', password: 'app_pw', cluster: 'main' }],
      clusters: [{ name: 'main', type: 'replication', backends: [{ id: 'db1', host: '127.0.0.1', port: 13306 }] }],
    };
    writeFileSync(file, JSON.stringify(body));
    return file;
  }

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-cli-'));
    control = new TestControl();
    api = await startAdminApi({ ...DEFAULTS.admin, port: 0, token: TOKEN }, control, winston.createLogger({ silent: true }));
    config = writeConfig('dbmesh.json', { port: api.port, token: TOKEN });
  });

  after(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    control.calls.length = 0;
    control.reloadResult = { ok: true, configVersion: 8, problems: [] };
  });

  describe('status', () => {
    it('prints the master, a table of workers and the alerts', async () => {
      const r = await dbmesh(['status', '--config', config]);
      expect(r.stderr).to.equal('');
      expect(r.code).to.equal(0);
      const lines = r.stdout.split('\n');
      expect(lines).to.include('master pid      4242');
      expect(lines).to.include('version         0.1.0');
      expect(lines).to.include('uptime          1d 2h 3m 4s');
      expect(lines).to.include('config version  7 (/etc/dbmesh/dbmesh.yaml)');
      expect(lines).to.include('WORKER  PID   VERSION  STATE                        CONNECTIONS  RSS MiB  RESTARTS');
      expect(lines).to.include('1       5001  0.1.0    ready                        12           50.0     0');
      expect(lines).to.include('2       5002  0.2.0    spawning (probing backends)  0            30.5     2');
      expect(lines).to.include('  crash loop in slot 2: 5 crashes in 60 s; backing off 8 s');
    });

    it('prints the status JSON with --json', async () => {
      const r = await dbmesh(['status', '--json', '--config', config]);
      expect(r.code).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.equal(STATUS);
    });

    it('says in one line that the master cannot be reached, and exits 1', async () => {
      const port = await freePort();
      const file = writeConfig('down.json', { port, token: TOKEN });
      const r = await dbmesh(['status', '--config', file]);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.equal(
        `dbmesh: cannot reach the dbmesh master at 127.0.0.1:${port} (ECONNREFUSED): is it running? (config: ${file})\n`,
      );
    });

    it('says the token was refused, and exits 1', async () => {
      const file = writeConfig('wrong-token.json', { port: api.port, token: 'not-the-token' });
      const r = await dbmesh(['status', '--config', file]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^dbmesh: .*refused the admin token \(401\).*admin\.token/);
      expect(r.stderr.trimEnd().split('\n')).to.have.length(1);
    });

    it('exits 1 without calling when the config has no token', async () => {
      const file = writeConfig('no-token.json', { port: api.port, token: '' });
      const r = await dbmesh(['status', '--config', file]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/admin\.token is empty/);
    });

    it('exits 2 listing the problems when the config file is invalid', async () => {
      const file = path.join(dir, 'bad.json');
      writeFileSync(file, '{"workers": 0}');
      const r = await dbmesh(['status', '--config', file]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/invalid/);
    });
  });

  describe('reload', () => {
    it('prints the new config version', async () => {
      const r = await dbmesh(['reload', '--config', config]);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal('reloaded (config version 8)\n');
    });

    it('exits 2 listing every problem when the master refuses the config', async () => {
      control.reloadResult = { ok: false, configVersion: 7, problems: ['/workers: must be >= 1', '/clusters/0/type: must be one of replication, tidb'] };
      const r = await dbmesh(['reload', '--config', config]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.equal(
        'reload refused: the config is invalid\n  /workers: must be >= 1\n  /clusters/0/type: must be one of replication, tidb\n',
      );
    });
  });

  describe('upgrade and rollback', () => {
    it('prints each progress line as it arrives, then the outcome', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let resultSent = false;
      control.upgradeImpl = async (version, onProgress) => {
        onProgress({ phase: 'start', message: `upgrading 0.1.0 -> ${version}` });
        await gate; // held until the child has printed the first line
        onProgress({ phase: 'moved', message: '3 sessions moved', sessionsMoved: 3 });
        resultSent = true;
        return { ok: true, fromVersion: '0.1.0', toVersion: version, sessionsMoved: 3, sessionsClosed: 1 };
      };
      let sawFirstBeforeResult: boolean | undefined;
      const r = await dbmesh(['upgrade', '--version', '0.2.0', '--config', config], (soFar) => {
        if (sawFirstBeforeResult === undefined && soFar.includes('upgrading 0.1.0 -> 0.2.0\n')) {
          sawFirstBeforeResult = !resultSent;
          release();
        }
      });
      expect(sawFirstBeforeResult).to.equal(true);
      expect(control.calls).to.deep.equal(['upgrade 0.2.0']);
      expect(r.stderr).to.equal('');
      expect(r.code).to.equal(0);
      expect(r.stdout.split('\n')).to.deep.equal([
        'start     upgrading 0.1.0 -> 0.2.0',
        'moved     3 sessions moved',
        'upgraded 0.1.0 -> 0.2.0: 3 sessions moved, 1 closed',
        '',
      ]);
    });

    it('prints why an upgrade failed and exits 1', async () => {
      control.upgradeImpl = async (version, onProgress) => {
        onProgress({ phase: 'failed', message: 'worker 5003 exited before ready' });
        onProgress({ phase: 'rollback', message: 'back on 0.1.0' });
        return { ok: false, fromVersion: '0.1.0', toVersion: version, sessionsMoved: 0, sessionsClosed: 0, error: 'new workers did not become ready' };
      };
      const r = await dbmesh(['upgrade', '--version', '0.3.0', '--config', config]);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('failed    worker 5003 exited before ready\nrollback  back on 0.1.0\n');
      expect(r.stderr).to.equal('upgrade failed: new workers did not become ready\n');
    });

    it('refuses a malformed version with the master\'s reason, exit 1', async () => {
      const r = await dbmesh(['upgrade', '--version', '../x', '--config', config]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^dbmesh: the master answered HTTP 400: not a release version/);
      expect(control.calls).to.deep.equal([]);
    });

    it('rollback reports like upgrade', async () => {
      control.upgradeImpl = async (version) => ({ ok: true, fromVersion: '0.2.0', toVersion: version, sessionsMoved: 1, sessionsClosed: 0 });
      const r = await dbmesh(['rollback', '--config', config]);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal('rolled back 0.2.0 -> 0.0.9: 1 session moved, 0 closed\n');
      expect(control.calls).to.deep.equal(['rollback']);
    });

    it('upgrade is unreachable-aware too', async () => {
      const port = await freePort();
      const file = writeConfig('down2.json', { port, token: TOKEN });
      const r = await dbmesh(['upgrade', '--version', '0.2.0', '--config', file]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^dbmesh: cannot reach the dbmesh master at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    });
  });

  describe('stop', () => {
    it('prints stopping once the master accepted', async () => {
      const r = await dbmesh(['stop', '--config', config]);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal('stopping\n');
      // The master calls stop() once the 202 is out; allow that tick to pass.
      for (let i = 0; i < 50 && control.calls.length === 0; i++) await new Promise((r) => setImmediate(r));
      expect(control.calls).to.deep.equal(['stop']);
    });
  });
});
