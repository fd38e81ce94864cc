/**
 * Routes moving sessions between workers: each session arrives from its old worker as two
 * messages (backend socket, then client socket + snapshot), each with a raw handle. Both go
 * to the same new worker; the master only forwards descriptors and never reads a byte.
 */
import type { WorkerHandle } from './worker-handle.js';

type RawHandle = { close(): void };

export class HandoffRouter {
  private readonly routes = new Map<string, WorkerHandle>();
  moved = 0;
  failed = 0;
  /** Called on each session the new worker confirmed (for upgrade progress). */
  onAdopted: ((ok: boolean) => void) | null = null;

  constructor(private readonly pickTarget: (from: WorkerHandle) => WorkerHandle | null) {}

  /** Wire a worker's channel: its handoff messages and its adoption reports. */
  attach(w: WorkerHandle): void {
    w.channel.on('handoff', (msg, handle) => this.route(w, msg, handle as RawHandle | undefined));
    w.channel.on('adopted', (msg) => this.adopted(msg.token as string, msg.ok === true));
  }

  private route(from: WorkerHandle, msg: Record<string, unknown>, handle: RawHandle | undefined): void {
    const token = msg.token as string;
    let target = this.routes.get(token);
    if (!target) {
      target = this.pickTarget(from) ?? undefined;
      if (target) this.routes.set(token, target);
    }
    if (!handle) return;
    if (!target || target.state === 'dead') {
      // Nowhere to go: the client sees its connection close, as with a crash.
      handle.close();
      this.failed++;
      return;
    }
    const sent = target.channel.post('adopt', { token, part: msg.part, snapshot: msg.snapshot ?? null }, handle, () => handle.close());
    if (!sent) {
      handle.close();
      this.failed++;
    }
  }

  private adopted(token: string, ok: boolean): void {
    this.routes.delete(token);
    if (ok) this.moved++;
    else this.failed++;
    this.onAdopted?.(ok);
  }
}
