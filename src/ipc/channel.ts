/**
 * Request/ack over a node IPC channel (cluster worker or child process). `request` sends a
 * message with a fresh seq and resolves with the matching ack (or rejects on timeout or when
 * the peer goes away); `on(act, handler)` registers a dispatch-table entry. Unknown actions
 * are counted, not fatal: a master and a worker of different releases may not know each
 * other's newest messages.
 */
import { IPC_VERSION, isIpcMessage, type AckMsg } from './messages.js';

export interface IpcEndpoint {
  send(message: unknown, sendHandle?: unknown, callback?: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown, handle?: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  /** cluster.Worker has isConnected(); a child's `process` has `connected`. */
  isConnected?(): boolean;
  readonly connected?: boolean;
}

type Handler = (msg: Record<string, unknown> & { seq: number }, handle: unknown) => unknown;

interface Pending {
  resolve: (a: AckMsg) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class IpcChannel {
  private seq = 1;
  private readonly connected: () => boolean;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, Handler>();
  unknownMessages = 0;

  constructor(private readonly endpoint: IpcEndpoint) {
    this.connected = typeof endpoint.isConnected === 'function' ? () => endpoint.isConnected!() : () => endpoint.connected === true;
    endpoint.on('message', (m: unknown, handle?: unknown) => this.dispatch(m, handle));
    endpoint.on('disconnect', () => this.failAll(new Error('IPC peer disconnected')));
  }

  isOpen(): boolean {
    return this.connected();
  }

  on(act: string, handler: Handler): this {
    this.handlers.set(act, handler);
    return this;
  }

  /**
   * Fire and forget. Returns false when the channel is gone. (node's send() also returns false
   * when messages are merely queued, e.g. behind an unacknowledged handle: that is not a
   * failure, and the message still goes out.)
   */
  post(act: string, body: Record<string, unknown> = {}, handle?: unknown, onSent?: (err: Error | null) => void): boolean {
    if (!this.connected()) return false;
    try {
      this.endpoint.send({ ...body, v: IPC_VERSION, act, seq: this.seq++ }, handle, onSent ?? (() => {}));
      return true;
    } catch {
      return false;
    }
  }

  /** Send and wait for the peer's ack. */
  request(act: string, body: Record<string, unknown> = {}, timeoutMs = 10000, handle?: unknown): Promise<AckMsg> {
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      if (!this.connected()) return reject(new Error('IPC peer disconnected'));
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`no ack for '${act}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, { resolve, reject, timer });
      try {
        this.endpoint.send({ ...body, v: IPC_VERSION, act, seq }, handle, () => {});
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(seq);
        reject(err as Error);
      }
    });
  }

  ack(seq: number, ok: boolean, extra: { error?: string; data?: unknown } = {}): void {
    this.post('ack', { ack: seq, ok, ...extra });
  }

  private dispatch(m: unknown, handle: unknown): void {
    if (!isIpcMessage(m)) return; // node:cluster's own messages and foreign traffic
    const msg = m as Record<string, unknown> & { act: string; seq: number };
    if (msg.act === 'ack') {
      const p = this.pending.get(msg.ack as number);
      if (!p) return;
      this.pending.delete(msg.ack as number);
      clearTimeout(p.timer);
      p.resolve(msg as unknown as AckMsg);
      return;
    }
    const h = this.handlers.get(msg.act);
    if (!h) {
      this.unknownMessages++;
      return;
    }
    try {
      const r = h(msg, handle);
      if (r instanceof Promise) r.catch(() => {});
    } catch {
      // A handler bug must not take the channel down; the sender's request times out.
    }
  }

  private failAll(err: Error): void {
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(seq);
    }
  }
}
