/**
 * Where sessions find their backend. Until the health monitor publishes roles, roles come
 * from `@@read_only`, probed with the monitor credentials when the worker starts and again
 * when a session finds no usable primary. The interface (`BackendDirectory`) is what the
 * monitor will implement instead.
 *
 * The directory also remembers each backend's greeting (server version, capabilities,
 * charset), so dbmesh can greet clients exactly as the server would without first opening a
 * backend connection.
 */
import type { BackendConfig, ClusterConfig, Config } from '../config/types.js';
import { connectBackend } from '../pool/backend-connect.js';
import { simpleQuery } from '../pool/simple-query.js';
import type { Greeting } from '../protocol/handshake.js';
import {
  CLIENT_LONG_PASSWORD, CLIENT_PLUGIN_AUTH, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION,
  CLIENT_TRANSACTIONS, COM_QUIT, UTF8MB4_GENERAL_CI,
} from '../protocol/constants.js';
import { frame } from '../protocol/framing.js';
import { logger } from '../observability/logger.js';

export interface BackendDirectory {
  /** The backend that takes this cluster's writes, or null when none is known to be up. */
  primary(cluster: string): BackendConfig | null;
  /** What the cluster's servers said in their greeting (for greeting clients). */
  greeting(cluster: string): Greeting | null;
  /** Remember a greeting seen on a fresh backend connection (keeps the version current). */
  noteGreeting(cluster: string, g: Greeting): void;
  /** Re-probe roles (after a session failed to reach the primary). */
  refresh(): Promise<void>;
}

const PROBE_CAPS = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_TRANSACTIONS;

interface Probe {
  readonly writable: boolean;
  readonly greeting: Greeting;
}

/** Log in with the monitor user, read @@read_only, quit. */
async function probe(config: Config, b: BackendConfig): Promise<Probe> {
  const s = await connectBackend({
    host: b.host, port: b.port, user: config.monitor.user, password: config.monitor.password,
    database: null, capabilities: PROBE_CAPS, charset: UTF8MB4_GENERAL_CI, connectAttrs: null,
    timeoutMs: config.limits.connectTimeoutMs,
  });
  try {
    const rows = await simpleQuery(s, 'SELECT @@read_only', config.limits.connectTimeoutMs);
    return { writable: rows[0]?.[0] === '0', greeting: s.greeting };
  } finally {
    s.socket.end(frame(Buffer.from([COM_QUIT]), 0).bytes);
  }
}

export class ReadOnlyProbeDirectory implements BackendDirectory {
  private primaries = new Map<string, BackendConfig>();
  private greetings = new Map<string, Greeting>();
  private refreshing: Promise<void> | null = null;
  private readonly log = logger('backends');

  constructor(private config: Config) {}

  primary(cluster: string): BackendConfig | null {
    return this.primaries.get(cluster) ?? null;
  }

  greeting(cluster: string): Greeting | null {
    return this.greetings.get(cluster) ?? null;
  }

  noteGreeting(cluster: string, g: Greeting): void {
    this.greetings.set(cluster, g);
  }

  /** Swap in a new config snapshot (reload) and re-probe. */
  async setConfig(config: Config): Promise<void> {
    this.config = config;
    await this.refresh();
  }

  refresh(): Promise<void> {
    // Concurrent callers share one probe round.
    this.refreshing ??= this.probeAll().finally(() => { this.refreshing = null; });
    return this.refreshing;
  }

  private async probeAll(): Promise<void> {
    await Promise.all(this.config.clusters.map((c) => this.probeCluster(c)));
  }

  private async probeCluster(cluster: ClusterConfig): Promise<void> {
    const results = await Promise.all(cluster.backends.map(async (b) => {
      try {
        return { b, p: await probe(this.config, b) };
      } catch (err) {
        this.log.warn('backend probe failed', { cluster: cluster.name, backend: b.id, error: (err as Error).message });
        return { b, p: null };
      }
    }));
    const up = results.filter((r) => r.p !== null);
    // tidb clusters: every backend takes writes. replication: the one with read_only=0.
    const primary = cluster.type === 'tidb' ? up[0] : up.find((r) => r.p!.writable);
    if (primary) this.primaries.set(cluster.name, primary.b);
    else this.primaries.delete(cluster.name);
    if (up[0]) this.greetings.set(cluster.name, (primary ?? up[0]).p!.greeting);
    this.log.info('backend roles probed', {
      cluster: cluster.name, primary: primary?.b.id ?? null,
      up: up.map((r) => r.b.id), down: results.filter((r) => r.p === null).map((r) => r.b.id),
    });
  }
}
