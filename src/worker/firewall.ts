/**
 * The worker's firewall: the built-in guards (sql/guards.ts) compiled once per config
 * snapshot into a mask, checked on every statement text before it is routed, and the count of
 * every verdict by rule (shipped to the master with the statement statistics, then counted in
 * /metrics as dbmesh_firewall_verdicts_total). A blocked statement never reaches a backend.
 */
import type { FirewallConfig, GuardSetting, UserConfig } from '../config/types.js';
import { ALL_GUARDS, GUARD_NAMES, checkGuards, guardBit, type GuardName, type GuardVerdict } from '../sql/guards.js';
import type { StatementKind } from '../sql/classifier.js';
import type { Logger } from '../observability/logger.js';
import { RuleSet, compileRules } from './firewall-rules.js';

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

/** What the firewall reads of the session that sent a statement (a ClientSession is one). */
export interface FirewallSubject {
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

  constructor(config: FirewallConfig, private readonly log: Logger | null = null) {
    this.configure(config);
  }

  configure(config: FirewallConfig): void {
    this.mask = guardMask(config.guards);
    this.rules = new RuleSet(compileRules(config.rules ?? []));
  }

  get enabled(): boolean {
    return this.mask !== 0 || this.rules.size > 0;
  }

  /**
   * The verdict on a statement text (COM_QUERY or COM_STMT_PREPARE); null: it passes. Rules
   * first, in order (block, allow: skip the guards, log: go on to the guards), then the guards.
   */
  check(text: string, kind: StatementKind, s: FirewallSubject): Blocked | null {
    const user = s.user!;
    if (this.rules.size > 0) {
      const r = this.rules.match(text, user.name, s.remoteHost, s.state.schema, kind);
      if (r !== null) {
        if (r.action === 'block') {
          this.count(r.name, 0);
          return { rule: r.name, message: r.message ?? `blocked by rule ${r.name}` };
        }
        if (r.action === 'allow') return null;
        this.count(r.name, 1);
        this.log?.warn('statement matched a firewall log rule', { rule: r.name, user: user.name, client: s.remoteHost, conn_id: s.id, text: text.slice(0, 200) });
      }
    }
    if (this.mask === 0) return null;
    // The user's flags and the session id are what guards need: the user config is one.
    const v: GuardVerdict | null = checkGuards(text, this.mask, user, s.id);
    if (v === null) return null;
    const rule = `guard:${v.guard}`;
    this.count(rule, 0);
    return { rule, message: `blocked by guard ${v.guard}: ${v.detail}` };
  }

  /** The fingerprint the rules computed for this very text, if they did (saves the digests computing it again). */
  fingerprintOf(text: string): string | null {
    return this.rules.lastSql === text ? this.rules.lastFingerprint : null;
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
