/**
 * The config snapshot as consumers see it: every default filled in, deep-frozen.
 * The JSON Schema (schema.json) is the source of truth for what a file may say;
 * this type mirrors it after defaults are applied.
 */
export interface ListenConfig {
  readonly host: string; // default "127.0.0.1"
  readonly port: number; // default 6033
}

export interface AdminConfig {
  readonly host: string; // default "127.0.0.1"
  readonly port: number; // default 6034
  readonly token: string; // required when admin is given; default "" (admin API refuses all)
  /** Connections open at once (capped at a quarter of the master's fd limit); default 64. */
  readonly maxConnections: number;
  readonly headersTimeoutMs: number; // default 5000
  readonly requestTimeoutMs: number; // default 30000; >= headersTimeoutMs
  readonly keepAliveTimeoutMs: number; // default 5000
  /** No bytes either way for this long closes the connection (not while a request is handled); default 60000. */
  readonly idleTimeoutMs: number;
}

export interface UserConfig {
  readonly name: string;
  readonly password: string;
  readonly cluster: string; // must name a cluster
  readonly backendUser: string; // default: name
  readonly backendPassword: string; // default: password
  readonly readFrom: 'primary' | 'replica' | 'any'; // default "replica"
  /** Firewall: schema and privilege changes allowed; default false. */
  readonly admin: boolean;
  /** Firewall: the server's files (INTO OUTFILE, LOAD_FILE(), LOAD DATA without LOCAL); default false. */
  readonly fileAccess: boolean;
  /** Firewall: several statements in one query; default false. */
  readonly multiStatements: boolean;
  /** Limits over the whole instance; none by default. */
  readonly limits?: UserLimitsConfig;
}

export interface UserLimitsConfig {
  /** Client connections at once; one more gets ERR 1203. */
  readonly maxConnections?: number;
  /** Statements running at once; one more waits up to queueMs, else ERR 1226. */
  readonly maxConcurrentStatements?: number;
  /** Token bucket rate (bursts of one second's worth); past it: wait up to queueMs, else ERR 1226. */
  readonly statementsPerSecond?: number;
  /** Longest wait for a statement slot or token; default 0 (refused at once). */
  readonly queueMs?: number;
  /** Past it: ERR 3024, and KILL QUERY on the backend. */
  readonly statementTimeoutMs?: number;
}

export interface BackendConfig {
  readonly id: string;
  readonly host: string;
  readonly port: number; // default 3306
  readonly weight: number; // default 1
  readonly maxConnections: number; // default 0 = unlimited
}

export interface PoolConfig {
  readonly multiplex: boolean; // default true
  readonly minIdle: number; // default 0
  readonly idleTimeoutMs: number; // default 60000
  readonly maxLifetimeMs: number; // default 3600000; 0 = no limit
  readonly acquireTimeoutMs: number; // default 5000
  readonly keepAliveMs: number; // default 30000; 0 = off
  readonly maxPreparedPerConnection: number; // default 256
}

export interface ClusterConfig {
  readonly name: string;
  readonly type: 'replication' | 'tidb';
  readonly backends: readonly BackendConfig[];
  readonly balancer: 'p2c-ewma' | 'round-robin' | 'least-outstanding'; // default "p2c-ewma"
  readonly readYourWritesMs: number; // default 1000
  readonly causalReads: boolean; // default false
  readonly causalReadTimeoutMs: number; // default 500
  /** Re-run an interrupted transaction on the (new) primary, results compared; default false. */
  readonly transactionReplay: boolean;
  readonly maxReplicationLagSeconds: number; // default 10
  readonly pool: PoolConfig;
}

export interface MonitorConfig {
  readonly user: string; // default "monitor"
  readonly password: string; // default ""
  readonly intervalMs: number; // default 1000
  /** Connect and query timeout of one probe; default 1000 ms. */
  readonly timeoutMs: number;
  /** Consecutive failed probes that make a backend `down`; default 2. */
  readonly failures: number;
  /** Consecutive good probes a `down` backend needs to serve again (`recovering` until then); default 2. */
  readonly successes: number;
}

export interface FailoverConfig {
  /** Writes and transactions wait this long for a writable backend before failing; default 5000 ms. */
  readonly holdMs: number;
  /** A read that failed before any of its result reached the client runs once more elsewhere; default true. */
  readonly retryReads: boolean;
  /** A statement waiting on a backend longer than this gets an error and the connection is dropped; 0 (default) waits forever. */
  readonly readTimeoutMs: number;
}

export interface LimitsConfig {
  /** Largest client packet (joined across 16 MiB splits) dbmesh accepts; default 64 MiB. */
  readonly maxAllowedPacket: number;
  /** Client connections per worker; default 10000. Over it: ERR 1040. */
  readonly maxClientConnections: number;
  /** Backend connect + login timeout; default 5000 ms. */
  readonly connectTimeoutMs: number;
  /** Client handshake must complete within; default 10000 ms. */
  readonly handshakeTimeoutMs: number;
  /** Largest packet a client may send before it has authenticated; default 16384 bytes. Over it: ERR 1043. */
  readonly maxHandshakePacket: number;
  /** Connections per worker still in their handshake; default 2000. Over it: ERR 1040. */
  readonly maxPendingHandshakes: number;
}

export interface ProtocolConfig {
  /** Allow LOAD DATA LOCAL INFILE (relayed from the client, never read on the proxy); default false. */
  readonly allowLocalInfile: boolean;
}

export interface ReleasesConfig {
  readonly dir: string; // default "<install>/releases"
}

export interface SupervisorConfig {
  readonly drainTimeoutMs: number; // default 30000
  /** A starting worker that begins no boot phase for this long is stuck; default 20000. */
  readonly readyTimeoutMs: number;
  /** A starting worker not ready after this long is given up, progress or not; default 300000. */
  readonly readyLimitMs: number;
  readonly probationMs: number; // default 2000
}

export interface WatchdogConfig {
  /** "512MiB", "1GiB" or "40%" (of the machine's or cgroup's memory). Default "1024MiB". */
  readonly softLimit: string;
  /** Default "2048MiB". */
  readonly hardLimit: string;
  readonly intervalMs: number; // default 1000
}

export interface LogConfig {
  readonly level: 'error' | 'warn' | 'info' | 'debug'; // default "info"
}

export interface DigestsConfig {
  /** Statement digests (slow-SQL statistics) per worker and in the master; default true. */
  readonly enabled: boolean;
  /** Rows per worker interval and in the master; past it the least recently seen fold into one overflow row. Default 10000. */
  readonly max: number;
  /** Characters of the sample statement kept per digest; default 1024. */
  readonly sampleChars: number;
}

export interface SlowLogConfig {
  /** JSON-lines file (relative paths: to the config file's directory); "" = off (default). */
  readonly file: string;
  /** Statements at least this slow are logged; default 1000. */
  readonly thresholdMs: number;
  /** Characters of statement text per line; default 65536. */
  readonly maxTextBytes: number;
  /** Rotate the file past this size (the master renames it to FILE.1 ...); 0 = never (default; use logrotate + SIGUSR1). */
  readonly maxFileBytes: number;
  /** Rotated files kept; default 5. */
  readonly keepFiles: number;
}

export interface CaptureConfig {
  /** JSON-lines file (relative paths: to the config file's directory); "" = off (default). */
  readonly file: string;
  /** Which statements: "all" (default when a file is given), "writes" (writes, DDL, CALL) or "off". */
  readonly statements: 'all' | 'writes' | 'off';
  /** Only these users' statements; empty = every user (default). */
  readonly users: readonly string[];
  /** Fraction of the chosen statements captured, 0..1; default 1. */
  readonly sampleRate: number;
  /** Bytes of statement text per line (longer text is cut); default 4096. */
  readonly maxTextBytes: number;
  /** As slowLog.maxFileBytes; default 0. */
  readonly maxFileBytes: number;
  readonly keepFiles: number; // default 5
  /** Lines waiting for the disk, per worker, beyond which new ones are dropped (and counted); default 4 MiB. */
  readonly maxQueueBytes: number;
}

export interface ObservabilityConfig {
  readonly digests: DigestsConfig;
  readonly slowLog: SlowLogConfig;
  readonly capture: CaptureConfig;
}

export type GuardSetting = 'all' | 'none' | Readonly<Record<string, boolean>>;

export interface FirewallRule {
  readonly name?: string;
  readonly action: 'block' | 'log' | 'allow';
  readonly message?: string;
  readonly users?: readonly string[];
  /** CIDRs or single addresses. */
  readonly clients?: readonly string[];
  readonly schemas?: readonly string[];
  readonly kinds?: readonly string[];
  readonly digests?: readonly string[];
  readonly fingerprints?: readonly string[];
  readonly tables?: readonly string[];
  /** Regular expression on the fingerprint (case-insensitive). */
  readonly pattern?: string;
}

export interface FirewallConfig {
  /** Built-in guards: "all", "none" (default) or each by name. */
  readonly guards: GuardSetting;
  /** Evaluated in order before the guards; default none. */
  readonly rules: readonly FirewallRule[];
  /** The allowlists' file; default next to the config file (`<name>.allowlist.json`). */
  readonly allowlistFile?: string;
}

export interface Config {
  readonly listen: ListenConfig;
  readonly admin: AdminConfig;
  readonly workers: number; // default: number of CPUs
  readonly users: readonly UserConfig[];
  readonly clusters: readonly ClusterConfig[];
  readonly monitor: MonitorConfig;
  readonly failover: FailoverConfig;
  readonly firewall: FirewallConfig;
  readonly limits: LimitsConfig;
  readonly protocol: ProtocolConfig;
  readonly releases: ReleasesConfig;
  readonly supervisor: SupervisorConfig;
  readonly watchdog: WatchdogConfig;
  readonly log: LogConfig;
  readonly observability: ObservabilityConfig;
}
