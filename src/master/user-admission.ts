/**
 * users[].limits over the whole instance: the master counts every connection of a limited
 * user, per worker. A worker asks before it lets a connection in (maxConnections is checked
 * against the sum over all workers) and says when one ends or moves in; each worker's share of
 * the user's statement limits is the fraction of the user's connections it holds, sent to the
 * workers whenever the spread changes.
 */

/** How long share changes gather before they go out (many logins at once: one message per worker). */
const SHARE_DELAY_MS = 20;

export class UserAdmission {
  /** worker key → user → connections. */
  private readonly held = new Map<number, Map<string, number>>();
  private readonly total = new Map<string, number>();
  private dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  /** Called per worker with its new shares (user → fraction) when they changed. */
  onShares: ((worker: number, shares: Record<string, number>) => void) | null = null;

  /** A worker asks to let a connection of `user` in; `max` 0: no cap, just counted. */
  admit(worker: number, user: string, max: number): { ok: boolean; share: number } {
    if (max > 0 && (this.total.get(user) ?? 0) >= max) return { ok: false, share: this.shareOf(worker, user) };
    this.add(worker, user, 1);
    return { ok: true, share: this.shareOf(worker, user) };
  }

  /** A connection that moved into `worker` (it was admitted where it began). */
  adopt(worker: number, user: string): void {
    this.add(worker, user, 1);
  }

  release(worker: number, user: string): void {
    if ((this.held.get(worker)?.get(user) ?? 0) > 0) this.add(worker, user, -1);
  }

  /** A worker exited: its connections are gone with it. */
  workerGone(worker: number): void {
    const mine = this.held.get(worker);
    if (mine === undefined) return;
    this.held.delete(worker);
    for (const [user, n] of mine) {
      this.total.set(user, Math.max(0, (this.total.get(user) ?? 0) - n));
      this.changed(user);
    }
  }

  connections(user: string): number {
    return this.total.get(user) ?? 0;
  }

  /** The fraction of the user's connections `worker` holds (1 when it holds them all, or none are counted). */
  shareOf(worker: number, user: string): number {
    const all = this.total.get(user) ?? 0;
    const mine = this.held.get(worker)?.get(user) ?? 0;
    return all === 0 || mine === 0 ? 1 : mine / all;
  }

  private add(worker: number, user: string, n: number): void {
    let mine = this.held.get(worker);
    if (mine === undefined) this.held.set(worker, mine = new Map());
    mine.set(user, (mine.get(user) ?? 0) + n);
    this.total.set(user, Math.max(0, (this.total.get(user) ?? 0) + n));
    this.changed(user);
  }

  private changed(user: string): void {
    this.dirty.add(user);
    this.timer ??= setTimeout(() => this.publish(), SHARE_DELAY_MS);
  }

  private publish(): void {
    this.timer = null;
    const users = [...this.dirty];
    this.dirty = new Set();
    for (const [worker, mine] of this.held) {
      const shares: Record<string, number> = {};
      let any = false;
      for (const u of users) {
        if ((mine.get(u) ?? 0) === 0) continue;
        shares[u] = this.shareOf(worker, u);
        any = true;
      }
      if (any) this.onShares?.(worker, shares);
    }
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
