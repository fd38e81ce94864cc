/**
 * Giving memory back after a burst of connections that never logged in.
 *
 * V8 collects garbage when JavaScript allocates, so a worker that goes quiet after thousands
 * of unauthenticated connections closed would keep their sessions, sockets and handshake
 * bytes until traffic resumed, and the master's memory watchdog would see that RSS. After such
 * a burst the server asks for a full collection, once the burst is over and at most every
 * MIN_INTERVAL_MS. It needs `gc` (the master forks workers with --expose-gc); without it this
 * does nothing.
 */
/** Unauthenticated connections closed since the last collection that make a burst. */
const BURST = 256;
/** Wait this long after the burst's last counted close (more closes may follow). */
const QUIET_MS = 1000;
const MIN_INTERVAL_MS = 10000;
const SECOND_AFTER_MS = 6000;

type Collect = () => void;

export class BurstCollector {
  private closed = 0;
  private timer: NodeJS.Timeout | null = null;
  private last = 0;
  /** The small allocation between the two collections (kept so it is not optimised away). */
  private rate: number[] = [];

  constructor(private readonly gc: Collect | null = (globalThis as { gc?: Collect }).gc ?? null) {}

  /** A connection that had not authenticated closed. */
  noteClosed(): void {
    if (this.gc === null || ++this.closed < BURST) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.collect(), Math.max(QUIET_MS, this.last + MIN_INTERVAL_MS - Date.now()));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private collect(): void {
    this.timer = null;
    this.closed = 0;
    this.last = Date.now();
    this.gc!();
    // V8 shrinks the young generation (grown to tens of MiB by the burst) in a collection that
    // sees a low but non-zero allocation rate since the previous one: a second one a little
    // later, after a small allocation of our own so the rate is never exactly zero.
    this.timer = setTimeout(() => {
      this.timer = null;
      this.rate = new Array(256).fill(this.closed);
      this.gc!();
    }, SECOND_AFTER_MS);
    this.timer.unref();
  }
}
