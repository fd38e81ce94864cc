/**
 * The worker's firewall: the built-in guards (sql/guards.ts) compiled once per config
 * snapshot into a mask, checked on every statement text before it is routed, and the count of
 * every verdict by rule (shipped to the master with the statement statistics, then counted in
 * /metrics as dbmesh_firewall_verdicts_total). A blocked statement never reaches a backend.
 */
import type { FirewallConfig, GuardSetting, UserConfig } from '../config/types.js';
import { ALL_GUARDS, GUARD_NAMES, checkGuards, guardBit, type GuardName, type GuardVerdict } from '../sql/guards.js';

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

export class Firewall {
  private mask = 0;
  private counts: VerdictCounts = {};
  private counted = false;

  constructor(config: FirewallConfig) {
    this.configure(config);
  }

  configure(config: FirewallConfig): void {
    this.mask = guardMask(config.guards);
  }

  get enabled(): boolean {
    return this.mask !== 0;
  }

  /** The verdict on a statement text (COM_QUERY or COM_STMT_PREPARE) of `user`'s session `connectionId`; null: it passes. */
  check(text: string, user: UserConfig, connectionId: number): Blocked | null {
    if (this.mask === 0) return null;
    const v: GuardVerdict | null = checkGuards(text, this.mask, {
      admin: user.admin, fileAccess: user.fileAccess, multiStatements: user.multiStatements, connectionId,
    });
    if (v === null) return null;
    const rule = `guard:${v.guard}`;
    const c = this.counts[rule] ??= [0, 0];
    c[0]++;
    this.counted = true;
    return { rule, message: `blocked by guard ${v.guard}: ${v.detail}` };
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
