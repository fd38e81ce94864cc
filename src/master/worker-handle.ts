/**
 * One worker process as the master sees it: a small state machine
 *   spawning -> ready -> draining -> dead
 * with its IPC channel (acked requests), its release, and the numbers status shows.
 */
import cluster, { type Worker } from 'node:cluster';
import { IpcChannel, type IpcEndpoint } from '../ipc/channel.js';
import type { Config } from '../config/types.js';
import type { WorkerState, WorkerStatus } from './control.js';
import type { Release } from './releases.js';
import type { PoolFigures, WarmShape } from '../ipc/messages.js';

export class WorkerHandle {
  state: WorkerState = 'spawning';
  connections = 0;
  pinned: Record<string, number> = {};
  pools: Record<string, readonly PoolFigures[]> = {};
  /** Backend connections this worker holds per login shape (from its last report). */
  warm: readonly WarmShape[] = [];
  /** Called after each stats report (the supervisor remembers the pools' shapes). */
  onStats: (() => void) | null = null;
  /** What the worker reported when it finished draining. */
  drained: { moved: number; closed: number } | null = null;
  rssBytes = 0;
  readonly startedAt = new Date();
  readonly channel: IpcChannel;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** Why the master is taking this worker down (for logs); null while it is wanted. */
  retireReason: string | null = null;
  private readyWaiters: ((ok: boolean) => void)[] = [];
  /** Resolves when the worker's IPC listener is up (messages sent earlier would be lost). */
  private readonly hello: Promise<void>;

  private constructor(readonly worker: Worker, readonly release: Release, readonly slot: number, readonly idPrefix: number, public restarts: number) {
    this.channel = new IpcChannel(worker as unknown as IpcEndpoint);
    this.channel.on('ready', () => this.setReady(true));
    this.hello = new Promise((resolve) => this.channel.on('hello', () => resolve()));
    this.channel.on('drained', (m) => {
      this.drained = { moved: Number(m.moved) || 0, closed: Number(m.closed) || 0 };
    });
    this.channel.on('stats', (m) => {
      this.connections = Number(m.connections) || 0;
      // Older workers do not send these; keep the shapes the status API promises.
      if (m.pinned !== null && typeof m.pinned === 'object') this.pinned = m.pinned as Record<string, number>;
      if (m.pools !== null && typeof m.pools === 'object') this.pools = m.pools as Record<string, PoolFigures[]>;
      if (Array.isArray(m.warm)) this.warm = m.warm as WarmShape[];
      this.onStats?.();
    });
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code: number | null, signal: string | null) => {
        this.state = 'dead';
        this.setReady(false);
        resolve({ code, signal });
      });
    });
  }

  /**
   * Fork a worker from `release` (node:cluster exec points into the release directory). With
   * --expose-gc a worker can give memory back after a burst of unauthenticated connections
   * (worker/memory.ts).
   */
  static spawn(release: Release, slot: number, idPrefix: number, restarts: number, env: Record<string, string> = {}): WorkerHandle {
    cluster.setupPrimary({ exec: release.workerEntry, args: [], execArgv: [...process.execArgv, '--expose-gc'], silent: false });
    const worker = cluster.fork({ ...env, DBMESH_WORKER_SLOT: String(slot) });
    return new WorkerHandle(worker, release, slot, idPrefix, restarts);
  }

  get pid(): number {
    return this.worker.process.pid ?? 0;
  }

  get version(): string {
    return this.release.version;
  }

  /** Send the config; the worker listens and then reports ready. */
  configure(config: Config, configVersion: number, timeoutMs: number, warm: readonly WarmShape[] = []): Promise<boolean> {
    const ready = this.waitReady(timeoutMs);
    void this.hello.then(() => this.channel.request('config', { config, configVersion, slot: this.idPrefix, warm }, timeoutMs)).then(
      (ack) => { if (!ack.ok) this.setReady(false); },
      () => this.setReady(false),
    );
    return ready;
  }

  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.state === 'ready') return Promise.resolve(true);
    if (this.state === 'dead') return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.readyWaiters.push((ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
    });
  }

  private setReady(ok: boolean): void {
    if (ok && this.state === 'spawning') this.state = 'ready';
    for (const w of this.readyWaiters.splice(0)) w(ok);
  }

  /** Ask the worker to leave: hand sessions over (or close them), then exit. */
  async drain(timeoutMs: number, handOff: boolean, reason: string): Promise<void> {
    if (this.state === 'dead') return;
    this.retireReason = reason;
    this.state = 'draining';
    try {
      await this.channel.request(handOff ? 'drain' : 'stop', { timeoutMs }, 5000);
    } catch {
      this.kill('SIGKILL');
    }
    // Hard stop if it does not leave in time (drain timeout + margin).
    const timer = setTimeout(() => this.kill('SIGKILL'), timeoutMs + 10000);
    await this.exited;
    clearTimeout(timer);
  }

  kill(signal: NodeJS.Signals): void {
    try {
      this.worker.process.kill(signal);
    } catch {
      // already gone
    }
  }

  status(): WorkerStatus {
    return {
      id: this.worker.id, pid: this.pid, version: this.version, state: this.state,
      connections: this.connections, rssBytes: this.rssBytes, startedAt: this.startedAt.toISOString(),
      pinned: this.pinned, pools: this.pools,
      restarts: this.restarts,
    };
  }
}
