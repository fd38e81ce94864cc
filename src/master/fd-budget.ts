/**
 * The master's file descriptors. Under node:cluster round robin the master accepts every
 * MySQL client connection and holds its descriptor until a worker takes it. A master out of
 * descriptors (EMFILE) cannot accept: libuv then accepts and drops pending connections to
 * keep the listening socket from spinning, so no client gets in. Whatever else the master
 * opens at a stranger's request (admin API connections) is therefore bounded to a share of
 * its limit, and the rest stays for the data path, IPC and the watchdog's /proc reads.
 */
import { readFileSync } from 'node:fs';

/** The admin API may hold at most this fraction of the master's descriptors. */
const ADMIN_SHARE = 1 / 4;
/** Below this many descriptors a burst of client connections can exhaust the master. */
export const LOW_FD_LIMIT = 4096;

/**
 * This process's open-file limit (Node raises the soft limit to the hard one when it starts),
 * or null where /proc does not say or there is no limit.
 */
export function openFileLimit(limitsText?: string): number | null {
  let text = limitsText;
  try {
    text ??= readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return null;
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = Number(line?.slice('Max open files'.length).trim().split(/\s+/)[0]);
  return Number.isInteger(soft) && soft > 0 ? soft : null; // "unlimited" is NaN
}

/** Admin connections allowed at once: the configured number, within the admin share of `fdLimit`. */
export function adminConnectionCap(configured: number, fdLimit: number | null): number {
  if (fdLimit === null) return configured;
  return Math.max(1, Math.min(configured, Math.floor(fdLimit * ADMIN_SHARE)));
}
