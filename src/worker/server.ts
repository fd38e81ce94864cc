/**
 * The worker's proxy server: accepts client connections (on its own listener, or on sockets
 * the supervisor hands it), creates sessions, keeps the session registry (dbmesh connection
 * ids), and drains on shutdown.
 */
import net from 'node:net';
import type { Config, UserConfig } from '../config/types.js';
import { DBM_ERR } from '../errors/index.js';
import { frame } from '../protocol/framing.js';
import { encodeErr } from '../protocol/responses.js';
import type { Greeting } from '../protocol/handshake.js';
import { logger, type Logger } from '../observability/logger.js';
import { CloseReason, countClose } from '../observability/close-reasons.js';
import { HealthDirectory, LocalMonitor } from './backends.js';
import type { HealthView } from '../monitor/health-view.js';
import { ClientSession, Phase } from './session.js';
import { offeredCapabilities } from './client-auth.js';
import { adoptAccepted } from './client-socket.js';
import type { RemoteSession, SessionHost } from './session-host.js';
import { ClusterPools } from './cluster-pools.js';
import { BurstCollector } from './memory.js';
import { pinReasons } from '../sql/pins.js';
import { WorkerInsight } from '../insight/worker-insight.js';
import { Firewall } from './firewall.js';
import { UserLimits } from './user-limits.js';
import type { BackendFigures } from '../ipc/messages.js';

export interface ProxyServerOptions {
  /** High bits of every connection id this worker hands out (keeps ids unique across workers). */
  readonly idPrefix?: number;
  /**
   * The master's monitor view: the worker routes by the views the master sends. Absent (a
   * standalone proxy, or a master that predates the shared monitor): the worker monitors the
   * backends itself.
   */
  readonly health?: HealthView;
}

export class ProxyServer implements SessionHost {
  readonly log: Logger = logger('worker');
  readonly directory: HealthDirectory;
  /** The worker's own monitor when no master sends views. */
  private localMonitor: LocalMonitor | null = null;
  private readonly sessions = new Map<number, ClientSession>();
  /** Sessions greeted that have not authenticated yet (limits.maxPendingHandshakes). */
  private readonly pending = new Set<ClientSession>();
  private readonly collector = new BurstCollector();
  private server: net.Server | null = null;
  private nextId = 1;
  private readonly idPrefix: number;
  private draining = false;
  private idleWaiters: (() => void)[] = [];

  /** Called at each session's command boundary (the drain controller moves sessions there). */
  onBoundary: ((s: ClientSession) => void) | null = null;
  /** Asks the master for a session held by another worker; null when standalone. */
  remoteLookup: ((id: number, kill: boolean) => Promise<RemoteSession | null>) | null = null;
  /** users[].limits under a master: count a connection over all workers (and learn this worker's share). */
  admitRemote: ((user: string, max: number) => Promise<{ ok: boolean; share: number }>) | null = null;
  releaseRemote: ((user: string) => void) | null = null;
  adoptedRemote: ((user: string) => void) | null = null;
  readonly limits = new UserLimits();
  readonly pools: ClusterPools;
  readonly insight: WorkerInsight;
  readonly firewall: Firewall;

  constructor(public config: Config, opts: ProxyServerOptions = {}) {
    this.insight = new WorkerInsight(config.observability, this.log);
    this.firewall = new Firewall(config.firewall, this.log);
    this.limits.configure(config.users, config.workers);
    this.directory = new HealthDirectory(config);
    if (opts.health !== undefined) this.directory.apply(opts.health);
    else this.localMonitor = new LocalMonitor(config, this.directory, logger('monitor'));
    this.pools = new ClusterPools(config, this.directory, this.log);
    this.idPrefix = opts.idPrefix ?? 0;
  }

  /**
   * With a monitor of its own, probe backends (so the first greeting carries the real server
   * version and the first statement finds its primary) and keep probing; keep the pools tidy.
   */
  async prepare(): Promise<void> {
    await this.localMonitor?.start();
    this.pools.start();
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    // Paused on connect: accept() moves the descriptor into a socket with a reused read buffer.
    const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (s) => this.accept(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, backlog: 1024 }, () => {
        server.removeListener('error', reject);
        resolve(server.address() as net.AddressInfo);
      });
    });
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  defaultCluster(): string {
    return this.config.users[0]?.cluster ?? this.config.clusters[0]!.name;
  }

  offeredCapabilities(greeting: Greeting | null): number {
    return offeredCapabilities(greeting, this.config);
  }

  findSession(id: number): ClientSession | undefined {
    return this.sessions.get(id);
  }

  /** `internal`: dbmesh's own session (the code warm-up), kept out of statistics and the capture. */
  accept(socket: net.Socket, internal = false): void {
    socket.on('error', () => {}); // errors are handled by the session; never crash the worker
    const limits = this.config.limits;
    if (this.draining || this.sessions.size >= limits.maxClientConnections || this.pending.size >= limits.maxPendingHandshakes) {
      const e = this.draining ? DBM_ERR.SHUTDOWN : DBM_ERR.TOO_MANY_CONNECTIONS;
      socket.end(frame(encodeErr(e.errno, e.sqlState, e.template), 0).bytes);
      countClose(this.draining ? CloseReason.SHUTDOWN : CloseReason.TOO_MANY_CONNECTIONS);
      return;
    }
    const wrapped = adoptAccepted(socket);
    if (wrapped === null) return;
    wrapped.socket.on('error', () => {});
    const id = this.allocateId();
    const session = new ClientSession(id, wrapped.socket, wrapped.input, this);
    session.internal = internal;
    this.sessions.set(id, session);
    this.pending.add(session);
    session.greet();
  }

  private allocateId(): number {
    // Ids wrap within the worker's 22-bit space, skipping ids still in use.
    for (;;) {
      const id = (this.idPrefix << 22) | this.nextId;
      this.nextId = this.nextId >= 0x3fffff ? 1 : this.nextId + 1;
      if (!this.sessions.has(id >>> 0)) return id >>> 0;
    }
  }

  sessionAuthenticated(s: ClientSession): void {
    this.pending.delete(s);
  }

  /**
   * users[].limits.maxConnections: a connection of a limited user is counted by the master
   * over all workers (admitRemote), or here alone when there is no master. The answer also
   * brings this worker's new share of the user's statement limits.
   */
  async admitConnection(s: ClientSession): Promise<boolean> {
    const user = s.user!;
    const st = this.limits.stateOf(user);
    if (st === null) return true;
    const max = user.limits?.maxConnections ?? 0;
    let ok: boolean;
    if (this.admitRemote !== null) {
      const answer = await this.admitRemote(user.name, max).catch((err: Error) => {
        this.log.warn('the master did not answer a connection count; counting in this worker only', { user: user.name, error: err.message });
        return null;
      });
      ok = answer === null ? max === 0 || st.connections < max : answer.ok;
      if (answer !== null && answer.ok) this.limits.setShares({ [user.name]: answer.share });
    } else {
      ok = max === 0 || st.connections < max;
    }
    if (!ok || s.phase === Phase.Closed) {
      if (ok) this.releaseRemote?.(user.name);
      return false;
    }
    st.connections++;
    s.limitUser = user.name;
    return true;
  }

  /** A counted connection ended here (closed, moved to another worker, or changed user). */
  connectionEnded(s: ClientSession): void {
    const name = s.limitUser;
    if (name === null) return;
    s.limitUser = null;
    const st = this.limits.stateByName(name);
    if (st !== null && st.connections > 0) st.connections--;
    this.releaseRemote?.(name);
  }

  sessionClosed(s: ClientSession, reason: CloseReason): void {
    this.connectionEnded(s);
    this.sessions.delete(s.id);
    if (this.pending.delete(s)) this.collector.noteClosed();
    countClose(reason);
    const level = reason === CloseReason.CLIENT_QUIT ? 'debug' : 'info';
    if (this.log.isLevelEnabled(level)) {
      this.log.log(level, 'client connection closed', { conn_id: s.id, user: s.user?.name ?? null, reason, detail: s.closeDetail, duration_ms: Date.now() - s.startedAt });
    }
    if (this.sessions.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  sessionAtBoundary(s: ClientSession): void {
    this.onBoundary?.(s);
  }

  lookupRemoteSession(id: number, kill: boolean): Promise<RemoteSession | null> {
    return this.remoteLookup ? this.remoteLookup(id, kill) : Promise.resolve(null);
  }

  /**
   * Stop taking new connections. Under node:cluster this deregisters the worker from the
   * master's round robin; a connection already on its way here is refused by node and
   * re-dispatched by the master to another worker.
   */
  stopAccepting(): void {
    this.draining = true;
    this.server?.close();
    this.server = null;
  }

  /** Resolves when no session is left. */
  whenEmpty(): Promise<void> {
    return this.sessions.size === 0 ? Promise.resolve() : new Promise<void>((r) => this.idleWaiters.push(r));
  }

  sessionMoved(s: ClientSession): void {
    this.connectionEnded(s);
    this.sessions.delete(s.id);
    if (this.sessions.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Register a session that moved here from another worker (a limited user's is counted here now, whatever the limit: it was admitted). */
  adoptSession(s: ClientSession, user: UserConfig): void {
    this.sessions.set(s.id, s);
    const st = this.limits.stateOf(user);
    if (st === null) return;
    st.connections++;
    s.limitUser = user.name;
    this.adoptedRemote?.(user.name);
  }

  /** How many sessions are pinned to their backend connection, by reason. */
  pinnedByReason(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.sessions.values()) {
      const mask = s.pins;
      if (mask === 0) continue;
      for (const r of pinReasons(mask)) out[r] = (out[r] ?? 0) + 1;
    }
    return out;
  }

  /** What the backend monitor last saw (for the master's metrics). */
  backendFigures(): Record<string, BackendFigures[]> {
    const out: Record<string, BackendFigures[]> = {};
    for (const c of this.config.clusters) {
      out[c.name] = this.directory.status(c.name).map((b) => ({
        id: b.config.id, up: b.up, writable: b.writable, lagSeconds: b.lagSeconds, state: b.state,
      }));
    }
    return out;
  }

  /** Sessions currently here (for handoff sweeps and stats). */
  allSessions(): IterableIterator<ClientSession> {
    return this.sessions.values();
  }

  /** Apply a new config snapshot to new sessions (running sessions keep theirs until they end). */
  async reconfigure(config: Config): Promise<void> {
    this.config = config;
    this.insight.apply(config.observability);
    this.firewall.configure(config.firewall);
    this.limits.configure(config.users, config.workers);
    this.directory.setConfig(config);
    this.pools.setConfig(config);
    await this.localMonitor?.setConfig(config);
  }

  /**
   * Stop accepting; close idle sessions at once and busy ones when their current command and
   * transaction end; after `timeoutMs` close whatever is left.
   */
  async close(timeoutMs = 10000): Promise<void> {
    this.draining = true;
    const closed = this.server ? new Promise<void>((r) => this.server!.close(() => r())) : Promise.resolve();
    const sweep = setInterval(() => this.closeIdle(), 50);
    this.closeIdle();
    const allGone = this.sessions.size === 0 ? Promise.resolve() : new Promise<void>((r) => this.idleWaiters.push(r));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); });
    await Promise.race([allGone, timeout]);
    clearInterval(sweep);
    clearTimeout(timer);
    for (const s of [...this.sessions.values()]) s.close(CloseReason.SHUTDOWN);
    await closed;
    this.collector.stop();
    this.pools.stop();
    this.localMonitor?.stop();
  }

  private closeIdle(): void {
    for (const s of [...this.sessions.values()]) if (s.idle && !s.inTransaction) s.close(CloseReason.DRAINED);
  }
}
