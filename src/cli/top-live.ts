/**
 * The live `dbmesh top` screen: fetch the digests every interval, draw them on the terminal's
 * alternate screen with plain ANSI escapes, and answer keys read in raw mode. Whatever ends it
 * (q, Ctrl-C, a signal, a closed terminal) puts the terminal back as it was: raw mode off,
 * cursor shown, main screen back. A failed fetch is shown in the header and retried at the next
 * interval; only the user ends the view.
 */
import { EventEmitter } from 'node:events';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { DigestRow } from '../insight/digest-store.js';
import { textWidth } from './text-table.js';
import { SORT_KEYS, renderTop, snapshot, topRows, type Snapshot, type TopRow, type TopSort } from './top-view.js';

/** The keyboard side of a terminal (process.stdin); setRawMode only when it is a TTY. */
export interface KeyInput extends EventEmitter {
  readonly isTTY?: boolean;
  setRawMode?(raw: boolean): unknown;
  resume(): unknown;
  pause(): unknown;
}

/** The screen side (process.stdout): it emits 'resize' when the terminal's size changes. */
export interface Screen extends EventEmitter {
  readonly columns?: number;
  readonly rows?: number;
  write(text: string): boolean;
}

export interface LiveOptions {
  readonly intervalS: number;
  readonly sort: TopSort;
  /** Rows asked for per fetch (a snapshot with fewer holds every digest). */
  readonly limit: number;
  /** The master's top `limit` digests by `sort`; a rejection's message is shown in the header. */
  readonly fetch: (sort: TopSort, signal: AbortSignal) => Promise<DigestRow[]>;
  readonly input: KeyInput;
  readonly output: Screen;
}

const CSI = '\x1b[';
const ENTER = `${CSI}?1049h${CSI}?25l${CSI}H${CSI}2J`; // alternate screen, cursor hidden, cleared
const LEAVE = `${CSI}?25h${CSI}?1049l`;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const QUIT_KEYS = new Set(['q', 'Q', '\x03']);

/** Run the live view until the user quits; resolves once the terminal is restored. */
export function runLive(o: LiveOptions): Promise<void> {
  return new Promise((resolve) => new LiveTop(o, resolve).start());
}

class LiveTop {
  private sort: TopSort;
  private prev: Snapshot | null = null;
  private cur: Snapshot | null = null;
  private base: Snapshot | null = null;
  private since = new Date();
  private rows: TopRow[] | null = null;
  private error: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly abort = new AbortController();
  private done = false;
  private restored = false;

  constructor(private readonly o: LiveOptions, private readonly finish: () => void) {
    this.sort = o.sort;
  }

  start(): void {
    const { input, output } = this.o;
    output.write(ENTER);
    process.on('exit', this.restore); // last resort: a crash still gives the terminal back
    for (const sig of SIGNALS) process.on(sig, this.onSignal);
    output.on('resize', this.draw);
    output.on('error', this.quit);
    if (input.isTTY === true) input.setRawMode?.(true);
    input.on('data', this.onData);
    input.resume();
    this.draw();
    void this.tick();
  }

  private async tick(): Promise<void> {
    const started = performance.now();
    try {
      const rows = await this.o.fetch(this.sort, this.abort.signal);
      if (this.done) return;
      this.take(snapshot(rows, performance.now(), this.o.limit));
      this.error = null;
    } catch (err) {
      if (this.done) return;
      this.error = (err as Error).message;
    }
    this.draw();
    const wait = Math.max(0, started + this.o.intervalS * 1000 - performance.now());
    this.timer = setTimeout(() => void this.tick(), wait);
  }

  private take(s: Snapshot): void {
    this.prev = this.cur;
    this.cur = s;
    this.base ??= s;
    this.recompute();
  }

  private recompute(): void {
    this.rows = this.prev === null || this.cur === null || this.base === null ? null : topRows(this.prev, this.cur, this.base);
  }

  private readonly onData = (data: Buffer | string): void => {
    const text = data.toString();
    if (text.startsWith('\x1b')) return; // an arrow or function key's sequence: its letters are no keys
    for (const key of text) {
      if (QUIT_KEYS.has(key)) return this.quit();
      this.onKey(key.toLowerCase());
    }
  };

  private onKey(key: string): void {
    const sort = SORT_KEYS[key];
    if (sort !== undefined) this.sort = sort;
    else if (key === 'r') {
      this.base = this.cur;
      this.since = new Date();
      this.recompute();
    } else return;
    this.draw();
  }

  private readonly draw = (): void => {
    if (this.done) return;
    const width = this.o.output.columns || 80;
    const height = this.o.output.rows || 24;
    const lines = renderTop({
      now: new Date(), width, height, interactive: true, sort: this.sort, intervalS: this.o.intervalS, since: this.since,
      rows: this.rows, digests: this.cur?.rows.size ?? 0, more: this.cur !== null && !this.cur.complete, error: this.error,
    });
    this.o.output.write(`${CSI}H${frame(lines, width, height)}`);
  };

  private readonly onSignal = (sig: NodeJS.Signals): void => {
    process.exitCode = 128 + (os.constants.signals[sig] ?? 0);
    this.quit();
  };

  private readonly quit = (): void => {
    if (this.done) return;
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.abort.abort();
    const { input, output } = this.o;
    input.off('data', this.onData);
    output.off('resize', this.draw);
    for (const sig of SIGNALS) process.off(sig, this.onSignal);
    this.restore();
    process.off('exit', this.restore);
    output.off('error', this.quit);
    this.finish();
  };

  private readonly restore = (): void => {
    if (this.restored) return;
    this.restored = true;
    const { input, output } = this.o;
    if (input.isTTY === true) input.setRawMode?.(false);
    input.pause();
    output.write(LEAVE);
  };
}

/**
 * The lines as one write: each line's rest erased only when the line is shorter than the screen
 * (erasing after a full line would take its last character: the cursor still sits on it), and
 * the screen below the last line erased without writing into the bottom row's end.
 */
export function frame(lines: readonly string[], width: number, height: number): string {
  if (lines.length === 0) return `${CSI}J`;
  const body = lines.map((l) => (textWidth(l) < width ? `${l}${CSI}K` : l)).join('\r\n');
  return lines.length < height ? `${body}\r\n${CSI}J` : body;
}
