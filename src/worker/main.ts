/**
 * Entry point of a worker process forked by the master (node:cluster). The worker waits for
 * its config, boots (reporting each phase as it begins: the master judges readiness by that
 * progress), listens on the shared port, reports ready, and from then on obeys the master:
 * reload config, drain (hand sessions over, then exit), stop, adopt moved sessions.
 * A worker whose master disappears exits: it must never serve unsupervised.
 */
import { readFileSync } from 'node:fs';
import { IpcChannel, type IpcEndpoint } from '../ipc/channel.js';
import type { AdoptMsg, BootFailureData, BootPhase, ConfigMsg, DrainMsg, FindSessionMsg, HealthMsg, AllowlistMsg, StopMsg } from '../ipc/messages.js';
import type { HealthView } from '../monitor/health-view.js';
import type { AllowlistWire } from '../allowlist/accounts.js';
import { createRootLogger, logger, setLogLevel } from '../observability/logger.js';
import { ProxyServer } from './server.js';
import { warmUpCode } from './code-warm-up.js';
import { CloseReason } from '../observability/close-reasons.js';
import type { RemoteSession } from './session-host.js';
import { SessionReceiver } from './handoff.js';
import { drainWorker } from './drain.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const STATS_INTERVAL_MS = 1000;
/** How often digests and counters go to the master (it owns the totals). */
const INSIGHT_INTERVAL_MS = 1000;
/** How long an exiting worker may spend writing its queued capture / slow-log lines. */
const LOG_FLUSH_MS = 2000;
/** How long a new worker may spend opening backend connections before it reports ready. */
const WARM_UP_LIMIT_MS = 3000;

export function runWorker(): void {
  createRootLogger();
  const log = logger('worker').child({ version: VERSION });
  if (!process.send) {
    log.error('the worker entry must be started by the dbmesh master');
    process.exit(1);
  }
  const channel = new IpcChannel(process as unknown as IpcEndpoint);
  let server: ProxyServer | null = null;
  // The master monitor's view; newer than the one in the first config when it arrives during the boot.
  let latestHealth: HealthView | null = null;
  /** Allowlists that came before the server was built (applied to it then). */
  let latestAllowlist: AllowlistWire | null = null;
  let receiver: SessionReceiver | null = null;
  let draining = false;
  const ballast: Buffer[] = [];

  // Signals are the master's business: Ctrl-C in a terminal reaches the whole process group,
  // and a stray HUP/USR2 must not kill a worker. The master drains workers over IPC.
  for (const sig of ['SIGINT', 'SIGHUP', 'SIGUSR2'] as const) process.on(sig, () => {});

  // A bug that escapes every session's own barrier (session.internalError) is logged, not
  // fatal: exiting would drop every session of this worker for the fault of one.
  process.on('uncaughtException', (err) => log.error('uncaught exception (a dbmesh bug); the worker goes on', { error: err.message, stack: err.stack }));
  process.on('unhandledRejection', (err) => log.error('unhandled promise rejection (a dbmesh bug); the worker goes on', { error: (err as Error)?.message ?? String(err), stack: (err as Error)?.stack }));

  process.on('disconnect', () => {
    log.warn('master went away; exiting');
    process.exit(0);
  });

  channel.on('config', async (raw) => {
    const msg = raw as unknown as ConfigMsg;
    setLogLevel(msg.config.log.level);
    let phase: BootPhase = 'applying config';
    // The master's readiness clock: each boot phase is reported as it begins.
    const step = async (next: BootPhase, work: () => Promise<unknown>): Promise<void> => {
      phase = next;
      channel.post('boot', { phase });
      await debugBootHook(phase);
      await work();
    };
    try {
      if (server === null) {
        channel.post('boot', { phase });
        // Built before any await: a reload arriving during the boot reconfigures this one.
        const srv = server = new ProxyServer(msg.config, { idPrefix: msg.slot, ...(msg.health !== undefined ? { health: latestHealth ?? msg.health } : {}) });
        if (msg.allowlist !== undefined) srv.firewall.allowlists.apply(msg.allowlist);
        if (latestAllowlist !== null) srv.firewall.allowlists.apply(latestAllowlist); // ignored when older
        if (msg.health !== undefined) srv.directory.onSuspect = (cluster, backend) => channel.post('suspect', { cluster, backend });
        srv.remoteLookup = (id, kill) => lookupRemote(channel, id, kill);
        srv.admitRemote = (user, max) => admitRemote(channel, user, max);
        srv.releaseRemote = (user) => channel.post('release-user', { user });
        srv.adoptedRemote = (user) => channel.post('adopt-user', { user });
        receiver = new SessionReceiver(srv, channel, log);
        await step('probing backends', () => srv.prepare());
        // Take over warm: open the connections the workers already running hold (bounded wait).
        await step('warming pools', () => Promise.race([srv.pools.warm(msg.warm ?? []), new Promise((r) => setTimeout(r, WARM_UP_LIMIT_MS).unref())]));
        await step('warming up code', () => warmUpCode(srv, WARM_UP_LIMIT_MS).catch((err: Error) => log.warn('code warm-up failed (first statements will be slower)', { error: err.message })));
        await step('listening', () => srv.listen(msg.config.listen.host, msg.config.listen.port));
        channel.ack(msg.seq, true);
        channel.post('ready', { version: VERSION, pid: process.pid });
        startStats();
      } else {
        if (msg.allowlist !== undefined) server.firewall.allowlists.apply(msg.allowlist);
        await server.reconfigure(msg.config);
        channel.ack(msg.seq, true);
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? null;
      log.error('worker failed to apply config', { error: (err as Error).message, code, boot_phase: phase });
      // The phase and errno code let the master say where it failed, and tell an address in use from a bug.
      const data: BootFailureData = { phase, code };
      channel.ack(msg.seq, false, { error: (err as Error).message, data });
    }
  });

  channel.on('health', (raw) => {
    const view = (raw as unknown as HealthMsg).view;
    if (view === null || typeof view !== 'object' || typeof view.clusters !== 'object') return;
    if (latestHealth !== null && view.seq < latestHealth.seq) return;
    latestHealth = view;
    server?.directory.apply(view);
  });

  channel.on('allowlist', (raw) => {
    const wire = (raw as unknown as AllowlistMsg).wire;
    if (wire === null || typeof wire !== 'object' || !Array.isArray(wire.accounts)) return;
    latestAllowlist = wire;
    server?.firewall.allowlists.apply(wire);
  });

  channel.on('limit-shares', (raw) => {
    const shares = (raw as { shares?: unknown }).shares;
    if (shares !== null && typeof shares === 'object') server?.limits.setShares(shares as Record<string, number>);
  });

  channel.on('adopt', (raw, handle) => {
    if (receiver) receiver.receive(raw as unknown as AdoptMsg, handle);
  });

  channel.on('find-session', (raw) => {
    const msg = raw as unknown as FindSessionMsg;
    const s = server?.findSession(msg.connId);
    const found: RemoteSession | null = s ? { threadId: s.backendThreadId, backendId: s.backendId, user: s.user?.name } : null;
    // `kill` comes only after the server allowed the KILL (kill-command.ts).
    if (s && msg.kill) {
      // Idle on no backend connection: nothing runs on a server, the session just ends.
      if (s.backendThreadId === 0) s.close(CloseReason.KILLED);
      else s.markKilled();
    }
    channel.ack(msg.seq, found !== null, { data: found });
  });

  channel.on('drain', (raw) => {
    const msg = raw as unknown as DrainMsg;
    channel.ack(msg.seq, true);
    void drain(msg.timeoutMs, true);
  });

  channel.on('stop', (raw) => {
    const msg = raw as unknown as StopMsg;
    channel.ack(msg.seq, true);
    void drain(msg.timeoutMs, false);
  });

  channel.on('reopen-logs', (raw) => {
    server?.insight.reopen();
    channel.ack(raw.seq, true);
  });

  channel.on('debug-alloc', (raw) => {
    // Test hook for the memory watchdog; inert unless explicitly enabled.
    if (process.env.DBMESH_DEBUG_HOOKS !== '1') return channel.ack(raw.seq, false, { error: 'debug hooks disabled' });
    const mib = Number((raw as unknown as { mib: number }).mib) || 0;
    channel.ack(raw.seq, true); // accepted; the watchdog may kill us before the memory is all in
    setImmediate(() => {
      for (let i = 0; i < mib; i++) ballast.push(Buffer.alloc(1024 * 1024, 1));
    });
  });

  // The master sends nothing until it hears this: messages sent before our listener existed
  // would be lost.
  channel.post('hello', { version: VERSION, pid: process.pid });

  /** Ship the statement digests and counters gathered since the last shipment. */
  function shipInsight(): void {
    if (server === null) return;
    const delta = server.insight.drain();
    const firewall = server.firewall.drain();
    const learned = server.firewall.allowlists.drainLearned();
    if (firewall === null && learned === null && delta.digests.length === 0 && delta.metrics === null && delta.logs.capture.written + delta.logs.capture.dropped + delta.logs.slow.written + delta.logs.slow.dropped === 0) return;
    channel.post('insight', { delta: { ...delta, ...(firewall !== null ? { firewall } : {}), ...(learned !== null ? { learned } : {}) } });
  }

  function startStats(): void {
    setInterval(shipInsight, INSIGHT_INTERVAL_MS).unref();
    setInterval(() => {
      channel.post('stats', { connections: server?.connectionCount ?? 0, draining, moved: 0, pinned: server?.pinnedByReason() ?? {}, pools: server?.pools.stats() ?? {}, warm: server?.pools.warmList() ?? [], backends: server?.backendFigures() ?? {} });
    }, STATS_INTERVAL_MS).unref();
  }

  /**
   * Leave: stop accepting; with `handOff`, move every session at its next command boundary;
   * without, close idle sessions and let busy ones finish. After `timeoutMs` close the rest.
   */
  async function drain(timeoutMs: number, handOff: boolean): Promise<void> {
    if (draining || server === null) return;
    draining = true;
    const srv = server;
    const r = await drainWorker(srv, channel, log, timeoutMs, handOff);
    await r.sent; // every descriptor must have left before we exit
    const moved = r.moved;
    const left = r.closedAtTimeout;
    log.info('worker drained', { sessions_moved: moved, sessions_closed_at_timeout: left });
    // The last statements' digests and counters: an upgrade or replacement loses none.
    await srv.insight.close(LOG_FLUSH_MS);
    shipInsight();
    channel.post('drained', { moved, closed: left });
    // Let the IPC channel flush the last handoff messages before leaving.
    setImmediate(() => process.disconnect?.());
    setTimeout(() => process.exit(0), 200).unref();
  }
}

/**
 * Test hooks for the master's readiness judgement, inert unless DBMESH_DEBUG_HOOKS=1:
 * DBMESH_DEBUG_BOOT_DELAY_MS makes every boot phase take that much longer (a loaded
 * machine), DBMESH_DEBUG_BOOT_STALL=<phase> makes the worker never leave that phase (stuck).
 */
function debugBootHook(phase: BootPhase): Promise<void> {
  if (process.env.DBMESH_DEBUG_HOOKS !== '1') return Promise.resolve();
  if (process.env.DBMESH_DEBUG_BOOT_STALL === phase) return new Promise(() => {});
  const ms = Number(process.env.DBMESH_DEBUG_BOOT_DELAY_MS) || 0;
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

/** users[].limits: the master counts the connection over all workers; its answer brings this worker's share. */
async function admitRemote(channel: IpcChannel, user: string, max: number): Promise<{ ok: boolean; share: number }> {
  const ack = await channel.request('admit-user', { user, max }, 3000);
  const d = ack.data as { ok?: unknown; share?: unknown } | null;
  return { ok: d?.ok === true, share: typeof d?.share === 'number' ? d.share : 1 };
}

async function lookupRemote(channel: IpcChannel, connId: number, kill: boolean): Promise<RemoteSession | null> {
  try {
    const ack = await channel.request('lookup-session', { connId, kill }, 3000);
    if (!ack.ok) return null;
    // Workers of an older release answer with the bare thread id.
    if (typeof ack.data === 'number') return ack.data === 0 ? null : { threadId: ack.data, backendId: '' };
    const d = ack.data as RemoteSession | null;
    return d !== null && typeof d === 'object' && typeof d.threadId === 'number' ? d : null;
  } catch {
    return null;
  }
}

runWorker();
