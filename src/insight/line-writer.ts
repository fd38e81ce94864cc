/**
 * Appends one line per entry (the SQL capture, the slow-query log) to a file that several
 * worker processes share, off the statement's critical path: write() only queues; one
 * fs.write at a time hands a batch of whole lines to the kernel. When the disk, or a FIFO's
 * reader, is slower than the traffic, the queue fills up to maxQueueBytes and further lines
 * are dropped and counted: the proxy never waits and never grows.
 *
 * Lines of several processes do not mix. The file is opened O_APPEND and every write() holds
 * whole lines only; on a regular file each write() lands at the end in one piece. On a pipe
 * or FIFO only a write of at most PIPE_BUF bytes is atomic (POSIX: all of it or EAGAIN), so
 * batches to a FIFO are capped at PIPE_BUF. A single line longer than that cannot be written
 * atomically by any means: it goes alone and may interleave with another process's write.
 *
 * Partial writes (a pipe with less room than a long line; a regular file at a size or quota
 * limit) leave part of a line in the kernel. The rest of the batch is therefore always written
 * next, on the same fd, before a reopen and before any newer line: dropping it would glue the
 * half line to whatever comes next. Only when the fd itself fails (EPIPE, ENOSPC, EIO...) or
 * close() times out is the rest dropped (counted); after such a failure on a regular file the
 * next batch starts with '\n', which ends the torn line so that it spoils no other line.
 *
 * Retry timing. EAGAIN (pipe full) keeps the batch and retries it after 10 ms, doubling up to
 * 1 s; meanwhile new lines wait in the queue and are dropped once it is full. Any other failure
 * closes the fd and drops what is queued; for the next second write() drops at once (no I/O, no
 * queue), and the first write() after it opens the path again (reopen() does at once). So a
 * FIFO with no reader (ENXIO, thanks to O_NONBLOCK instead of a thread blocked in open()) or a
 * missing directory costs one open attempt a second, not one a line, and needs no timer.
 *
 * At most one fs call is in flight (`busy`), so a reopen never closes the fd under a write:
 * no EBADF, and no write landing on an fd number the process has reused for a socket. Which
 * call comes next is decided in one place, pump(), from a small state machine (`State`);
 * hence a longer file than most.
 */
import fs from 'node:fs';
import { type Batch, LineQueue } from './line-queue.js';
import { type ProblemCallback, ProblemReporter } from './problems.js';

export interface LineWriterOptions {
  file: string;
  /** Bytes queued (not yet handed to the kernel) beyond which new lines are dropped. Default 4 MiB. */
  maxQueueBytes?: number;
  /** Called (at most once per 10 s per writer) with a message when opening/writing fails, so the caller can log it. */
  onProblem?: ProblemCallback;
}

const OPEN_FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NONBLOCK;
const FILE_MODE = 0o640;
const DEFAULT_MAX_QUEUE_BYTES = 4 * 1024 * 1024;
const MAX_BATCH_BYTES = 1024 * 1024;
const PIPE_BUF = 4096; // Linux; POSIX promises at least 512
const OPEN_RETRY_MS = 1000;
const PIPE_FULL_FIRST_RETRY_MS = 10;
const PIPE_FULL_MAX_RETRY_MS = 1000;
const PROBLEM_INTERVAL_MS = 10_000;
/**
 * Lines wait this long for more before a write, unless EAGER_BYTES are queued: at tens of
 * thousands of lines a second, a write per event-loop turn would cost a thread-pool round
 * trip and a system call every few lines; gathered, it is one per LINGER_MS.
 */
const LINGER_MS = 25;
const EAGER_BYTES = 64 * 1024;

/** opening: closing the old fd, open() or fstat() in flight. broken: no fd, see nextOpenAt. */
type State = 'opening' | 'open' | 'broken' | 'closed';
type AfterClose = 'reopen' | 'broken' | 'finish';

export class LineWriter {
  private readonly file: string;
  private readonly maxQueueBytes: number;
  private readonly problems: ProblemReporter;
  private readonly queue = new LineQueue();
  private state: State = 'opening';
  private fd = -1;
  private isPipe = false;
  private busy = false;
  private afterClose: AfterClose = 'finish';
  private flushScheduled = false;
  /** Waiting LINGER_MS for more lines before the next write. */
  private lingerTimer: NodeJS.Timeout | null = null;
  /** The queued lines may go now (they waited LINGER_MS, or there are EAGER_BYTES of them). */
  private ripe = false;
  private reopenWanted = false;
  private nextOpenAt = 0;
  /** Whole lines being handed to the kernel, possibly in several writes. */
  private batch: Batch | null = null;
  /** A failed write left part of a line in a regular file: the next batch starts with '\n'. */
  private tornLine = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = PIPE_FULL_FIRST_RETRY_MS;
  private overflowing = false;
  private closing: Promise<void> | null = null;
  private resolveClose: () => void = () => {};
  private closeTimer: NodeJS.Timeout | null = null;
  private abandoned = false;
  private drainWaiters: (() => void)[] = [];
  private droppedLines = 0;
  private writtenLines = 0;

  constructor(opts: LineWriterOptions) {
    this.file = opts.file;
    this.maxQueueBytes = opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
    this.problems = new ProblemReporter(`line writer ${opts.file}: `, opts.onProblem, PROBLEM_INTERVAL_MS);
    this.startOpen();
  }

  /** Lines dropped since creation (queue full, file not open, write failed). */
  get dropped(): number {
    return this.droppedLines;
  }

  /** Lines handed to the kernel. */
  get written(): number {
    return this.writtenLines;
  }

  /** Bytes accepted but not yet handed to the kernel (queued lines and the rest of the batch in hand). */
  get queuedBytes(): number {
    return this.queue.bytes + (this.batch === null ? 0 : this.batch.remaining);
  }

  /** Queue one line (without its trailing newline, and containing none). Never blocks, never throws. False when dropped. */
  write(line: string): boolean {
    if (this.closing !== null || typeof line !== 'string') return this.drop();
    if (this.state === 'broken' && !this.retryOpen()) return this.drop();
    const size = Buffer.byteLength(line) + 1;
    if (this.queuedBytes + size > this.maxQueueBytes) return this.overflow();
    this.queue.push(line, size);
    this.schedule();
    return true;
  }

  /** Lines are queued: write them after LINGER_MS, or at once when enough are queued. */
  private schedule(): void {
    if (this.queue.bytes >= EAGER_BYTES) this.ripe = true;
    if (this.ripe) {
      if (!this.flushScheduled && !this.busy) {
        this.flushScheduled = true;
        setImmediate(this.onImmediate);
      }
    } else if (this.lingerTimer === null) {
      this.lingerTimer = setTimeout(this.onLinger, LINGER_MS);
      this.lingerTimer.unref();
    }
  }

  private readonly onLinger = (): void => {
    this.lingerTimer = null;
    this.ripe = true;
    this.pump();
  };

  /** Close the current fd after the in-flight write and open the path again (logrotate). */
  reopen(): void {
    if (this.closing !== null) return;
    this.reopenWanted = true;
    this.pump();
  }

  /** Resolves once everything accepted so far is handed to the kernel or dropped. */
  drained(): Promise<void> {
    if (this.isSettled()) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    this.pump(); // a waiter does not wait for LINGER_MS
    return p;
  }

  /**
   * Write what is queued (at most `timeoutMs`), then close. Lines written after close() are
   * dropped. Resolves after `timeoutMs` at the latest; if an fs call was still in flight then,
   * its batch is counted (and the fd closed) when it returns: drained() says when.
   */
  close(timeoutMs = 2000): Promise<void> {
    if (this.closing === null) {
      this.closing = new Promise((resolve) => (this.resolveClose = resolve));
      this.closeTimer = setTimeout(this.onCloseTimeout, timeoutMs);
      this.pump();
    }
    return this.closing;
  }

  /** Decides the next fs call. Runs after every completion and whenever something changed. */
  private pump(): void {
    if (this.busy || this.state === 'opening' || this.state === 'closed') return;
    if (this.abandoned) this.dropAll();
    if (this.state === 'broken') {
      if (this.closing !== null) this.finish();
      else if (this.reopenWanted) this.startOpen();
      else this.settleDrained();
      return;
    }
    if (this.batch === null || !this.batch.torn) {
      if (this.closing !== null && this.isEmpty()) return this.closeFd('finish');
      if (this.reopenWanted) return this.closeFd('reopen');
    }
    if (this.retryTimer !== null) return; // the pipe was full: the timer pumps
    if (this.batch === null && !this.ripe && this.closing === null && this.drainWaiters.length === 0) {
      if (this.queue.length > 0) this.schedule(); // gather more (LINGER_MS)
      return;
    }
    if (this.batch === null) {
      this.takeBatch();
      if (this.queue.length === 0) this.ripe = false;
    }
    if (this.batch !== null) this.writeBatch();
    else this.settleDrained();
  }

  private startOpen(): void {
    this.state = 'opening';
    this.busy = true;
    this.reopenWanted = false;
    try {
      fs.open(this.file, OPEN_FLAGS, FILE_MODE, this.onOpened);
    } catch (err) {
      // Thrown at once for a path fs rejects (a NUL byte); reported like any failed open.
      process.nextTick(this.onOpened, err as NodeJS.ErrnoException, -1);
    }
  }

  private readonly onOpened = (err: NodeJS.ErrnoException | null, fd: number): void => {
    if (err !== null) return this.fail(`cannot open (${err.code ?? err.message})`, err);
    this.fd = fd;
    fs.fstat(fd, this.onStat);
  };

  private readonly onStat = (err: NodeJS.ErrnoException | null, stats: fs.Stats): void => {
    this.busy = false;
    this.state = 'open';
    this.isPipe = err === null && (stats.isFIFO() || stats.isSocket());
    this.pump();
  };

  private takeBatch(): void {
    this.batch = this.queue.take(this.isPipe ? PIPE_BUF : MAX_BATCH_BYTES, this.tornLine && !this.isPipe);
    if (this.batch !== null) this.tornLine = false;
  }

  private writeBatch(): void {
    const batch = this.batch as Batch;
    this.busy = true;
    fs.write(this.fd, batch.buf, batch.offset, batch.remaining, null, this.onWritten);
  }

  private readonly onWritten = (err: NodeJS.ErrnoException | null, bytes: number): void => {
    this.busy = false;
    if (err !== null && err.code !== 'EAGAIN') return this.fail(`write failed (${err.code ?? err.message})`, err);
    if (err !== null || bytes === 0) this.waitForPipe(err);
    else this.advance(bytes);
    this.pump();
  };

  /** Account for `bytes` of the batch handed to the kernel; after a partial write the rest goes next (see top). */
  private advance(bytes: number): void {
    const batch = this.batch as Batch;
    this.retryMs = PIPE_FULL_FIRST_RETRY_MS;
    this.writtenLines += batch.advance(bytes);
    if (batch.remaining > 0) return;
    this.batch = null;
    this.overflowing = false;
  }

  private waitForPipe(err: NodeJS.ErrnoException | null): void {
    this.problems.report('the reader is not keeping up (pipe full): lines wait, and are dropped once the queue is full', err);
    this.retryTimer = setTimeout(this.onRetry, this.retryMs).unref();
    this.retryMs = Math.min(this.retryMs * 2, PIPE_FULL_MAX_RETRY_MS);
  }

  private readonly onRetry = (): void => {
    this.retryTimer = null;
    this.pump();
  };

  /** open, fstat or write failed: drop what is waiting, close the fd, retry the open in a second. */
  private fail(message: string, err: NodeJS.ErrnoException): void {
    this.dropAll();
    this.problems.report(`${message}; dropping lines, opening again in ${OPEN_RETRY_MS / 1000} s`, err);
    this.nextOpenAt = Date.now() + OPEN_RETRY_MS;
    if (this.fd >= 0) return this.closeFd('broken');
    this.busy = false;
    this.state = 'broken';
    this.pump();
  }

  private retryOpen(): boolean {
    if (this.busy || Date.now() < this.nextOpenAt) return false;
    this.startOpen();
    return true;
  }

  private closeFd(next: AfterClose): void {
    const fd = this.fd;
    this.fd = -1;
    this.busy = true;
    this.afterClose = next;
    if (next !== 'finish') this.state = next === 'reopen' ? 'opening' : 'broken';
    this.clearRetry();
    fs.close(fd, this.onFdClosed);
  }

  private readonly onFdClosed = (err: NodeJS.ErrnoException | null): void => {
    this.busy = false;
    if (err !== null) this.problems.report(`close failed (${err.code ?? err.message})`, err); // the fd is released either way
    if (this.afterClose === 'finish' || (this.afterClose === 'reopen' && this.abandoned)) this.finish();
    else if (this.afterClose === 'reopen') this.startOpen();
    else this.pump();
  };

  private readonly onImmediate = (): void => {
    this.flushScheduled = false;
    this.pump();
  };

  private readonly onCloseTimeout = (): void => {
    this.closeTimer = null;
    this.abandoned = true;
    this.clearRetry();
    this.droppedLines += this.queue.clear();
    this.pump();
    // An fs call still in flight (a write stuck in a hung NFS mount) must not hold close() past
    // its bound: resolve now. When the call returns, its lines are counted, pump() closes the
    // fd, and drained() resolves.
    this.resolveClose();
  };

  private finish(): void {
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    this.dropAll();
    this.state = 'closed';
    this.clearRetry();
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.resolveClose();
    this.settleDrained();
  }

  /** Drop the queue and the rest of the batch, counting their lines. */
  private dropAll(): void {
    this.droppedLines += this.queue.clear();
    this.overflowing = false;
    const batch = this.batch;
    if (batch === null) return;
    this.droppedLines += batch.lines;
    this.tornLine = !this.isPipe && batch.leavesLineOpen();
    this.batch = null;
  }

  private isEmpty(): boolean {
    return this.batch === null && this.queue.length === 0;
  }

  private isSettled(): boolean {
    return !this.busy && this.state !== 'opening' && this.isEmpty();
  }

  private settleDrained(): void {
    if (this.drainWaiters.length === 0 || !this.isSettled()) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private drop(): false {
    this.droppedLines++;
    return false;
  }

  private overflow(): false {
    if (!this.overflowing) {
      this.overflowing = true;
      this.problems.report(`queue full (${this.maxQueueBytes} bytes): dropping lines until the file catches up`, null);
    }
    return this.drop();
  }
}
