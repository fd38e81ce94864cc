/**
 * Memory watchdog: samples every worker's RSS (pidusage) and reports workers over the soft
 * limit (to be replaced gracefully) or the hard limit (to be killed and replaced at once).
 * Limits are "N MiB", "N GiB" or "N %" of the memory available to dbmesh: the cgroup limit
 * when one is set, else the machine's total (systeminformation).
 */
import { readFileSync } from 'node:fs';
import pidusage from 'pidusage';
import si from 'systeminformation';
import { limitBytes, memoryLimitProblems, parseMemoryLimit } from '../config/index.js';
import type { WatchdogConfig } from '../config/types.js';

const MiB = 1024 * 1024;

/** The cgroup v2 (or v1) memory limit of this process, or null when unlimited/unknown. */
function cgroupLimitBytes(): number | null {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const v = readFileSync(file, 'utf8').trim();
      if (v === 'max') return null;
      const n = Number(v);
      if (Number.isFinite(n) && n > 0 && n < 2 ** 60) return n;
    } catch {
      // not this cgroup layout
    }
  }
  return null;
}

export async function memoryBudgetBytes(): Promise<number> {
  const mem = await si.mem();
  const cg = cgroupLimitBytes();
  return cg !== null ? Math.min(cg, mem.total) : mem.total;
}

/** "512MiB" | "1.5GiB" | "40%" -> bytes. */
export function parseLimit(text: string, budgetBytes: number): number {
  const limit = parseMemoryLimit(text);
  if (limit === null) throw new Error(`invalid memory limit "${text}"`);
  return limitBytes(limit, budgetBytes);
}

/**
 * Why `config` must not be applied on this machine now: the config rules again with
 * percentages resolved against `budgetBytes`, and a hard limit below the memory of every
 * running worker (applying it would kill them all at once). Empty when it may be applied.
 */
export function limitProblemsHere(config: WatchdogConfig, budgetBytes: number, runningRss: readonly number[]): string[] {
  const problems = memoryLimitProblems(config, { soft: true, hard: true }, budgetBytes);
  if (problems.length > 0 || runningRss.length === 0) return problems;
  const smallest = Math.min(...runningRss);
  if (smallest > parseLimit(config.hardLimit, budgetBytes)) {
    problems.push(`watchdog.hardLimit: ${JSON.stringify(config.hardLimit)} is below the memory of every running worker (the smallest uses ${Math.round(smallest / MiB)} MiB): applying it would kill them all at once`);
  }
  return problems;
}

export interface WatchedWorker {
  readonly pid: number;
  rssBytes: number;
}

export interface WatchdogVerdicts<W> {
  readonly soft: W[];
  readonly hard: W[];
}

export class MemoryWatchdog<W extends WatchedWorker> {
  softLimitBytes = 0;
  hardLimitBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private sampling = false;

  constructor(private config: WatchdogConfig, private readonly workers: () => W[], private readonly onVerdicts: (v: WatchdogVerdicts<W>) => void) {}

  async start(): Promise<void> {
    await this.configure(this.config);
    this.timer = setInterval(() => void this.sample(), this.config.intervalMs);
    this.timer.unref();
  }

  /** Why `config` must not be applied now (see limitProblemsHere); empty when it may. */
  async problemsWith(config: WatchdogConfig): Promise<string[]> {
    const rss = this.workers().map((w) => w.rssBytes).filter((b) => b > 0);
    return limitProblemsHere(config, await memoryBudgetBytes(), rss);
  }

  async configure(config: WatchdogConfig): Promise<void> {
    this.config = config;
    const budget = await memoryBudgetBytes();
    this.softLimitBytes = parseLimit(config.softLimit, budget);
    this.hardLimitBytes = parseLimit(config.hardLimit, budget);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    pidusage.clear();
  }

  /** One sampling round (exposed for tests). */
  async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const ws = this.workers().filter((w) => w.pid > 0);
      if (ws.length === 0) return;
      let stats: Record<string, { memory: number }>;
      try {
        stats = await pidusage(ws.map((w) => w.pid)) as unknown as Record<string, { memory: number }>;
      } catch {
        return; // a worker exited between listing and sampling; next round
      }
      const soft: W[] = [];
      const hard: W[] = [];
      for (const w of ws) {
        const s = stats[String(w.pid)];
        if (!s) continue;
        w.rssBytes = s.memory;
        if (s.memory > this.hardLimitBytes) hard.push(w);
        else if (s.memory > this.softLimitBytes) soft.push(w);
      }
      if (soft.length > 0 || hard.length > 0) this.onVerdicts({ soft, hard });
    } finally {
      this.sampling = false;
    }
  }
}
