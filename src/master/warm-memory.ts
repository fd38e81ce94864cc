/**
 * Which backend connections the workers held, per login shape, remembered across master
 * restarts. A new worker normally inherits the shapes of the workers running beside it; a
 * freshly started master has none, and would open its first backend connections on the first
 * clients' statements. With this file it warms up at start to what the last run held.
 *
 * The file lives in the releases directory (the one place the service may write, see
 * docs/operations.md); without a releases directory nothing is remembered. Writes happen
 * only when the set changed, at most once a second, off the data path (the master).
 */
import { existsSync, readFileSync, writeFile } from 'node:fs';
import path from 'node:path';
import type { WarmShape } from '../ipc/messages.js';
import type { Logger } from '../observability/logger.js';

const FILE_NAME = '.warm-shapes.json';
const MIN_WRITE_INTERVAL_MS = 1000;

export class WarmMemory {
  private readonly file: string | null;
  private shapes: WarmShape[] = [];
  private written = '';
  private lastWrite = 0;
  private writing = false;

  constructor(releasesDir: string, private readonly log: Logger) {
    this.file = existsSync(releasesDir) ? path.join(releasesDir, FILE_NAME) : null;
    if (this.file === null || !existsSync(this.file)) return;
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      if (Array.isArray(parsed)) this.shapes = parsed.filter(isWarmShape);
      this.written = JSON.stringify(this.shapes);
    } catch (err) {
      this.log.warn('ignoring an unreadable warm-up file', { file: this.file, error: (err as Error).message });
    }
  }

  /** What the last run's workers held, per worker. */
  remembered(): WarmShape[] {
    return this.shapes;
  }

  /** The running workers' current lists (per worker): keep the per-worker average. */
  note(perWorker: readonly (readonly WarmShape[])[]): void {
    const shapes = averageShapes(perWorker);
    if (shapes.length === 0) return; // an idle moment says nothing about what to warm
    this.shapes = shapes;
    if (this.file === null) return;
    const text = JSON.stringify(shapes);
    const now = Date.now();
    if (text === this.written || this.writing || now - this.lastWrite < MIN_WRITE_INTERVAL_MS) return;
    this.writing = true;
    this.lastWrite = now;
    writeFile(this.file, text, (err) => {
      this.writing = false;
      if (err) this.log.warn('could not remember the pools for the next start', { file: this.file, error: err.message });
      else this.written = text;
    });
  }
}

/** Per login shape, the average number of connections over the workers' lists. */
export function averageShapes(perWorker: readonly (readonly WarmShape[])[]): WarmShape[] {
  if (perWorker.length === 0) return [];
  const sums = new Map<string, WarmShape>();
  for (const list of perWorker) {
    for (const s of list) {
      const key = `${s.cluster}\0${s.backend}\0${s.backendUser}\0${s.capabilities}\0${s.mariadbCapabilities}\0${s.charset}`;
      const prev = sums.get(key);
      sums.set(key, prev === undefined ? s : { ...prev, open: prev.open + s.open });
    }
  }
  return [...sums.values()].map((s) => ({ ...s, open: Math.ceil(s.open / perWorker.length) }));
}

function isWarmShape(v: unknown): v is WarmShape {
  const s = v as Partial<WarmShape> | null;
  return s !== null && typeof s === 'object' && typeof s.cluster === 'string' && typeof s.backend === 'string' &&
    typeof s.backendUser === 'string' && typeof s.capabilities === 'number' && typeof s.mariadbCapabilities === 'number' &&
    typeof s.charset === 'number' && typeof s.open === 'number' && (s.schema === null || typeof s.schema === 'string');
}
