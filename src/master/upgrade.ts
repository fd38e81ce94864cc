/**
 * Zero-downtime upgrade (and rollback, which is an upgrade to the previous version):
 *  1. fork the new release's workers and wait until each is ready;
 *  2. keep them on probation: a crash in that window rolls back (old workers never stopped);
 *  3. drain the old workers: they stop accepting and hand every session over, with its
 *     backend connection, at its next command boundary;
 *  4. old workers exit once empty. The release becomes the active one.
 */
import type { ProgressEvent, UpgradeResult } from './control.js';
import type { Release } from './releases.js';
import type { Supervisor } from './supervisor.js';
import type { WorkerHandle } from './worker-handle.js';
import { describeBootFailure } from './boot-watch.js';

export async function runUpgrade(sup: Supervisor, release: Release, onProgress: (e: ProgressEvent) => void): Promise<UpgradeResult> {
  const fromVersion = sup.release.version;
  const progress = (e: ProgressEvent): void => {
    sup.log.info('upgrade', { phase: e.phase, detail: e.message, to_version: release.version });
    onProgress(e);
  };
  const result = (ok: boolean, moved: number, closed: number, error?: string): UpgradeResult =>
    ({ ok, fromVersion, toVersion: release.version, sessionsMoved: moved, sessionsClosed: closed, ...(error ? { error } : {}) });

  const old = sup.workers.filter((w) => w.state === 'ready' || w.state === 'spawning');
  progress({ phase: 'start', message: `upgrading ${fromVersion} -> ${release.version}: starting ${sup.config.workers} new workers` });
  // One at a time: a booting node process takes a core for a few hundred ms, and the old
  // workers are still serving on the same cores.
  const spawned: WorkerHandle[] = [];
  let allReady = true;
  for (let slot = 0; slot < sup.config.workers && allReady; slot++) allReady = await sup.spawn(release, slot, 0, (w) => spawned.push(w));
  const started = sup.workers.filter((w) => w.release === release && !old.includes(w));
  for (const w of started) progress({ phase: 'spawned', message: `worker ${w.pid} (${w.version}) started`, workerPid: w.pid });

  const abort = async (why: string): Promise<UpgradeResult> => {
    progress({ phase: 'rollback', message: `rolling back: ${why}; ${fromVersion} workers kept serving` });
    await Promise.all(started.map((w) => w.drain(sup.config.supervisor.drainTimeoutMs, true, 'upgrade rolled back')));
    progress({ phase: 'failed', message: `upgrade to ${release.version} rolled back: ${why}` });
    return result(false, 0, 0, why);
  };

  if (!allReady) {
    const failed = spawned[spawned.length - 1]!;
    const outcome = failed.boot.settled;
    return abort(`new worker ${failed.pid} did not become ready${outcome?.ok === false ? `: ${describeBootFailure(outcome)}` : ''}`);
  }
  progress({ phase: 'ready', message: `${started.length} new workers ready; probation ${sup.config.supervisor.probationMs} ms` });
  const crashed = await probation(started, sup.config.supervisor.probationMs);
  if (crashed) return abort(`new worker ${crashed} exited during probation`);

  // From here the new release is the one sessions and new workers go to.
  sup.release = release;
  const movedBefore = sup.router.moved;
  const failedBefore = sup.router.failed;
  // Progress while draining, from the new workers' adoption reports.
  sup.router.onAdopted = () => {
    const n = sup.router.moved - movedBefore;
    if (n % 50 === 1) progress({ phase: 'moved', message: `${n} sessions moved so far`, sessionsMoved: n });
  };
  progress({ phase: 'draining', message: `draining ${old.length} old workers (sessions move at their next command boundary)` });
  await Promise.all(old.map(async (w) => {
    await w.drain(sup.config.supervisor.drainTimeoutMs, true, `upgraded to ${release.version}`);
    progress({ phase: 'retired', message: `old worker ${w.pid} (${w.version}) exited`, workerPid: w.pid });
  }));
  sup.router.onAdopted = null;
  // The old workers' own counts: adoption reports from new workers may still be in flight.
  const moved = old.reduce((n, w) => n + (w.drained?.moved ?? 0), 0);
  const closed = old.reduce((n, w) => n + (w.drained?.closed ?? 0), 0) + (sup.router.failed - failedBefore);
  progress({ phase: 'moved', message: `${moved} sessions moved`, sessionsMoved: moved });
  progress({ phase: 'done', message: `now running ${release.version}` });
  return result(true, moved, closed);
}

/** Resolves with the pid of a worker that died within `ms`, or null when all stayed up. */
function probation(workers: { pid: number; exited: Promise<unknown> }[], ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    for (const w of workers) void w.exited.then(() => { clearTimeout(timer); resolve(w.pid); });
  });
}
