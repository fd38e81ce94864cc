/**
 * One worker process as the master sees it: a small state machine
 *   spawning -> ready -> draining -> dead
 * with its IPC channel (acked requests), its release, and the numbers status shows.
 */
import cluster, { type Worker } from 'node:cluster';
import { IpcChannel, type IpcEndpoint } from '../ipc/channel.js';
import type { HealthView } from '../monitor/health-view.js';
import type { AllowlistWire } from '../allowlist/accounts.js';

/** What the master keeps for every worker and sends with each config. */
export interface SharedState { health?: HealthView; allowlist?: AllowlistWire }
import type { Config } from '../config/types.js';
import type { WorkerState, WorkerStatus } from './control.js';
import type { Release } from './releases.js';
import type { BackendFigures, BootFailureData, PoolFigures, WarmShape } from '../ipc/messages.js';
import { BootWatch, isBootPhase, type BootOutcome } from './boot-watch.js';

export class WorkerHandle {
  state: WorkerState = 'spawning';
  connections = 0;
  pinned: Record<string, number> = {};
  pools: Record<string, readonly PoolFigures[]> = {};
  /** Backends as the worker's monitor last saw them, per cluster. */
  backends: Record<string, readonly BackendFigures[]> = {};
  /** Backend connections this worker holds per login shape (from its last report). */
  warm: readonly WarmShape[] = [];
  /** When its last stats report arrived (ms since epoch; 0: none yet). */
  statsAt = 0;
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
  /** Why the worker refused its first config (its error and errno code), when it did. */
  bootError: { readonly message: string; readonly code: string | null } | null = null;
  /** Its boot: the phase it is in, and whether (and why not) it became ready. */
  readonly boot = new BootWatch();
  /** Resolves when the worker's IPC listener is up (messages sent earlier would be lost). */
  private readonly hello: Promise<void>;

  private constructor(readonly worker: Worker, readonly release: Release, readonly slot: number, readonly idPrefix: number, public restarts: number) {
    this.channel = new IpcChannel(worker as unknown as IpcEndpoint);
    this.channel.on('ready', () => {
      this.boot.ready();
      if (this.boot.settled?.ok === true && this.state === 'spawning') this.state = 'ready';
    });
    // Workers of older releases send no 'boot' phases: their hello and ready still count.
    this.hello = new Promise((resolve) => this.channel.on('hello', () => {
      this.boot.progress('waiting for config');
      resolve();
    }));
    this.channel.on('boot', (m) => {
      if (isBootPhase(m.phase)) this.boot.progress(m.phase);
    });
    this.channel.on('drained', (m) => {
      this.drained = { moved: Number(m.moved) || 0, closed: Number(m.closed) || 0 };
    });
    this.channel.on('stats', (m) => {
      this.connections = Number(m.connections) || 0;
      this.statsAt = Date.now();
      // Older workers do not send these; keep the shapes the status API promises.
      if (m.pinned !== null && typeof m.pinned === 'object') this.pinned = m.pinned as Record<string, number>;
      if (m.pools !== null && typeof m.pools === 'object') this.pools = m.pools as Record<string, PoolFigures[]>;
      if (Array.isArray(m.warm)) this.warm = m.warm as WarmShape[];
      if (m.backends !== null && typeof m.backends === 'object') this.backends = m.backends as Record<string, BackendFigures[]>;
      this.onStats?.();
    });
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code: number | null, signal: string | null) => {
        this.state = 'dead';
        this.boot.fail('exited');
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

  /**
   * Send the config; the worker boots, listens and reports ready. Resolves with the outcome:
   * failed when no boot phase began for `stallMs`, or the boot passed `limitMs` (see BootWatch).
   * `shared` gives what the master keeps for every worker (the monitor's view, the firewall
   * allowlists) as it is when the config is sent (after the worker's hello: anything published
   * before then would be lost).
   */
  configure(config: Config, configVersion: number, stallMs: number, limitMs: number, warm: readonly WarmShape[] = [], shared: (() => SharedState) | null = null): Promise<BootOutcome> {
    const outcome = this.boot.watch(stallMs, limitMs);
    void this.hello.then(() => this.channel.request('config', { config, configVersion, slot: this.idPrefix, warm, ...(shared !== null ? shared() : {}) }, limitMs)).then(
      (ack) => {
        if (ack.ok) return;
        const data = (ack.data ?? {}) as Partial<BootFailureData>;
        this.bootError = { message: ack.error ?? 'config refused', code: typeof data.code === 'string' ? data.code : null };
        this.boot.fail('refused', this.bootError.message, isBootPhase(data.phase) ? data.phase : this.boot.phase);
      },
      () => {}, // no ack: the boot's own clock (or the exit) decides
    );
    return outcome;
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
      ...(this.state === 'spawning' ? { bootPhase: this.boot.phase } : {}),
      connections: this.connections, rssBytes: this.rssBytes, startedAt: this.startedAt.toISOString(),
      pinned: this.pinned, pools: this.pools, backends: this.backends,
      restarts: this.restarts,
    };
  }
}
