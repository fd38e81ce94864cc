/**
 * sd_notify from the master, over real unix datagram sockets: the test owns the
 * NOTIFY_SOCKET (bound with the same addon the notifier sends with), points the notifier at
 * it and asserts the exact datagrams. Also the systemd-notify fallback (a path, and an
 * @abstract name through a python3 receiver where python3 exists), the failure paths, and
 * the shipped unit file (parsed here, and `systemd-analyze verify` where it exists).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { DgramSocket } from 'node-unix-socket';
import { DEFAULTS } from '../../../src/config/defaults.js';
import { createNotifier, type Notifier, type NotifierLog } from '../../../src/master/systemd.js';

const { DgramSocket: Socket } = createRequire(import.meta.url)('node-unix-socket') as { DgramSocket: typeof DgramSocket };
const UNIT_FILE = fileURLToPath(new URL('../../../../deploy/systemd/dbmesh.service', import.meta.url));
const NOTIFIER_MODULE = new URL('../../../src/master/systemd.js', import.meta.url).href;

/** A NOTIFY_SOCKET owned by the test: each datagram, in arrival order. */
class Receiver {
  readonly path: string;
  private readonly socket: DgramSocket;
  private readonly queue: string[] = [];
  private readonly waiters: ((message: string) => void)[] = [];

  constructor(dir: string) {
    this.path = path.join(dir, 'notify.sock');
    this.socket = new Socket();
    this.socket.on('data', (buf: Buffer) => this.push(buf.toString('utf8')));
    this.socket.bind(this.path);
  }

  next(): Promise<string> {
    const message = this.queue.shift();
    return message !== undefined ? Promise.resolve(message) : new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The next datagram that is not systemd-notify's own BARRIER=1 (it waits for our read). */
  async nextNotification(): Promise<string> {
    for (;;) {
      const message = await this.next();
      if (message !== 'BARRIER=1') return message;
    }
  }

  pending(): readonly string[] {
    return this.queue;
  }

  close(): void {
    this.socket.close();
  }

  private push(message: string): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(message);
    else this.queue.push(message);
  }
}

interface Entry {
  readonly level: 'info' | 'warn' | 'debug';
  readonly message: string;
  readonly meta: Record<string, unknown>;
}

class RecordingLog implements NotifierLog {
  readonly entries: Entry[] = [];
  private waiters: { count: number; level: Entry['level']; resolve: () => void }[] = [];

  info(message: string, meta: Record<string, unknown>): void {
    this.add({ level: 'info', message, meta });
  }
  warn(message: string, meta: Record<string, unknown>): void {
    this.add({ level: 'warn', message, meta });
  }
  debug(message: string, meta: Record<string, unknown>): void {
    this.add({ level: 'debug', message, meta });
  }

  at(level: Entry['level']): Entry[] {
    return this.entries.filter((e) => e.level === level);
  }

  /** Resolves once `count` entries of `level` have been logged. */
  until(level: Entry['level'], count: number): Promise<void> {
    if (this.at(level).length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, level, resolve }));
  }

  private add(entry: Entry): void {
    this.entries.push(entry);
    this.waiters = this.waiters.filter((w) => {
      if (this.at(w.level).length < w.count) return true;
      w.resolve();
      return false;
    });
  }
}

function hasCommand(command: string, args: string[]): boolean {
  const r = spawnSync(command, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('master/systemd: sd_notify', () => {
  let dir: string;
  let receiver: Receiver | undefined;
  let notifier: Notifier | undefined;
  let log: RecordingLog;
  const savedSocket = process.env.NOTIFY_SOCKET;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-notify-'));
    log = new RecordingLog();
  });

  afterEach(() => {
    notifier?.close();
    notifier = undefined;
    receiver?.close();
    receiver = undefined;
    rmSync(dir, { recursive: true, force: true });
    if (savedSocket === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = savedSocket;
  });

  /** A receiver in this test's dir, NOTIFY_SOCKET pointing at it, and a notifier. */
  function listen(options?: Parameters<typeof createNotifier>[1]): { r: Receiver; n: Notifier } {
    receiver = new Receiver(dir);
    process.env.NOTIFY_SOCKET = receiver.path;
    notifier = createNotifier(log, options);
    return { r: receiver, n: notifier };
  }

  describe('in-process datagrams (a filesystem NOTIFY_SOCKET)', () => {
    it('sends READY=1, with a STATUS= line when a status is given', async () => {
      const { r, n } = listen();
      n.ready();
      expect(await r.next()).to.equal('READY=1');
      n.ready('serving 127.0.0.1:6033 with 2 workers (0.1.0)');
      expect(await r.next()).to.equal('READY=1\nSTATUS=serving 127.0.0.1:6033 with 2 workers (0.1.0)');
      expect(log.at('info').map((e) => e.meta.transport)).to.deep.equal(['datagram']);
      expect(log.at('warn')).to.deep.equal([]);
    });

    it('sends RELOADING=1 with MONOTONIC_USEC on CLOCK_MONOTONIC, then READY=1', async () => {
      const { r, n } = listen();
      const before = process.hrtime.bigint() / 1000n;
      n.reloading();
      const after = process.hrtime.bigint() / 1000n;
      n.ready();
      const reloading = await r.next();
      const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(reloading);
      expect(m, reloading).to.not.equal(null);
      const usec = BigInt(m![1]!);
      expect(usec >= before && usec <= after, `${before} <= ${usec} <= ${after}`).to.equal(true);
      expect(await r.next()).to.equal('READY=1');
    });

    it('sends STOPPING=1 and STATUS= lines in call order', async () => {
      const { r, n } = listen();
      n.status('draining 2 workers');
      n.stopping();
      n.status('stopped');
      expect([await r.next(), await r.next(), await r.next()]).to.deep.equal(['STATUS=draining 2 workers', 'STOPPING=1', 'STATUS=stopped']);
    });

    it('sends start-up progress as STATUS= with EXTEND_TIMEOUT_USEC= (microseconds)', async () => {
      const { r, n } = listen();
      n.progress('starting: worker 42 (slot 0) probing backends', 30_000);
      expect(await r.next()).to.equal('STATUS=starting: worker 42 (slot 0) probing backends\nEXTEND_TIMEOUT_USEC=30000000');
    });

    it('keeps STATUS= to one line, within the 4096-byte datagram systemd reads', async () => {
      const { r, n } = listen();
      n.status('config invalid:\nlisten: unknown property "hots"\r\nMAINPID=1');
      expect(await r.next()).to.equal('STATUS=config invalid: listen: unknown property "hots" MAINPID=1');
      n.ready('\u20ac'.repeat(5000)); // 3 UTF-8 bytes each
      const long = await r.next();
      expect(long).to.equal(`READY=1\nSTATUS=${'\u20ac'.repeat(1000)}`);
      expect(Buffer.byteLength(long)).to.be.below(4096);
    });

    it('takes NOTIFY_SOCKET out of the environment, so forked workers do not inherit it', async () => {
      const { r, n } = listen();
      expect(process.env.NOTIFY_SOCKET).to.equal(undefined);
      n.ready();
      expect(await r.next()).to.equal('READY=1');
    });

    it('sends nothing after close()', async () => {
      const { r, n } = listen();
      n.ready();
      n.close();
      n.stopping();
      n.status('late');
      // A second notifier on the same socket proves by ordering that nothing else came.
      process.env.NOTIFY_SOCKET = r.path;
      const second = createNotifier(log);
      second.status('marker');
      second.close();
      expect([await r.next(), await r.next()]).to.deep.equal(['READY=1', 'STATUS=marker']);
    });

    it('holds no handle between notifications: a process that notified exits by itself', async () => {
      receiver = new Receiver(dir);
      const script = [
        'const { createNotifier } = await import(process.argv[1]);',
        "const log = { info() {}, debug() {}, warn(m, meta) { console.error(m, JSON.stringify(meta)); process.exitCode = 3; } };",
        "createNotifier(log).ready('child');",
      ].join('\n');
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, NOTIFIER_MODULE], {
        env: { ...process.env, NOTIFY_SOCKET: receiver.path },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<'stuck'>((resolve) => {
        timer = setTimeout(() => resolve('stuck'), 10_000);
      });
      try {
        expect(await receiver.next()).to.equal('READY=1\nSTATUS=child');
        const code = await Promise.race([exited(child), stuck]);
        expect(code, 'the child kept running after notifying: the notifier holds a handle').to.equal(0);
      } finally {
        clearTimeout(timer);
        child.kill('SIGKILL');
        await exited(child);
      }
    });
  });

  describe('without NOTIFY_SOCKET', () => {
    it('is a no-op: nothing sent, logged or thrown', () => {
      delete process.env.NOTIFY_SOCKET;
      const n = createNotifier(log);
      n.ready('up');
      n.reloading();
      n.stopping();
      n.status('x');
      n.close();
      expect(log.entries).to.deep.equal([]);
    });

    it('treats an empty NOTIFY_SOCKET as unset', () => {
      process.env.NOTIFY_SOCKET = '';
      const n = createNotifier(log);
      n.ready();
      n.close();
      expect(log.entries).to.deep.equal([]);
    });
  });

  describe('when notifying fails', () => {
    it('a NOTIFY_SOCKET pointing nowhere: one warning, then debug lines, never a throw', async () => {
      const nowhere = path.join(dir, 'no-such.sock');
      process.env.NOTIFY_SOCKET = nowhere;
      notifier = createNotifier(log);
      notifier.ready('up');
      await log.until('warn', 1);
      notifier.reloading();
      notifier.stopping();
      await log.until('debug', 2);
      expect(log.at('warn')).to.have.length(1);
      expect(log.at('warn')[0]!.meta).to.include({ notify_socket: nowhere });
      expect(String(log.at('warn')[0]!.meta.error)).to.match(/no such file/i);
    });

    it('a NOTIFY_SOCKET that is neither a path nor an @name: one warning, then a no-op', () => {
      process.env.NOTIFY_SOCKET = 'vsock:2:9999';
      notifier = createNotifier(log);
      notifier.ready();
      notifier.stopping();
      expect(log.at('warn')).to.have.length(1);
      expect(String(log.at('warn')[0]!.meta.error)).to.match(/unsupported NOTIFY_SOCKET/);
    });
  });

  describe('through systemd-notify (abstract names, no addon)', function () {
    before(function () {
      if (!hasCommand('systemd-notify', ['--version'])) {
        console.log('      note: systemd-notify is not installed here; its fallback is not exercised');
        this.skip();
      }
    });

    it('sends the same notifications, in order', async () => {
      const { r, n } = listen({ transport: 'systemd-notify' });
      expect(log.at('info').map((e) => e.meta.transport)).to.deep.equal(['systemd-notify']);
      n.ready('up');
      n.reloading();
      n.ready();
      n.stopping();
      expect(await r.nextNotification()).to.equal('READY=1\nSTATUS=up');
      expect(await r.nextNotification()).to.match(/^RELOADING=1\nMONOTONIC_USEC=\d+$/);
      expect(await r.nextNotification()).to.equal('READY=1');
      expect(await r.nextNotification()).to.equal('STOPPING=1');
      expect(log.at('warn')).to.deep.equal([]);
    });

    it('reaches an @abstract NOTIFY_SOCKET (leading NUL byte, exact length)', async function () {
      if (!hasCommand('python3', ['--version'])) {
        console.log('      note: python3 is not installed here; no exact-length abstract receiver to test with');
        this.skip();
      }
      const name = `dbmesh-test-notify-${process.pid}-${Date.now()}`;
      // Python binds abstract names at their exact length, as systemd does.
      const py = spawn('python3', ['-c', [
        'import json, socket, sys',
        's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
        "s.bind('\\0' + sys.argv[1])",
        "print('bound', flush=True)",
        'while True: print(json.dumps(s.recv(4096).decode()), flush=True)',
      ].join('\n'), name], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        const lines = createInterface({ input: py.stdout! })[Symbol.asyncIterator]();
        expect((await lines.next()).value).to.equal('bound');
        process.env.NOTIFY_SOCKET = `@${name}`;
        notifier = createNotifier(log);
        expect(log.at('info').map((e) => e.meta.transport)).to.deep.equal(['systemd-notify']);
        notifier.ready('abstract');
        let message = '';
        do message = JSON.parse(String((await lines.next()).value)) as string;
        while (message === 'BARRIER=1');
        expect(message).to.equal('READY=1\nSTATUS=abstract');
        expect(log.at('warn')).to.deep.equal([]);
      } finally {
        py.kill('SIGKILL');
        await exited(py);
      }
    });

    it('no systemd-notify on PATH: one warning, never a throw', async () => {
      const savedPath = process.env.PATH;
      process.env.PATH = dir; // holds no systemd-notify
      try {
        process.env.NOTIFY_SOCKET = '@dbmesh-test-nobody-listens';
        notifier = createNotifier(log);
        notifier.ready();
        notifier.stopping();
        await log.until('debug', 1);
        expect(log.at('warn')).to.have.length(1);
        expect(String(log.at('warn')[0]!.meta.error)).to.match(/ENOENT/);
      } finally {
        process.env.PATH = savedPath;
      }
    });
  });
});

/** [section] -> key -> every value given (systemd keys may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq <= 0) throw new Error(`unit file: cannot parse "${line}"`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** systemd time span -> seconds ("60", "60s", "1min", "1min 30s"). */
function seconds(span: string): number {
  const units: Record<string, number> = { '': 1, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  let total = 0;
  for (const [, n, unit] of span.matchAll(/(\d+)\s*([a-z]*)/g)) {
    const factor = units[unit!];
    if (factor === undefined) throw new Error(`unit file: unknown time unit in "${span}"`);
    total += Number(n) * factor;
  }
  return total;
}

describe('deploy/systemd/dbmesh.service', () => {
  const unit = parseUnit(readFileSync(UNIT_FILE, 'utf8'));
  const get = (section: string, key: string): string[] => unit.get(section)?.get(key) ?? [];

  it('is a Type=notify service that only the master may notify', () => {
    expect(get('Service', 'Type')).to.deep.equal(['notify']);
    expect(get('Service', 'NotifyAccess')).to.deep.equal(['main']);
    expect(get('Unit', 'After').join(' ')).to.include('network-online.target');
    expect(get('Unit', 'Wants').join(' ')).to.include('network-online.target');
    expect(get('Install', 'WantedBy')).to.deep.equal(['multi-user.target']);
  });

  it('validates the config before starting the master from the current release', () => {
    expect(get('Service', 'ExecStartPre')).to.deep.equal(['/usr/bin/node /opt/dbmesh/current/bin/dbmesh.js config validate /etc/dbmesh/dbmesh.yaml']);
    expect(get('Service', 'ExecStart')).to.deep.equal(['/usr/bin/node /opt/dbmesh/current/bin/dbmesh.js start --config /etc/dbmesh/dbmesh.yaml']);
    expect(get('Service', 'ExecReload')).to.deep.equal(['/bin/kill -HUP $MAINPID']);
  });

  it('stops gracefully: SIGTERM to the master, with time for the drain', () => {
    expect(get('Service', 'KillMode')).to.deep.equal(['mixed']);
    expect(get('Service', 'KillSignal')).to.deep.equal(['SIGTERM']);
    const stopSec = get('Service', 'TimeoutStopSec');
    expect(stopSec).to.have.length(1);
    expect(seconds(stopSec[0]!)).to.be.at.least(60);
    // The master needs the whole drain plus time to exit before systemd sends SIGKILL.
    expect(seconds(stopSec[0]!) * 1000).to.be.at.least(DEFAULTS.supervisor.drainTimeoutMs + 10_000);
  });

  it('restarts on failure, but not on an invalid config (exit 2)', () => {
    expect(get('Service', 'Restart')).to.deep.equal(['on-failure']);
    expect(get('Service', 'RestartPreventExitStatus').join(' ').split(/\s+/)).to.include('2');
    expect(get('Service', 'LimitNOFILE')).to.deep.equal(['1048576']);
  });

  it('runs as a dedicated user with hardening that leaves node:cluster and the admin API working', () => {
    expect(get('Service', 'User')).to.deep.equal(['dbmesh']);
    expect(get('Service', 'Group')).to.deep.equal(['dbmesh']);
    expect(get('Service', 'NoNewPrivileges')).to.deep.equal(['yes']);
    expect(get('Service', 'ProtectSystem')).to.deep.equal(['strict']);
    expect(get('Service', 'PrivateTmp')).to.deep.equal(['yes']);
    // upgrade/rollback move releases/current; logs go to /var/log/dbmesh.
    expect(get('Service', 'ReadWritePaths').join(' ').split(/\s+/)).to.include('/opt/dbmesh/releases');
    expect(get('Service', 'LogsDirectory')).to.deep.equal(['dbmesh']);
    // AF_UNIX: cluster IPC and sd_notify; AF_INET*: clients, backends, admin API.
    const families = get('Service', 'RestrictAddressFamilies').join(' ').split(/\s+/);
    expect(families).to.include.members(['AF_UNIX', 'AF_INET', 'AF_INET6']);
    // V8's JIT needs W+X pages; /proc/meminfo is read for "N%" watchdog limits.
    expect(get('Service', 'MemoryDenyWriteExecute')).to.deep.equal([]);
    expect(get('Service', 'ProcSubset')).to.deep.equal([]);
    // V8 probes pkey_alloc, outside @system-service: refused with EPERM it does without;
    // the default action would kill node.
    if (get('Service', 'SystemCallFilter').length > 0) expect(get('Service', 'SystemCallErrorNumber')).to.deep.equal(['EPERM']);
  });

  it('passes systemd-analyze verify', function () {
    if (!hasCommand('systemd-analyze', ['--version'])) {
      console.log('      note: systemd-analyze is not installed here; the unit was checked by the parser above only');
      this.skip();
    }
    // verify also checks that ExecStart's binary exists: where node is elsewhere, verify a
    // copy that names this node instead (same file name, so messages name dbmesh.service).
    let file = UNIT_FILE;
    let copyDir: string | undefined;
    if (!existsSync('/usr/bin/node')) {
      console.log(`      note: no /usr/bin/node here; verifying a copy that runs ${process.execPath}`);
      copyDir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-unit-'));
      file = path.join(copyDir, 'dbmesh.service');
      writeFileSync(file, readFileSync(UNIT_FILE, 'utf8').replaceAll('/usr/bin/node ', `${process.execPath} `));
    }
    try {
      const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      // verify exits 0 on unknown keys and bad values, only warning: any line about this unit fails.
      const about = r.stderr.split('\n').filter((l) => l.includes('dbmesh'));
      expect(about, r.stderr).to.deep.equal([]);
      expect(r.status, r.stderr).to.equal(0);
    } finally {
      if (copyDir) rmSync(copyDir, { recursive: true, force: true });
    }
  });
});
