/**
 * The worker's firewall: the built-in guards (sql/guards.ts) compiled once per config
 * snapshot into a mask, checked on every statement text before it is routed, and the count of
 * every verdict by rule (shipped to the master with the statement statistics, then counted in
 * /metrics as dbmesh_firewall_verdicts_total), then the allowlist of the session's account
 * (firewall-allowlist.ts) when it is learning, detecting or protecting. A blocked statement
 * never reaches a backend.
 */
import type { FirewallConfig, GuardSetting, UserConfig } from '../config/types.js';
import { ALL_GUARDS, GUARD_NAMES, checkGuards, guardBit, type GuardName, type GuardVerdict } from '../sql/guards.js';
import type { StatementKind } from '../sql/classifier.js';
import type { Logger } from '../observability/logger.js';
import { fingerprint } from '../sql/fingerprint.js';
import { digestId } from '../sql/digest-id.js';
import { RuleSet, compileRules } from './firewall-rules.js';
import { Allowlists, Mode, type AllowlistHolder } from './firewall-allowlist.js';

/** Verdict counts by rule ("guard:<name>"): [blocked, logged]. */
export type VerdictCounts = Record<string, [number, number]>;

export function guardMask(setting: GuardSetting): number {
  if (setting === 'all') return ALL_GUARDS;
  if (setting === 'none') return 0;
  let mask = 0;
  for (const [name, on] of Object.entries(setting)) if (on && (GUARD_NAMES as readonly string[]).includes(name)) mask |= guardBit(name as GuardName);
  return mask;
}

export interface Blocked {
  /** The rule's name as metrics, logs and the capture show it: "guard:tautology". */
  readonly rule: string;
  /** What the client reads after "dbmesh firewall: ". */
  readonly message: string;
}

/** The rule name metrics, logs and the capture give the allowlist's verdicts. */
export const ALLOWLIST_RULE = 'allowlist';
/** Statements outside an allowlist logged per worker in detect mode, once per account and digest. */
const MAX_DETECT_LOGGED = 10_000;

/** What the firewall reads of the session that sent a statement (a ClientSession is one). */
export interface FirewallSubject extends AllowlistHolder {
  readonly user: UserConfig | null;
  readonly id: number;
  readonly remoteHost: string;
  readonly state: { readonly schema: string | null };
}

export class Firewall {
  private mask = 0;
  private rules = new RuleSet([]);
  private counts: VerdictCounts = {};
  private counted = false;
  readonly allowlists = new Allowlists();
  private readonly detectLogged = new Set<string>();
  /** The last text fingerprinted for the allowlist, and its fingerprint (the digests reuse it). */
  private lastSql = '';
  private lastFingerprint = '';
  /** A rule that let the last checked statement through but marked it (detect mode): the capture shows it. */
  note: string | null = null;

  constructor(config: FirewallConfig, private readonly log: Logger | null = null) {
    this.configure(config);
  }

  configure(config: FirewallConfig): void {
    this.mask = guardMask(config.guards);
    this.rules = new RuleSet(compileRules(config.rules ?? []));
  }

  get enabled(): boolean {
    return this.mask !== 0 || this.rules.size > 0 || this.allowlists.active;
  }

  /**
   * The verdict on a statement text (COM_QUERY or COM_STMT_PREPARE); null: it passes. Rules
   * first, in order (block, allow: skip the guards, log: go on to the guards), then the guards.
   */
  check(text: string, kind: StatementKind, s: FirewallSubject): Blocked | null {
    const user = s.user!;
    this.note = null;
    if (this.rules.size > 0) {
      const r = this.rules.match(text, user.name, s.remoteHost, s.state.schema, kind);
      if (r !== null) {
        if (r.action === 'block') {
          this.count(r.name, 0);
          return { rule: r.name, message: r.message ?? `blocked by rule ${r.name}` };
        }
        if (r.action === 'allow') return null;
        this.count(r.name, 1);
        this.note = r.name;
        this.log?.warn('statement matched a firewall log rule', { rule: r.name, user: user.name, client: s.remoteHost, conn_id: s.id, text: text.slice(0, 200) });
      }
    }
    if (this.mask !== 0) {
      // The user's flags and the session id are what guards need: the user config is one.
      const v: GuardVerdict | null = checkGuards(text, this.mask, user, s.id);
      if (v !== null) {
        const rule = `guard:${v.guard}`;
        this.count(rule, 0);
        return { rule, message: `blocked by guard ${v.guard}: ${v.detail}` };
      }
    }
    return this.allowlists.active ? this.checkAllowlist(text, s) : null;
  }

  /** Learn, detect or protect: the statement's digest against its account's allowlist. */
  private checkAllowlist(text: string, s: FirewallSubject): Blocked | null {
    const account = this.allowlists.accountOf(s, s.user!.name, s.remoteHost);
    if (account === null || account.mode === Mode.Off) return null;
    const fp = this.fingerprintOf(text) ?? this.fingerprinted(text);
    const digest = digestId(fp);
    if (account.digests.has(digest)) return null;
    if (account.mode === Mode.Learn) {
      this.allowlists.learn(account, digest, fp);
      return null;
    }
    if (account.mode === Mode.Protect) {
      this.count(ALLOWLIST_RULE, 0);
      return { rule: ALLOWLIST_RULE, message: `statement not in the allowlist of account '${account.account}' (digest ${digest}): ${fp.slice(0, 120)}` };
    }
    this.count(ALLOWLIST_RULE, 1);
    this.note = ALLOWLIST_RULE;
    const key = `${account.account}\0${digest}`;
    if (!this.detectLogged.has(key) && this.detectLogged.size < MAX_DETECT_LOGGED) {
      this.detectLogged.add(key);
      this.log?.warn('statement outside the allowlist (detect mode: let through)', { account: account.account, digest, fingerprint: fp.slice(0, 200), conn_id: s.id, client: s.remoteHost });
    }
    return null;
  }

  private fingerprinted(text: string): string {
    this.lastSql = text;
    return this.lastFingerprint = fingerprint(text);
  }

  /** The fingerprint the rules or the allowlist computed for this very text, if they did (saves the digests computing it again). */
  fingerprintOf(text: string): string | null {
    if (this.rules.lastSql === text) return this.rules.lastFingerprint;
    return this.lastSql === text ? this.lastFingerprint : null;
  }

  private count(rule: string, slot: 0 | 1): void {
    const c = this.counts[rule] ??= [0, 0];
    c[slot]++;
    this.counted = true;
  }

  /** Verdicts since the last call, or null when none. */
  drain(): VerdictCounts | null {
    if (!this.counted) return null;
    const out = this.counts;
    this.counts = {};
    this.counted = false;
    return out;
  }
}
