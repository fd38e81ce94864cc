/**
 * sd_notify from the real master: the test owns the NOTIFY_SOCKET (a unix datagram socket
 * bound with node-unix-socket) and starts `dbmesh start` with it. READY=1 arrives once the
 * workers are ready; SIGHUP gives RELOADING=1 (with MONOTONIC_USEC) then READY=1; SIGTERM
 * gives STOPPING=1. A refused reload also ends with READY=1. Workers never inherit NOTIFY_SOCKET.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { DgramSocket } from 'node-unix-socket';
import { sharedSandbox } from '../helpers/shared-sandbox.js';
import { startDbmesh, type DbmeshProcess } from '../helpers/dbmesh.js';
import { status } from '../helpers/control.js';

const { DgramSocket: Socket } = createRequire(import.meta.url)('node-unix-socket') as { DgramSocket: typeof DgramSocket };

/** Datagrams received on a bound path, in order; next() waits with a deadline. */
class NotifySocket {
  readonly path: string;
  private readonly socket: DgramSocket;
  private readonly queue: string[] = [];
  private waiter: ((m: string) => void) | null = null;

  constructor(dir: string) {
    this.path = path.join(dir, 'notify.sock');
    this.socket = new Socket();
    this.socket.on('data', (buf: Buffer) => {
      const m = buf.toString('utf8');
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(m);
      } else this.queue.push(m);
    });
    this.socket.bind(this.path);
  }

  next(timeoutMs = 20000): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`no notification within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
    });
  }

  close(): void {
    this.socket.close();
  }
}

function fields(datagram: string): Record<string, string> {
  return Object.fromEntries(datagram.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

describe('supervisor: systemd notifications from the real master', function () {
  this.timeout(120000);
  let dir: string;
  let notify: NotifySocket;
  let dbmesh: DbmeshProcess | undefined;

  before(function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dbmesh-sup-notify-'));
    notify = new NotifySocket(dir);
  });

  after(async function () {
    await dbmesh?.stop();
    notify?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('READY=1 after the workers are ready, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM', async function () {
    const started = startDbmesh(await sharedSandbox(), { overrides: { workers: 2 }, env: { NOTIFY_SOCKET: notify.path } }).then((p) => (dbmesh = p));
    // Before READY=1: each boot phase of each worker, extending systemd's start timeout.
    const progress: Record<string, string>[] = [];
    let ready: Record<string, string>;
    for (;;) {
      const f = fields(await notify.next());
      if (f.READY !== undefined) {
        ready = f;
        break;
      }
      progress.push(f);
    }
    const d = await started;
    for (const p of progress) {
      expect(Object.keys(p).sort()).to.deep.equal(['EXTEND_TIMEOUT_USEC', 'STATUS']);
      expect(p.EXTEND_TIMEOUT_USEC, 'readyTimeoutMs (20 s) + 10 s').to.equal('30000000');
    }
    const phases = progress.map((p) => /^starting: worker \d+ \(slot (\d)\) ([a-z ]+)$/.exec(p.STATUS!)?.slice(1).join(' '));
    for (const slot of ['0', '1']) {
      expect(phases.filter((p) => p?.startsWith(slot)), `slot ${slot}`).to.include.members([`${slot} probing backends`, `${slot} listening`]);
    }
    expect(ready.READY).to.equal('1');
    expect(ready.STATUS).to.match(/ with 2 workers /);
    // The master logged both workers ready before it said READY (one process, one order).
    const readyAt = d.logs.findIndex((l) => l.message === 'dbmesh listening');
    expect(d.logs.slice(0, readyAt).filter((l) => l.message === 'worker ready')).to.have.length(2);
    const st = await status(d);
    expect(st.workers.filter((w) => w.state === 'ready')).to.have.length(2);
    for (const w of st.workers) {
      const env = readFileSync(`/proc/${w.pid}/environ`, 'utf8').split('\0');
      expect(env.some((e) => e.startsWith('NOTIFY_SOCKET=')), `worker ${w.pid} inherited NOTIFY_SOCKET`).to.equal(false);
    }

    const hupAt = process.hrtime.bigint() / 1000n;
    process.kill(d.pid, 'SIGHUP');
    const reloading = fields(await notify.next());
    expect(Object.keys(reloading).sort()).to.deep.equal(['MONOTONIC_USEC', 'RELOADING']);
    expect(reloading.RELOADING).to.equal('1');
    // CLOCK_MONOTONIC is one clock for the whole machine: the master's stamp follows our signal.
    const usec = BigInt(reloading.MONOTONIC_USEC!);
    expect(usec >= hupAt && usec - hupAt < 10_000_000n, `MONOTONIC_USEC ${usec} vs signal at ${hupAt}`).to.equal(true);
    const reloaded = fields(await notify.next());
    expect(reloaded.READY).to.equal('1');
    expect(reloaded.STATUS).to.include('config version 2 applied');
    expect((await status(d)).configVersion).to.equal(2);

    // A refused reload still ends the RELOADING state, and says so.
    const good = readFileSync(d.configPath, 'utf8');
    writeFileSync(d.configPath, JSON.stringify({ ...JSON.parse(good), workers: 'two' }));
    process.kill(d.pid, 'SIGHUP');
    expect(fields(await notify.next()).RELOADING).to.equal('1');
    const refused = fields(await notify.next());
    expect(refused.READY).to.equal('1');
    expect(refused.STATUS).to.include('reload refused').and.include('config version 2');
    writeFileSync(d.configPath, good);

    const exited = new Promise<number | null>((r) => d.child.once('exit', (code) => r(code)));
    process.kill(d.pid, 'SIGTERM');
    expect(await notify.next()).to.equal('STOPPING=1');
    expect(await exited).to.equal(0);
  });
});
