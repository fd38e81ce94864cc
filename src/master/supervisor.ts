/**
 * The supervisor: keeps `workers` worker processes running from the active release,
 * replaces crashed ones (with backoff; a crash loop is reported), applies reloads, runs
 * upgrades and rollbacks, and acts on the memory watchdog. Replace before retiring: a new
 * worker is started and ready before an old one drains, in upgrades and in the watchdog
 * alike. Never touches client bytes: moved sessions pass through as descriptors.
 */
import type { BootPhase, WarmShape } from '../ipc/messages.js';
import { lowerWhileBooting } from './boot-priority.js';
import { WarmMemory, averageShapes } from './warm-memory.js';
import type { Config } from '../config/types.js';
import { ConfigError, loadConfigFile } from '../config/index.js';
import { logger } from '../observability/logger.js';
import type { MasterStatus, ProgressEvent, ReloadResult, UpgradeResult } from './control.js';
import { activeRelease, releaseFor, setCurrent, type Release } from './releases.js';
import { WorkerHandle, type SharedState } from './worker-handle.js';
import { UserAdmission } from './user-admission.js';
import { HandoffRouter } from './handoff-router.js';
import { MemoryWatchdog } from './watchdog.js';
import { runUpgrade } from './upgrade.js';
import { addressError, isAddressCode } from './addresses.js';
import { describeBootFailure } from './boot-watch.js';
import type { Monitor } from '../monitor/monitor.js';
import type { HealthView } from '../monitor/health-view.js';
import type { AllowlistWire } from '../allowlist/accounts.js';
import { allowlistPath, type AllowlistStore } from '../allowlist/store.js';

const CRASH_WINDOW_MS = 60000;
const CRASH_LOOP_THRESHOLD = 5;

export class Supervisor {
  readonly log = logger('master');
  workers: WorkerHandle[] = [];
  configVersion = 1;
  release: Release;
  previousVersion: string | null = null;
  readonly startedAt = Date.now();
  readonly router: HandoffRouter;
  readonly watchdog: MemoryWatchdog<WorkerHandle>;
  softReplacements = 0;
  hardKills = 0;
  /** Workers that exited unasked since the master started (each is replaced). */
  crashCount = 0;
  /** Upgrades and rollbacks since the master started, by outcome. */
  upgradesOk = 0;
  upgradesFailed = 0;
  /** Each worker's statement digests and counters, as shipped (master/insight composes them). */
  onInsight: ((delta: unknown) => void) | null = null;
  busy: string | null = null; // an upgrade/rollback/replacement in progress
  /** Called when a starting worker begins a boot phase. */
  onBootProgress: ((w: WorkerHandle, phase: BootPhase) => void) | null = null;
  stopping = false;
  /** The backend monitor (one per instance): its view goes to every worker, at start and on each change. */
  monitor: Monitor | null = null;
  /** The firewall allowlists (one file per instance): sent to every worker, at start and on each change. */
  allowlist: AllowlistStore | null = null;
  /** users[].limits: every limited user's connections, per worker. */
  readonly admission = new UserAdmission();
  private nextPrefix = 1;
  private readonly crashes = new Map<number, number[]>();
  /** By kind and slot ("crash 1", "ready 1"): one current alert each. */
  private readonly alerts = new Map<string, string>();
  private readonly warmMemory: WarmMemory;

  constructor(public config: Config, readonly configPath: string, readonly masterVersion: string) {
    this.release = activeRelease(config.releases.dir);
    this.router = new HandoffRouter((from) => this.pickTarget(from));
    this.warmMemory = new WarmMemory(config.releases.dir, this.log);
    this.watchdog = new MemoryWatchdog(config.watchdog, () => this.workers.filter((w) => w.state === 'ready' || w.state === 'draining'), (v) => this.onMemoryVerdicts(v.soft, v.hard));
    this.admission.onShares = (pid, shares) => this.workers.find((w) => w.pid === pid && w.state !== 'dead')?.channel.post('limit-shares', { shares });
  }

  /** Start the initial workers; resolves when all reported ready. */
  async start(): Promise<void> {
    // Limits in % are only known here: refused like any other config problem (exit 2).
    const problems = await this.watchdog.problemsWith(this.config.watchdog);
    if (problems.length > 0) throw new ConfigError('invalid', problems, this.configPath);
    const spawned: WorkerHandle[] = [];
    const ready = await Promise.all(Array.from({ length: this.config.workers }, (_, slot) => this.spawn(this.release, slot, 0, (w) => spawned.push(w))));
    // Race window: the address was free when the master tried it, and taken before the
    // first worker bound it. Restarting workers would loop; fail the start instead.
    const refused = spawned.find((w) => isAddressCode(w.bootError?.code));
    if (ready.every((ok) => !ok) && refused !== undefined) {
      await this.stop(true);
      throw addressError('listen', this.config.listen.host, this.config.listen.port, refused.bootError!.code!);
    }
    if (ready.some((ok) => !ok)) this.log.warn('some workers did not become ready; they are being restarted');
    await this.watchdog.start();
  }

  /** Fork one worker, configure it, wait until ready. */
  async spawn(release: Release, slot: number, restarts: number, onSpawned?: (w: WorkerHandle) => void): Promise<boolean> {
    const w = WorkerHandle.spawn(release, slot, this.allocatePrefix(), restarts);
    this.workers.push(w);
    onSpawned?.(w);
    w.boot.onProgress = (phase) => this.onBootProgress?.(w, phase);
    this.router.attach(w);
    w.onStats = () => this.warmMemory.note(this.liveWarmLists());
    w.channel.on('insight', (msg) => this.onInsight?.(msg.delta));
    w.channel.on('suspect', (msg) => this.monitor?.suspect(String(msg.cluster), String(msg.backend)));
    w.channel.on('lookup-session', (msg) => void this.lookupSession(w, msg.seq, Number(msg.connId), msg.kill === true));
    w.channel.on('admit-user', (msg) => w.channel.ack(msg.seq, true, { data: this.admission.admit(w.pid, String(msg.user), Number(msg.max) || 0) }));
    w.channel.on('release-user', (msg) => this.admission.release(w.pid, String(msg.user)));
    w.channel.on('adopt-user', (msg) => this.admission.adopt(w.pid, String(msg.user)));
    void w.exited.then(({ code, signal }) => this.onExit(w, code, signal));
    this.log.info('worker starting', { worker_pid: w.pid, version: release.version, slot });
    const restorePriority = lowerWhileBooting(w.pid);
    const { readyTimeoutMs, readyLimitMs } = this.config.supervisor;
    const outcome = await w.configure(this.config, this.configVersion, readyTimeoutMs, readyLimitMs, this.warmShare(), () => this.shared());
    restorePriority();
    if (outcome.ok) {
      this.log.info('worker ready', { worker_pid: w.pid, version: release.version, slot, boot_ms: outcome.bootMs });
      this.alerts.delete(`ready ${slot}`);
      return true;
    }
    const why = describeBootFailure(outcome);
    this.log.error('worker failed to become ready', {
      worker_pid: w.pid, version: release.version, slot, reason: outcome.reason, boot_phase: outcome.phase, phase_ms: outcome.phaseMs,
      boot_ms: outcome.bootMs, ready_timeout_ms: readyTimeoutMs, ready_limit_ms: readyLimitMs, error: outcome.error, code: w.bootError?.code ?? null, detail: why,
    });
    // In an upgrade, the upgrade reports it; otherwise it stays in the status until the slot serves.
    if (release === this.release) this.alerts.set(`ready ${slot}`, `worker ${w.pid} in slot ${slot} did not become ready: ${why}; killed and restarted`);
    // Outside an upgrade this counts as a crash (respawned with backoff); in an upgrade the
    // upgrade decides.
    w.kill('SIGKILL');
    return false;
  }

  /**
   * What a new worker should open before it serves: per login shape, the average number of
   * backend connections the running workers hold (it is about to take a share of their load),
   * or, with none running (a fresh start), what the last run's workers held.
   */
  private warmShare(): WarmShape[] {
    const live = this.liveWarmLists();
    return live.length === 0 ? this.warmMemory.remembered() : averageShapes(live);
  }

  private liveWarmLists(): (readonly WarmShape[])[] {
    return this.workers.filter((w) => w.state === 'ready' || w.state === 'draining').map((w) => w.warm);
  }

  private allocatePrefix(): number {
    // 10 bits of worker prefix above 22 bits of per-worker counter: ids stay unique across
    // workers, and a moved session keeps its id in its new worker.
    const inUse = new Set(this.workers.filter((w) => w.state !== 'dead').map((w) => w.idPrefix));
    for (;;) {
      const p = this.nextPrefix;
      this.nextPrefix = this.nextPrefix >= 1023 ? 1 : this.nextPrefix + 1;
      if (!inUse.has(p)) return p;
    }
  }

  private onExit(w: WorkerHandle, code: number | null, signal: string | null): void {
    this.workers = this.workers.filter((x) => x !== w);
    this.admission.workerGone(w.pid);
    if (w.retireReason !== null || this.stopping) {
      this.log.info('worker exited', { worker_pid: w.pid, version: w.version, reason: w.retireReason ?? 'stop', code, signal });
      return;
    }
    this.log.error('worker crashed', { worker_pid: w.pid, version: w.version, slot: w.slot, code, signal });
    this.crashCount++;
    if (this.busy === 'upgrade' && w.version !== this.release.version) return; // the upgrade decides
    const now = Date.now();
    const recent = (this.crashes.get(w.slot) ?? []).filter((t) => now - t < CRASH_WINDOW_MS);
    recent.push(now);
    this.crashes.set(w.slot, recent);
    const delay = Math.min(30000, 100 * 2 ** (recent.length - 1));
    if (recent.length >= CRASH_LOOP_THRESHOLD) {
      const last = w.bootError === null ? '' : `; last start failed: ${w.bootError.message}`;
      const alert = `crash loop in slot ${w.slot}: ${recent.length} crashes in ${CRASH_WINDOW_MS / 1000} s; backing off ${delay} ms${last}`;
      this.alerts.set(`crash ${w.slot}`, alert);
      this.log.error('worker crash loop', { slot: w.slot, crashes: recent.length, backoff_ms: delay, error: w.bootError?.message ?? null });
    }
    setTimeout(() => {
      if (this.stopping || this.workers.some((x) => x.slot === w.slot && x.state !== 'dead')) return;
      void this.spawn(this.release, w.slot, w.restarts + 1).then((ok) => {
        if (ok) this.alerts.delete(`crash ${w.slot}`); // serving again: the loop is over (a new crash re-raises it)
      });
    }, delay).unref();
  }

  /** The worker a moving session goes to: ready, not the sender, of the active release, least loaded. */
  private pickTarget(from: WorkerHandle): WorkerHandle | null {
    const candidates = this.workers.filter((w) => w !== from && w.state === 'ready');
    const preferred = candidates.filter((w) => w.version === this.release.version);
    const pool = preferred.length > 0 ? preferred : candidates;
    let best: WorkerHandle | null = null;
    for (const w of pool) if (best === null || w.connections < best.connections) best = w;
    if (best) best.connections++; // count it now so a burst spreads
    return best;
  }

  /** KILL of a dbmesh id held by another worker: ask every other worker. */
  private async lookupSession(from: WorkerHandle, seq: number, connId: number, kill: boolean): Promise<void> {
    const others = this.workers.filter((w) => w !== from && w.state !== 'dead');
    const answers = await Promise.all(others.map((w) => w.channel.request('find-session', { connId, kill }, 2000).catch(() => null)));
    const hit = answers.find((a) => a?.ok && a.data !== null && a.data !== undefined);
    from.channel.ack(seq, hit !== undefined, { data: hit ? hit.data : null });
  }

  /** Replace one worker gracefully: start its successor, then drain it with handoff. */
  async replace(old: WorkerHandle, reason: string): Promise<boolean> {
    const ok = await this.spawn(this.release, old.slot, 0);
    if (!ok) return false;
    await old.drain(this.config.supervisor.drainTimeoutMs, true, reason);
    return true;
  }

  private onMemoryVerdicts(soft: WorkerHandle[], hard: WorkerHandle[]): void {
    if (this.stopping) return;
    for (const w of hard) {
      if (w.state === 'dead' || w.retireReason === 'memory hard limit') continue;
      this.hardKills++;
      this.log.error('worker over the hard memory limit: killing and replacing', { worker_pid: w.pid, rss_bytes: w.rssBytes, limit_bytes: this.watchdog.hardLimitBytes });
      // A draining worker already has its successor; a serving one needs one now.
      const needsSuccessor = w.state === 'ready';
      w.retireReason = 'memory hard limit';
      w.kill('SIGKILL');
      if (needsSuccessor) void this.spawn(this.release, w.slot, w.restarts);
    }
    if (this.busy) return; // one graceful replacement at a time; the next sample catches the rest
    const w = soft.find((x) => x.state === 'ready');
    if (!w) return;
    this.softReplacements++;
    this.busy = 'watchdog';
    this.log.warn('worker over the soft memory limit: replacing it gracefully', { worker_pid: w.pid, rss_bytes: w.rssBytes, limit_bytes: this.watchdog.softLimitBytes });
    void this.replace(w, 'memory soft limit').finally(() => { this.busy = null; });
  }

  async reload(): Promise<ReloadResult> {
    if (this.stopping) return { ok: false, configVersion: this.configVersion, problems: ['dbmesh is stopping; reload ignored'] };
    let next: Config;
    try {
      next = loadConfigFile(this.configPath);
    } catch (err) {
      return this.refuseReload(err instanceof ConfigError ? [...err.problems] : [(err as Error).message]);
    }
    // Checked against this machine and the running workers: a limit that passes the file's
    // rules may still be one every worker is already over.
    const limits = await this.watchdog.problemsWith(next.watchdog);
    if (limits.length > 0) return this.refuseReload(limits);
    try {
      this.allowlist?.moveTo(allowlistPath(next.firewall.allowlistFile, this.configPath));
    } catch (err) {
      return this.refuseReload([(err as Error).message]);
    }
    this.config = next;
    this.configVersion++;
    await this.watchdog.configure(next.watchdog);
    // The monitor first: the workers get a view that knows the new backends.
    await this.monitor?.setConfig(next);
    const shared = this.shared();
    const live = this.workers.filter((w) => w.state === 'ready' || w.state === 'spawning');
    await Promise.all(live.map((w) => w.channel.request('config', { config: next, configVersion: this.configVersion, slot: w.idPrefix, ...shared }, 10000).catch(() => null)));
    await this.resize();
    this.log.info('config reloaded', { config_version: this.configVersion });
    return { ok: true, configVersion: this.configVersion, problems: [] };
  }

  private refuseReload(problems: string[]): ReloadResult {
    this.log.error('reload refused: the config is invalid; nothing changed', { problems });
    return { ok: false, configVersion: this.configVersion, problems };
  }

  /** Match the number of workers to `config.workers` after a reload. */
  private async resize(): Promise<void> {
    const live = this.workers.filter((w) => w.state === 'ready' || w.state === 'spawning');
    const used = new Set(live.map((w) => w.slot));
    const spawns: Promise<boolean>[] = [];
    for (let slot = 0; slot < this.config.workers; slot++) if (!used.has(slot)) spawns.push(this.spawn(this.release, slot, 0));
    await Promise.all(spawns);
    const extra = live.filter((w) => w.slot >= this.config.workers);
    await Promise.all(extra.map((w) => w.drain(this.config.supervisor.drainTimeoutMs, true, 'fewer workers configured')));
  }

  upgrade(version: string, onProgress: (e: ProgressEvent) => void): Promise<UpgradeResult> {
    const from = this.release.version;
    if (this.stopping) return Promise.resolve({ ok: false, fromVersion: from, toVersion: version, sessionsMoved: 0, sessionsClosed: 0, error: 'refused: dbmesh is stopping' });
    if (this.busy) return Promise.resolve({ ok: false, fromVersion: from, toVersion: version, sessionsMoved: 0, sessionsClosed: 0, error: `refused: ${this.busy} in progress` });
    let release: Release;
    try {
      release = releaseFor(this.config.releases.dir, version);
    } catch (err) {
      return Promise.resolve({ ok: false, fromVersion: from, toVersion: version, sessionsMoved: 0, sessionsClosed: 0, error: (err as Error).message });
    }
    this.busy = 'upgrade';
    return runUpgrade(this, release, onProgress).then((r) => {
      if (r.ok) this.upgradesOk++;
      else this.upgradesFailed++;
      if (r.ok) {
        this.previousVersion = from;
        try {
          setCurrent(this.config.releases.dir, release.version);
        } catch (err) {
          this.log.warn('could not update the current symlink', { error: (err as Error).message });
        }
      }
      return r;
    }).finally(() => { this.busy = null; });
  }

  rollback(onProgress: (e: ProgressEvent) => void): Promise<UpgradeResult> {
    const to = this.previousVersion;
    if (to === null) return Promise.resolve({ ok: false, fromVersion: this.release.version, toVersion: '', sessionsMoved: 0, sessionsClosed: 0, error: 'nothing to roll back to: no upgrade since this master started' });
    return this.upgrade(to, onProgress);
  }

  /** Stop every worker: no new connections, sessions finish (drain timeout), then exit. */
  async stop(immediate = false): Promise<void> {
    this.stopping = true;
    this.watchdog.stop();
    if (immediate) {
      for (const w of this.workers) w.kill('SIGKILL');
      await Promise.all(this.workers.map((w) => w.exited));
      return;
    }
    await Promise.all(this.workers.map((w) => w.drain(this.config.supervisor.drainTimeoutMs, false, 'stop')));
  }

  /**
   * Backend connections the workers hold on a backend, from reports that arrived after
   * `since` (ms since epoch); null while some live worker has not reported since then.
   */
  connectionsOn(cluster: string, backendId: string, since: number): number | null {
    let open = 0;
    for (const w of this.workers) {
      if (w.state === 'dead' || w.state === 'spawning') continue;
      if (w.statsAt <= since) return null;
      for (const p of w.pools[cluster] ?? []) if (p.backend === backendId) open += p.open;
    }
    return open;
  }

  /** What every worker gets with its config: the monitor's view, the firewall allowlists. */
  private shared(): SharedState {
    return {
      ...(this.monitor !== null ? { health: this.monitor.view() } : {}),
      ...(this.allowlist !== null ? { allowlist: this.allowlist.wire() } : {}),
    };
  }

  /** Send the allowlists to every worker alive (each message holds the whole list; the newest wins). */
  publishAllowlist(wire: AllowlistWire): void {
    for (const w of this.workers) if (w.state !== 'dead') w.channel.post('allowlist', { wire });
  }

  /** Send the monitor's new view to every worker alive (not acknowledged: the next view supersedes it). */
  publishHealth(view: HealthView): void {
    for (const w of this.workers) if (w.state !== 'dead') w.channel.post('health', { view });
  }

  status(): MasterStatus {
    return {
      pid: process.pid, version: this.release.version, uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      configVersion: this.configVersion, configPath: this.configPath,
      workers: this.workers.map((w) => w.status()),
      alerts: [...(this.monitor?.view().alerts ?? []), ...this.alerts.values()],
      ...(this.monitor !== null ? { backends: this.monitor.view() } : {}),
      watchdog: { softLimitBytes: this.watchdog.softLimitBytes, hardLimitBytes: this.watchdog.hardLimitBytes, softReplacements: this.softReplacements, hardKills: this.hardKills },
      counts: { workerCrashes: this.crashCount, upgradesOk: this.upgradesOk, upgradesFailed: this.upgradesFailed },
    };
  }
}
