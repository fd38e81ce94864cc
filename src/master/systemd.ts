/**
 * sd_notify(3) for the master under systemd `Type=notify`: READY=1 once the workers are
 * ready, RELOADING=1 ... READY=1 around a config reload, STOPPING=1 at shutdown, STATUS=
 * text for `systemctl status`, EXTEND_TIMEOUT_USEC= while starting workers make progress. The protocol is one datagram of newline-separated VAR=VALUE
 * lines sent to the AF_UNIX SOCK_DGRAM socket named by $NOTIFY_SOCKET: a filesystem path,
 * or "@name" for the abstract namespace (sent as a leading NUL byte, exact length).
 *
 * Node has no unix datagram sockets, so there are two transports:
 *  - `datagram` (filesystem paths, i.e. what systemd hands out): the N-API addon
 *    node-unix-socket sends from this process. Its binaries ship prebuilt in per-platform
 *    npm packages (no compiler at install) and N-API keeps them loadable across Node
 *    majors. The datagram carries the master's own PID, so the unit keeps NotifyAccess=main
 *    and the workers, which parse untrusted client bytes, cannot speak to systemd.
 *  - `systemd-notify` (abstract names, which the addon cannot address: it pads sun_path to
 *    its full size, which names a different abstract socket; or a platform without the
 *    addon): spawn systemd-notify(1), one at a time to keep the order. The datagram then
 *    comes from a child PID, which systemd accepts only with NotifyAccess=all; systemd-notify
 *    (252 on Debian 12) waits until the manager has read it (BARRIER=1), so the message is
 *    not lost when the child exits before systemd looks its PID up.
 *
 * Without NOTIFY_SOCKET every method is an empty function. A failed notification is logged
 * once as a warning (later ones at debug) and never thrown: dbmesh keeps serving whether or
 * not systemd hears about it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import type { DgramSocket } from 'node-unix-socket';

export interface Notifier {
  /** READY=1 (start-up done, or a reload finished whatever its outcome), with a status line. */
  ready(status?: string): void;
  /** RELOADING=1 with MONOTONIC_USEC; follow it with ready() once the reload is over. */
  reloading(): void;
  stopping(): void;
  status(text: string): void;
  /**
   * Start-up is progressing (a worker began a boot phase): STATUS= text, and
   * EXTEND_TIMEOUT_USEC= so systemd's TimeoutStartSec= waits `ms` more from now.
   */
  progress(text: string, ms: number): void;
  /** Release the socket (and any systemd-notify still running); later calls are no-ops. */
  close(): void;
}

/** The part of a logger the notifier uses; a winston Logger fits. */
export interface NotifierLog {
  info(message: string, meta: Record<string, unknown>): unknown;
  warn(message: string, meta: Record<string, unknown>): unknown;
  debug(message: string, meta: Record<string, unknown>): unknown;
}

export interface NotifierOptions {
  /** 'auto' (default): the addon for paths, systemd-notify otherwise. Tests force the latter. */
  readonly transport?: 'auto' | 'systemd-notify';
}

/**
 * systemd reads notifications into a PIPE_BUF (4096 byte) buffer and drops a longer datagram
 * whole; 1000 UTF-16 units are at most 3000 UTF-8 bytes (a surrogate pair is 4 bytes).
 */
const MAX_STATUS_CHARS = 1000;

const NOOP: Notifier = Object.freeze({ ready() {}, reloading() {}, stopping() {}, status() {}, progress() {}, close() {} });

interface Transport {
  readonly name: string;
  send(message: string): void;
  close(): void;
}

type Fail = (err: unknown) => void;

/**
 * Reads NOTIFY_SOCKET once and removes it from process.env (as sd_notify's unset_environment
 * does), so workers forked from this environment never inherit it.
 */
export function createNotifier(log: NotifierLog, options: NotifierOptions = {}): Notifier {
  const socket = process.env.NOTIFY_SOCKET;
  delete process.env.NOTIFY_SOCKET;
  if (!socket) return NOOP;

  let failures = 0;
  const fail: Fail = (err) => {
    const meta = { notify_socket: socket, error: err instanceof Error ? err.message : String(err) };
    if (failures++ === 0) log.warn('systemd notification failed; further failures are logged at debug level', meta);
    else log.debug('systemd notification failed', meta);
  };
  const transport = openTransport(socket, options.transport ?? 'auto', fail, log);
  if (transport === null) return NOOP;
  log.info('systemd notifications on', { notify_socket: socket, transport: transport.name });

  let closed = false;
  const send = (message: string): void => {
    if (!closed) transport.send(message);
  };
  return {
    ready: (status) => send(status === undefined ? 'READY=1' : `READY=1\n${statusLine(status)}`),
    reloading: () => send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`),
    stopping: () => send('STOPPING=1'),
    status: (text) => send(statusLine(text)),
    progress: (text, ms) => send(`${statusLine(text)}\nEXTEND_TIMEOUT_USEC=${Math.max(0, Math.round(ms)) * 1000}`),
    close: () => {
      if (closed) return;
      closed = true;
      transport.close();
    },
  };
}

function openTransport(socket: string, choice: 'auto' | 'systemd-notify', fail: Fail, log: NotifierLog): Transport | null {
  if (!socket.startsWith('/') && !socket.startsWith('@')) {
    // e.g. "vsock:CID:PORT" (systemd >= 254): a VM's init reporting to its host; systemd
    // hands services a path.
    fail(new Error('unsupported NOTIFY_SOCKET: expected an absolute path or an @abstract name'));
    return null;
  }
  if (choice === 'auto' && socket.startsWith('/')) {
    const loaded = loadDgramSocket();
    if (typeof loaded === 'function') return new DatagramTransport(loaded, socket, fail);
    log.warn('node-unix-socket unavailable; notifying through systemd-notify, which needs NotifyAccess=all', { error: loaded.message });
  }
  return new ExecTransport(socket, fail);
}

function loadDgramSocket(): typeof DgramSocket | Error {
  try {
    // Loaded only when NOTIFY_SOCKET is set; createRequire: the package is CommonJS.
    const mod = createRequire(import.meta.url)('node-unix-socket') as { DgramSocket: typeof DgramSocket };
    return mod.DgramSocket;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** One line: a newline in the text would start a new assignment (e.g. MAINPID=). */
function statusLine(text: string): string {
  return `STATUS=${text.replace(/[\r\n\0]+/g, ' ').slice(0, MAX_STATUS_CHARS)}`;
}

/** libuv's hrtime is CLOCK_MONOTONIC on Linux, the clock systemd expects here. */
function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/**
 * In-process sender. The addon sends at once when it can and queues in order on EAGAIN, so
 * one socket is kept while sends are pending and closed when none are: an idle notifier
 * holds no handle that would keep the event loop alive.
 */
class DatagramTransport implements Transport {
  readonly name = 'datagram';
  private socket: DgramSocket | null = null;
  private pending = 0;

  constructor(
    private readonly Socket: typeof DgramSocket,
    private readonly path: string,
    private readonly fail: Fail,
  ) {}

  send(message: string): void {
    const buf = Buffer.from(message, 'utf8');
    try {
      this.socket ??= this.open();
      this.pending++;
      this.socket.sendTo(buf, 0, buf.length, this.path, (err) => this.sent(err));
    } catch (err) {
      // Thrown, not called back (e.g. a path longer than sun_path): nothing is pending.
      this.pending = 0;
      this.fail(err);
      this.close();
    }
  }

  close(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) socket.close();
  }

  private open(): DgramSocket {
    const socket = new this.Socket();
    // An 'error' event without a listener would throw in the master.
    socket.on('error', (err: unknown) => this.fail(err));
    return socket;
  }

  private sent(err: Error | undefined): void {
    if (err && this.socket !== null) this.fail(err);
    if (--this.pending <= 0) {
      this.pending = 0;
      this.close();
    }
  }
}

/** Fallback sender: one systemd-notify at a time, in order. */
class ExecTransport implements Transport {
  readonly name = 'systemd-notify';
  private queue: string[] = [];
  private child: ChildProcess | null = null;
  private closed = false;

  constructor(
    private readonly socket: string,
    private readonly fail: Fail,
  ) {}

  send(message: string): void {
    this.queue.push(message);
    if (this.child === null) this.next();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    this.child?.kill('SIGKILL');
  }

  private next(): void {
    const message = this.queue.shift();
    if (message === undefined) return;
    // Each line is one VAR=VALUE argument; systemd-notify joins them with newlines.
    const child = spawn('systemd-notify', message.split('\n'), {
      env: { ...process.env, NOTIFY_SOCKET: this.socket },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < 500) stderr += text;
    });
    let settled = false;
    const done = (err?: Error): void => {
      if (settled) return;
      settled = true;
      this.child = null;
      if (this.closed) return;
      if (err) this.fail(err);
      this.next();
    };
    child.once('error', done); // e.g. ENOENT: no systemd-notify on this host
    child.once('close', (code, signal) => {
      if (code === 0) done();
      else done(new Error(`systemd-notify exited with ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  }
}
