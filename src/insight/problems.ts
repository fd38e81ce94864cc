/**
 * Rate-limited problem reports for the insight writers: a disk that fills up or a FIFO with
 * no reader fails on every attempt, and the caller's log must get one line per interval,
 * not one per attempt. The ones held back are counted in the next report.
 */

export type ProblemCallback = (message: string, err: NodeJS.ErrnoException | null) => void;

export class ProblemReporter {
  private lastAt = -Infinity;
  private heldBack = 0;

  constructor(
    private readonly prefix: string,
    private readonly callback: ProblemCallback | undefined,
    private readonly intervalMs: number,
  ) {}

  report(message: string, err: NodeJS.ErrnoException | null): void {
    if (this.callback === undefined) return;
    const now = Date.now();
    if (now - this.lastAt < this.intervalMs) {
      this.heldBack++;
      return;
    }
    // Stamped before the call: a callback that reports again (through the writer) is held back.
    this.lastAt = now;
    const more = this.heldBack > 0 ? ` (${this.heldBack} more since the last report)` : '';
    this.heldBack = 0;
    try {
      this.callback(`${this.prefix}${message}${more}`, err);
    } catch {
      // A failing logger must not take the writer, or the process, down (this runs in fs callbacks).
    }
  }
}
