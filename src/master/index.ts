/**
 * master/: the supervisor process. Owns the listening socket (node:cluster), forks versioned
 * workers from release directories, moves sessions between them, watches their memory, and
 * serves the admin API, and runs the backend monitor (monitor/: a few statements per backend
 * per interval). Must not import the data path (worker/, routing/): it stays nearly idle and
 * never reads client bytes.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../config/types.js';
import { logger, type Logger } from '../observability/logger.js';
import { createMasterMetrics } from '../observability/metrics.js';
import { MasterInsight } from '../insight/master-insight.js';
import { currentVersion } from './releases.js';
import { Supervisor } from './supervisor.js';
import { Monitor } from '../monitor/monitor.js';
import { AllowlistStore, allowlistPath } from '../allowlist/store.js';
import type { LearnedDigests } from '../allowlist/accounts.js';
import { startAdminApi } from './admin-api.js';
import { checkAddress } from './addresses.js';
import { LOW_FD_LIMIT, openFileLimit } from './fd-budget.js';
import { createNotifier } from './systemd.js';
import { ConfigError } from '../config/load.js';
import type { MasterControl } from './control.js';

/** Beyond a worker's own no-progress timeout: time for the master to give up on it and go on. */
const START_TIMEOUT_MARGIN_MS = 10_000;
const MASTER_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface RunningMaster {
  readonly supervisor: Supervisor;
  close(): Promise<void>;
}

export async function runMaster(config: Config, configPath: string): Promise<RunningMaster> {
  const log = logger('master');
  const undo: (() => unknown)[] = [];
  try {
    return await startMaster(config, configPath, log, undo);
  } catch (err) {
    log.error('dbmesh cannot start', { error: (err as Error).message });
    for (const step of undo.reverse()) await step();
    throw err;
  }
}

/** Start everything; `undo` collects how to take down what already runs if a later step fails. */
/** The allowlist store; an unreadable or invalid file refuses the start as an invalid config would. */
function openAllowlist(config: Config, configPath: string): AllowlistStore {
  const file = allowlistPath(config.firewall.allowlistFile, configPath);
  try {
    return new AllowlistStore(file, logger('firewall'));
  } catch (err) {
    throw new ConfigError('invalid', [`firewall.allowlistFile: ${(err as Error).message}`], configPath);
  }
}

async function startMaster(config: Config, configPath: string, log: Logger, undo: (() => unknown)[]): Promise<RunningMaster> {
  // Both addresses before anything starts: one in use fails the start here.
  await checkAddress('listen', config.listen.host, config.listen.port);
  await checkAddress('admin', config.admin.host, config.admin.port);
  const notifier = createNotifier(log);
  undo.push(() => notifier.close());
  const sup = new Supervisor(config, configPath, MASTER_VERSION);
  undo.push(() => sup.stop(true));
  // One monitor for the instance, probed once before the first workers start: they begin
  // with the backends' roles and greeting, and get every change after that.
  const monitor = new Monitor(config, logger('monitor'));
  sup.monitor = monitor;
  monitor.onChange((view) => sup.publishHealth(view));
  undo.push(() => monitor.stop());
  await monitor.start();
  // The firewall allowlists: read before the first workers start, so they begin protecting.
  const allowlist = openAllowlist(config, configPath);
  sup.allowlist = allowlist;
  allowlist.onChange = (wire) => sup.publishAllowlist(wire);
  undo.push(() => allowlist.close());
  // A slow start that progresses must not hit systemd's TimeoutStartSec (the master gives up
  // on a worker that makes no progress for readyTimeoutMs by itself).
  sup.onBootProgress = (w, phase) => notifier.progress(`starting: worker ${w.pid} (slot ${w.slot}) ${phase}`, config.supervisor.readyTimeoutMs + START_TIMEOUT_MARGIN_MS);
  await sup.start();
  sup.onBootProgress = null;
  let stopping: Promise<void> | null = null;
  const registry = createMasterMetrics(() => sup.status());
  const insight = new MasterInsight(sup.config.observability, registry, log);
  sup.onInsight = (delta) => {
    insight.merge(delta);
    const learned = (delta as { learned?: unknown } | null)?.learned;
    if (learned !== null && typeof learned === 'object') allowlist.learn(learned as LearnedDigests);
  };
  insight.reopenWorkers = () => {
    for (const w of sup.workers) if (w.state !== 'dead') void w.channel.request('reopen-logs', {}, 5000).catch(() => undefined);
  };
  insight.start();
  undo.push(() => insight.stop());
  const control: MasterControl = {
    status: () => sup.status(),
    reload: async () => {
      notifier.reloading();
      const r = await sup.reload().catch((err: Error) => ({ ok: false, configVersion: sup.configVersion, problems: [err.message] }));
      if (r.ok) {
        admin.configure(sup.config.admin);
        insight.configure(sup.config.observability);
      }
      notifier.ready(r.ok ? `config version ${r.configVersion} applied` : `reload refused (config invalid); still on config version ${r.configVersion}`);
      return r;
    },
    upgrade: (v, p) => sup.upgrade(v, p),
    rollback: (p) => sup.rollback(p),
    stop: () => stop(false),
    metrics: () => registry.metrics(),
    digests: (q) => insight.digests.query(q),
    resetDigests: () => insight.digests.reset(),
    backendAction: (cluster, id, action) => monitor.setOperatorState(cluster, id, action === 'enable' ? 'none' : action === 'drain' ? 'draining' : 'disabled'),
    backendConnections: (cluster, id, since) => sup.connectionsOn(cluster, id, since),
    allowlistFile: () => allowlist.path,
    allowlists: () => allowlist.list(),
    allowlist: (account) => allowlist.get(account),
    setAllowlistMode: (account, mode) => allowlist.setMode(account, mode),
    putAllowlist: (account, digests, mode) => allowlist.put(account, digests, mode),
    ...(process.env.DBMESH_DEBUG_HOOKS === '1' ? {
      debugAlloc: async (pid: number, mib: number) => {
        const w = sup.workers.find((x) => x.pid === pid && x.state === 'ready');
        if (!w) return false;
        const ack = await w.channel.request('debug-alloc', { mib }, 10000).catch(() => null);
        return ack?.ok === true;
      },
    } : {}),
  };
  // Race window: the admin address may have been taken since it was tried above; the
  // workers then served for a moment at most, and `undo` stops them.
  const admin = await startAdminApi(sup.config.admin, control, log);
  const fdLimit = openFileLimit();
  if (fdLimit !== null && fdLimit < LOW_FD_LIMIT) {
    log.warn('the master\'s open-file limit is low: a burst of client connections can exhaust it (raise LimitNOFILE, or ulimit -n)', { fd_limit: fdLimit, recommended: LOW_FD_LIMIT });
  }

  const stop = (immediate: boolean): Promise<void> => {
    stopping ??= (async () => {
      log.info('dbmesh stopping', { immediate });
      notifier.stopping();
      await sup.stop(immediate);
      monitor.stop();
      insight.stop();
      await admin.close();
      notifier.close();
      process.exitCode = 0;
      setImmediate(() => process.exit(0));
    })();
    return stopping;
  };

  const onSignal = (signal: NodeJS.Signals, action: () => void): void => {
    process.on(signal, () => {
      log.info('signal received', { signal });
      action();
    });
  };
  onSignal('SIGHUP', () => void control.reload());
  onSignal('SIGUSR2', () => {
    const v = currentVersion(sup.config.releases.dir);
    if (v === null) {
      log.error('SIGUSR2: no releases/current link to upgrade to', { releases_dir: sup.config.releases.dir });
      return;
    }
    void sup.upgrade(v, () => {}).then((r) => {
      if (r.ok) log.info('SIGUSR2 upgrade done', { from: r.fromVersion, to: r.toVersion, sessions_moved: r.sessionsMoved });
      else log.error('SIGUSR2 upgrade failed', { to: r.toVersion, error: r.error });
    });
  });
  // logrotate's postrotate: the slow log and capture files were moved; workers reopen them.
  onSignal('SIGUSR1', () => insight.reopenWorkers());
  onSignal('SIGTERM', () => void stop(false));
  onSignal('SIGINT', () => void stop(false));
  onSignal('SIGQUIT', () => void stop(true));

  log.info('dbmesh listening', {
    host: config.listen.host, port: config.listen.port, workers: sup.workers.length,
    version: sup.release.version, master_version: MASTER_VERSION, config: configPath,
  });

  // READY only once every handler is in place: systemd may send SIGHUP right after it.
  notifier.ready(`serving ${config.listen.host}:${config.listen.port} with ${sup.workers.filter((w) => w.state === 'ready').length} workers (${sup.release.version})`);

  return { supervisor: sup, close: () => stop(false) };
}
