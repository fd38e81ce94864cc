/**
 * Watches a running dbmesh while tests attack it: two bystander sessions on the same worker
 * (CLIENT_DEPRECATE_EOF off and on) must keep answering SELECT 1, and the worker pids must not
 * change. When a worker died, check() says why (the error and the first stack frame from the
 * worker's stderr, paths stripped) and brings the guard back to a serving dbmesh: it waits for
 * the replacement worker (an event: the master's "worker ready" line), or starts a fresh dbmesh
 * after every third crash so the supervisor's crash-loop backoff never grows long.
 */
import type { DbmeshProcess } from './dbmesh.js';
import { BASE_CAPS, CLIENT_DEPRECATE_EOF, RawClient } from './raw-client.js';

type Log = Record<string, unknown>;

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** "Error line @ first frame" from the worker's stderr lines (logged raw by the helper). */
export function crashSignature(lines: readonly Log[]): string {
  const text = lines.filter((l) => l.level === 'raw').map((l) => String(l.message));
  const errAt = text.findIndex((t) => /^\w*(Error|Packet|Exception)\b.*:/.test(t) || /^\w+ \[\w*Error\]/.test(t));
  if (errAt < 0) return 'worker exited (no error on stderr)';
  const frames = text.slice(errAt + 1).filter((t) => /^\s+at /.test(t)).slice(0, 2);
  const where = frames.map((f) => f.trim().replace(/file:\/\/\S*?\/dist\//, '').replace(/^at /, ''));
  return `${text[errAt]!.trim()} @ ${where.join(' < ')}`;
}

export class WorkerGuard {
  private pids: number[] = [];
  private bystanders: RawClient[] = [];
  /** Worker deaths seen so far, and dbmesh processes started. */
  crashes = 0;

  private constructor(public dbmesh: DbmeshProcess, private readonly start: () => Promise<DbmeshProcess>) {}

  static async create(start: () => Promise<DbmeshProcess>): Promise<WorkerGuard> {
    const g = new WorkerGuard(await start(), start);
    await g.connectBystanders();
    return g;
  }

  /** Index of the next log line: pass to check() to look only at what a case caused. */
  get mark(): number {
    return this.dbmesh.logs.length;
  }

  private async connectBystanders(): Promise<void> {
    for (const b of this.bystanders) b.socket.destroy();
    this.bystanders = [];
    for (const caps of [BASE_CAPS, BASE_CAPS | CLIENT_DEPRECATE_EOF]) {
      this.bystanders.push(await RawClient.connect(this.dbmesh.port, 'app2', 'app2_pw', caps));
    }
    this.pids = this.dbmesh.workerPids().sort();
  }

  /** Null when every worker is the same and every bystander answers; else what went wrong (and the guard recovers). */
  async check(mark: number): Promise<{ crash: boolean; problem: string } | null> {
    let bystander: string | null = null;
    for (const b of this.bystanders) {
      try {
        const rows = await within(b.rows('SELECT 1'), 5000, 'bystander SELECT 1');
        if (JSON.stringify(rows) !== '[["1"]]') bystander = `bystander answered ${JSON.stringify(rows)}`;
      } catch (err) {
        bystander = `bystander (DEPRECATE_EOF ${b.deprecateEof ? 'on' : 'off'}): ${(err as Error).message}`;
      }
      if (bystander !== null) break;
    }
    const pids = this.dbmesh.workerPids().sort();
    const samePids = pids.length === this.pids.length && pids.every((p, i) => p === this.pids[i]);
    if (bystander === null && samePids) return null;
    const crashed = await this.waitLog((l) => l.message === 'worker crashed', mark, 3000);
    if (crashed === null) {
      await this.connectBystanders();
      const lines = this.dbmesh.logs.slice(mark).filter((l) => l.component === 'master').map((l) => l.message);
      return { crash: false, problem: bystander ?? `worker pids changed from ${this.pids.join(',')} to ${pids.join(',')} (master said: ${lines.join('; ') || 'nothing'})` };
    }
    const signature = crashSignature(this.dbmesh.logs.slice(mark));
    this.crashes++;
    await this.recover(this.dbmesh.logs.indexOf(crashed));
    return { crash: true, problem: `worker crashed: ${signature}` };
  }

  private async recover(crashAt: number): Promise<void> {
    if (this.crashes % 3 === 0) {
      await this.dbmesh.stop();
      this.dbmesh = await this.start();
    } else {
      const ready = await this.waitLog((l) => l.message === 'worker ready', crashAt, 20000);
      if (ready === null) throw new Error('no replacement worker within 20 s');
    }
    await this.connectBystanders();
  }

  /** The first log line from index `from` on matching `pred`, waiting up to `ms`; null when none came. */
  waitLog(pred: (l: Log) => boolean, from: number, ms: number): Promise<Log | null> {
    const logs = this.dbmesh.logs;
    return this.dbmesh.waitForLog((l) => pred(l) && logs.indexOf(l) >= from, ms).catch(() => null);
  }

  async stop(): Promise<void> {
    for (const b of this.bystanders) b.socket.destroy();
    this.bystanders = [];
    await this.dbmesh.stop();
  }
}
