/**
 * Defaults: turn a validated config FILE (most fields optional) into the complete Config
 * snapshot consumers see. The values here must agree with the `default` keywords in
 * schema.json (a unit test checks it) and with docs/configuration.md.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  AdminConfig,
  FailoverConfig,
  FirewallConfig,
  BackendConfig,
  ClusterConfig,
  Config,
  LimitsConfig,
  ListenConfig,
  LogConfig,
  ObservabilityConfig,
  CaptureConfig,
  DigestsConfig,
  SlowLogConfig,
  MonitorConfig,
  PoolConfig,
  ProtocolConfig,
  UserConfig,
  SupervisorConfig,
  WatchdogConfig,
} from './types.js';

/** A user entry as written in the file. */
export type UserFile = Pick<UserConfig, 'name' | 'password' | 'cluster'> & Partial<UserConfig>;
/** A backend entry as written in the file. */
export type BackendFile = Pick<BackendConfig, 'id' | 'host'> & Partial<BackendConfig>;
export interface ClusterFile extends Pick<ClusterConfig, 'name' | 'type'>, Partial<Omit<ClusterConfig, 'name' | 'type' | 'backends' | 'pool'>> {
  readonly backends: readonly BackendFile[];
  readonly pool?: Partial<PoolConfig>;
}

/** The config file after schema validation: what a user may write. */
export interface ConfigFile {
  readonly listen?: Partial<ListenConfig>;
  readonly admin?: Partial<AdminConfig>;
  readonly workers?: number;
  readonly users: readonly UserFile[];
  readonly clusters: readonly ClusterFile[];
  readonly monitor?: Partial<MonitorConfig>;
  readonly failover?: Partial<FailoverConfig>;
  readonly firewall?: Partial<FirewallConfig>;
  readonly limits?: Partial<LimitsConfig>;
  readonly protocol?: Partial<ProtocolConfig>;
  readonly releases?: { readonly dir?: string };
  readonly supervisor?: Partial<SupervisorConfig>;
  readonly watchdog?: Partial<WatchdogConfig>;
  readonly log?: Partial<LogConfig>;
  readonly observability?: {
    readonly digests?: Partial<DigestsConfig>;
    readonly slowLog?: Partial<SlowLogConfig>;
    readonly capture?: Partial<CaptureConfig>;
  };
}

/** Static defaults. `workers` and `releases.dir` depend on the host and are computed. */
export const DEFAULTS = deepFreeze({
  listen: { host: '127.0.0.1', port: 6033 },
  admin: {
    host: '127.0.0.1', port: 6034, token: '', maxConnections: 64,
    headersTimeoutMs: 5000, requestTimeoutMs: 30000, keepAliveTimeoutMs: 5000, idleTimeoutMs: 60000,
  },
  user: { readFrom: 'replica' },
  backend: { port: 3306, weight: 1, maxConnections: 0 },
  cluster: { balancer: 'p2c-ewma', readYourWritesMs: 1000, causalReads: false, causalReadTimeoutMs: 500, transactionReplay: false, maxReplicationLagSeconds: 10 },
  pool: {
    multiplex: true, minIdle: 0, idleTimeoutMs: 60000, maxLifetimeMs: 3600000, acquireTimeoutMs: 5000,
    keepAliveMs: 30000, maxPreparedPerConnection: 256,
  },
  monitor: { user: 'monitor', password: '', intervalMs: 1000, timeoutMs: 1000, failures: 2, successes: 2 },
  failover: { holdMs: 5000, retryReads: true, readTimeoutMs: 0 },
  firewall: { guards: 'none', rules: [] },
  limits: {
    maxAllowedPacket: 67108864, maxClientConnections: 10000, connectTimeoutMs: 5000, handshakeTimeoutMs: 10000,
    maxHandshakePacket: 16384, maxPendingHandshakes: 2000,
  },
  protocol: { allowLocalInfile: false },
  log: { level: 'info' },
  observability: {
    digests: { enabled: true, max: 10000, sampleChars: 1024 },
    slowLog: { file: '', thresholdMs: 1000, maxTextBytes: 65536, maxFileBytes: 0, keepFiles: 5 },
    capture: { file: '', statements: 'all', users: [], sampleRate: 1, maxTextBytes: 4096, maxFileBytes: 0, keepFiles: 5, maxQueueBytes: 4 * 1024 * 1024 },
  },
  supervisor: { drainTimeoutMs: 30000, readyTimeoutMs: 20000, readyLimitMs: 300000, probationMs: 2000 },
  watchdog: { softLimit: '1024MiB', hardLimit: '2048MiB', intervalMs: 1000 },
} as const);

/**
 * The installation root: the package directory this file was built into
 * (<root>/dist/src/config/defaults.js, three levels up). When that directory is itself a
 * release (<install>/releases/<version>, possibly reached through the `current` symlink,
 * which Node resolves), the install root is the one that holds `releases/`, so every
 * version agrees on where releases live.
 */
export function installRoot(): string {
  const root = fileURLToPath(new URL('../../../', import.meta.url)).replace(/[\\/]+$/, '');
  const parent = path.dirname(root);
  return path.basename(parent) === 'releases' ? path.dirname(parent) : root;
}

/**
 * Fill every default. `baseDir` is the config file's directory: a relative `releases.dir`
 * is resolved against it, so the meaning of a file does not depend on the caller's cwd.
 * Returns a new, deep-frozen object; the input is not modified.
 */
export function applyDefaults(file: ConfigFile, baseDir: string): Config {
  const d = DEFAULTS;
  const config: Config = {
    listen: { ...d.listen, ...file.listen },
    admin: { ...d.admin, ...file.admin },
    workers: file.workers ?? os.availableParallelism(),
    users: file.users.map(userDefaults),
    clusters: file.clusters.map(clusterDefaults),
    monitor: { ...d.monitor, ...file.monitor },
    failover: { ...d.failover, ...file.failover },
    firewall: { ...d.firewall, ...file.firewall },
    limits: { ...d.limits, ...file.limits },
    protocol: { ...d.protocol, ...file.protocol },
    releases: { dir: path.resolve(baseDir, file.releases?.dir ?? path.join(installRoot(), 'releases')) },
    log: { ...d.log, ...file.log },
    supervisor: { ...d.supervisor, ...file.supervisor },
    watchdog: { ...d.watchdog, ...file.watchdog },
    observability: observabilityDefaults(file, baseDir),
  };
  return deepFreeze(config);
}

function observabilityDefaults(file: ConfigFile, baseDir: string): ObservabilityConfig {
  const d = DEFAULTS.observability;
  const o = file.observability ?? {};
  const at = (f: string | undefined): string => (f ? path.resolve(baseDir, f) : '');
  return {
    digests: { ...d.digests, ...o.digests },
    slowLog: { ...d.slowLog, ...o.slowLog, file: at(o.slowLog?.file) },
    capture: { ...d.capture, ...o.capture, file: at(o.capture?.file) },
  };
}

function userDefaults(u: UserFile): UserConfig {
  return {
    name: u.name,
    password: u.password,
    cluster: u.cluster,
    backendUser: u.backendUser ?? u.name,
    backendPassword: u.backendPassword ?? u.password,
    readFrom: u.readFrom ?? DEFAULTS.user.readFrom,
    admin: u.admin ?? false,
    fileAccess: u.fileAccess ?? false,
    multiStatements: u.multiStatements ?? false,
    ...(u.limits !== undefined && Object.keys(u.limits).length > 0 ? { limits: u.limits } : {}),
  };
}

function clusterDefaults(c: ClusterFile): ClusterConfig {
  return {
    ...DEFAULTS.cluster, ...c,
    backends: c.backends.map(backendDefaults),
    pool: { ...DEFAULTS.pool, ...c.pool },
  };
}

function backendDefaults(b: BackendFile): BackendConfig {
  const d = DEFAULTS.backend;
  return { id: b.id, host: b.host, port: b.port ?? d.port, weight: b.weight ?? d.weight, maxConnections: b.maxConnections ?? d.maxConnections };
}

/** Object.freeze, recursively (arrays included). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}
