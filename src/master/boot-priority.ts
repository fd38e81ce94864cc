/**
 * A worker that is starting (module loading, JIT warm-up, backend probes, pool warm-up) burns
 * a few hundred ms of CPU. On a small machine that CPU comes out of the workers serving
 * traffic, and their statements queue behind it: the upgrade's latency spike. So a starting
 * worker runs at a lower priority until it is ready. Only where the priority can be raised
 * back afterwards (root or CAP_SYS_NICE); elsewhere nothing changes.
 */
import os from 'node:os';

const BOOT_NICENESS = 10;

/** Lower `pid`'s priority; returns the function that restores it. */
export function lowerWhileBooting(pid: number): () => void {
  if (pid === 0 || process.getuid?.() !== 0) return () => {};
  let before: number;
  try {
    before = os.getPriority(pid);
    os.setPriority(pid, Math.min(19, before + BOOT_NICENESS));
  } catch {
    return () => {};
  }
  return () => {
    try {
      os.setPriority(pid, before);
    } catch {
      // the worker is gone
    }
  };
}
