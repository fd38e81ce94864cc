/**
 * Readiness of a starting worker, judged by progress rather than by a wall-clock guess. On a
 * loaded machine every phase of a boot is slow, and a fixed deadline killed workers that were
 * getting there, in a loop (nothing served for a minute). Here the worker reports each boot
 * phase as it begins, and the master gives up only when no phase has begun for `stallMs` (the
 * worker is stuck, not slow) or when the whole boot passes the generous `limitMs`. Either way
 * the outcome says which phase it was in and for how long.
 */
import { BOOT_PHASES, type BootPhase } from '../ipc/messages.js';

export type BootFailure = 'no progress' | 'time limit' | 'refused' | 'exited';

export type BootOutcome =
  | { readonly ok: true; readonly bootMs: number }
  | { readonly ok: false; readonly reason: BootFailure; readonly phase: BootPhase; readonly phaseMs: number; readonly bootMs: number; readonly error: string | null };

export function isBootPhase(v: unknown): v is BootPhase {
  return typeof v === 'string' && (BOOT_PHASES as readonly string[]).includes(v);
}

/** One line for logs, alerts and upgrade results. */
export function describeBootFailure(o: Extract<BootOutcome, { ok: false }>): string {
  switch (o.reason) {
    case 'no progress':
      return `no boot progress for ${seconds(o.phaseMs)} while ${o.phase} (${seconds(o.bootMs)} since it started)`;
    case 'time limit':
      return `still booting after ${seconds(o.bootMs)}, over supervisor.readyLimitMs (the last ${seconds(o.phaseMs)} while ${o.phase})`;
    case 'refused':
      return `failed while ${o.phase}, ${seconds(o.bootMs)} after it started: ${o.error ?? 'config refused'}`;
    case 'exited':
      return `exited while ${o.phase}, ${seconds(o.bootMs)} after it started`;
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

export class BootWatch {
  phase: BootPhase = 'loading modules';
  private phaseAt = Date.now();
  private readonly startedAt = Date.now();
  private outcome: BootOutcome | null = null;
  private readonly waiters: ((o: BootOutcome) => void)[] = [];
  private stall: NodeJS.Timeout | null = null;
  private limit: NodeJS.Timeout | null = null;
  private stallMs = 0;
  /** Called on each phase begun (the master tells systemd that start-up is progressing). */
  onProgress: ((phase: BootPhase) => void) | null = null;

  /** Start judging: resolves with the outcome (at once when already settled). */
  watch(stallMs: number, limitMs: number): Promise<BootOutcome> {
    if (this.outcome !== null) return Promise.resolve(this.outcome);
    this.stallMs = stallMs;
    this.armStall();
    this.limit ??= setTimeout(() => this.fail('time limit'), Math.max(0, limitMs - (Date.now() - this.startedAt)));
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The worker began `phase` (or said hello): progress. */
  progress(phase: BootPhase): void {
    if (this.outcome !== null) return;
    this.phase = phase;
    this.phaseAt = Date.now();
    this.armStall();
    this.onProgress?.(phase);
  }

  ready(): void {
    this.settle({ ok: true, bootMs: Date.now() - this.startedAt });
  }

  fail(reason: BootFailure, error: string | null = null, phase: BootPhase = this.phase): void {
    const now = Date.now();
    this.settle({ ok: false, reason, phase, phaseMs: now - this.phaseAt, bootMs: now - this.startedAt, error });
  }

  get settled(): BootOutcome | null {
    return this.outcome;
  }

  private armStall(): void {
    if (this.stallMs <= 0) return; // not watched yet
    if (this.stall !== null) clearTimeout(this.stall);
    this.stall = setTimeout(() => this.fail('no progress'), this.stallMs);
  }

  private settle(o: BootOutcome): void {
    if (this.outcome !== null) return;
    this.outcome = o;
    if (this.stall !== null) clearTimeout(this.stall);
    if (this.limit !== null) clearTimeout(this.limit);
    for (const w of this.waiters.splice(0)) w(o);
  }
}
