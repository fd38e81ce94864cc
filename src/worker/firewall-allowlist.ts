/**
 * The worker's copy of the firewall allowlists (the master keeps the file and sends the whole
 * list on every change). A session finds its account once (user, then the narrowest CIDR
 * account holding its address) and again only when the list changed; a statement then costs
 * one Set lookup of its digest id.
 */
import net from 'node:net';
import { MAX_ACCOUNT_DIGESTS, MAX_FINGERPRINT_CHARS, parseAccount, type AllowlistMode, type AllowlistWire, type LearnedDigests } from '../allowlist/accounts.js';

export const enum Mode { Off = 0, Learn = 1, Detect = 2, Protect = 3 }

const MODES: Record<AllowlistMode, Mode> = { off: Mode.Off, learn: Mode.Learn, detect: Mode.Detect, protect: Mode.Protect };

export interface AllowlistAccount {
  readonly account: string;
  readonly mode: Mode;
  readonly digests: Set<string>;
}

interface UserAccounts {
  plain: AllowlistAccount | null;
  /** Narrowest block first. */
  blocks: { list: net.BlockList; prefix: number; account: AllowlistAccount }[];
}

/** Learned digests kept for the next report before more are dropped (a report goes every second). */
const MAX_PENDING = 10_000;

/** What a session keeps of its account (a ClientSession is one). */
export interface AllowlistHolder {
  allowlistAccount: AllowlistAccount | null;
  allowlistSeq: number;
}

export class Allowlists {
  private byUser = new Map<string, UserAccounts>();
  /** -1 until the master sent a list: sessions then resolve on the first one. */
  seq = -1;
  /** Whether any account is in a mode other than off (else the firewall skips the lookup). */
  active = false;
  private pending: LearnedDigests = {};
  private pendingCount = 0;

  apply(wire: AllowlistWire): void {
    if (wire.seq < this.seq) return;
    const byUser = new Map<string, UserAccounts>();
    let active = false;
    for (const a of wire.accounts) {
      const key = parseAccount(a.account);
      const mode = MODES[a.mode];
      if (key === null || mode === undefined) continue;
      if (mode !== Mode.Off) active = true;
      let u = byUser.get(key.user);
      if (u === undefined) byUser.set(key.user, u = { plain: null, blocks: [] });
      const account: AllowlistAccount = { account: key.key, mode, digests: new Set(a.digests) };
      if (key.cidr === null) {
        u.plain = account;
        continue;
      }
      const list = new net.BlockList();
      list.addSubnet(key.cidr.address, key.cidr.prefix, key.cidr.family);
      u.blocks.push({ list, prefix: key.cidr.prefix, account });
    }
    for (const u of byUser.values()) u.blocks.sort((x, y) => y.prefix - x.prefix);
    this.byUser = byUser;
    this.active = active;
    this.seq = wire.seq;
  }

  /** The account of a session, found again only when the list changed since. */
  accountOf(holder: AllowlistHolder, user: string, client: string): AllowlistAccount | null {
    if (holder.allowlistSeq === this.seq) return holder.allowlistAccount;
    holder.allowlistSeq = this.seq;
    return holder.allowlistAccount = this.find(user, client);
  }

  private find(user: string, client: string): AllowlistAccount | null {
    const u = this.byUser.get(user);
    if (u === undefined) return null;
    if (u.blocks.length > 0) {
      const address = client.startsWith('::ffff:') && net.isIPv4(client.slice(7)) ? client.slice(7) : client;
      const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : null;
      if (family !== null) for (const b of u.blocks) if (b.list.check(address, family)) return b.account;
    }
    return u.plain;
  }

  /** A learning account sent a digest it had not: known here at once, reported to the master. */
  learn(account: AllowlistAccount, digest: string, fingerprint: string): void {
    // The master keeps no more than this per account: past it nothing more is learned, here either.
    if (account.digests.size >= MAX_ACCOUNT_DIGESTS) return;
    account.digests.add(digest);
    if (this.pendingCount >= MAX_PENDING) return;
    (this.pending[account.account] ??= {})[digest] = fingerprint.slice(0, MAX_FINGERPRINT_CHARS);
    this.pendingCount++;
  }

  /** What was learned since the last call, or null. */
  drainLearned(): LearnedDigests | null {
    if (this.pendingCount === 0) return null;
    const out = this.pending;
    this.pending = {};
    this.pendingCount = 0;
    return out;
  }
}
