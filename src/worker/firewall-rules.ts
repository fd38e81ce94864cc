/**
 * firewall.rules[], compiled once per config snapshot: sets for names, a BlockList for client
 * addresses, one RegExp per pattern. A statement is matched against them in order; the first
 * rule whose every given condition holds decides. The fingerprint (and digest id, table list)
 * is computed only when some rule needs it, once per statement (see RuleSet).
 */
import net from 'node:net';
import type { FirewallRule } from '../config/types.js';
import { parseCidr } from '../config/cidr.js';
import type { StatementKind } from '../sql/classifier.js';
import { fingerprint } from '../sql/fingerprint.js';
import { digestId } from '../sql/digest-id.js';
import { tableNames } from '../sql/tables.js';

export interface RuleSubject {
  readonly sql: string;
  readonly user: string;
  readonly client: string;
  readonly schema: string | null;
  readonly kind: StatementKind;
}

export interface CompiledRule {
  readonly name: string;
  readonly action: 'block' | 'log' | 'allow';
  readonly message: string | null;
  readonly users: ReadonlySet<string> | null;
  readonly clients: net.BlockList | null;
  readonly schemas: ReadonlySet<string> | null;
  readonly kinds: ReadonlySet<string> | null;
  readonly digests: ReadonlySet<string> | null;
  readonly fingerprints: ReadonlySet<string> | null;
  readonly tables: ReadonlySet<string> | null;
  readonly pattern: RegExp | null;
  /** Whether the rule has conditions on the text (fingerprints, digests, pattern, tables). */
  readonly text: boolean;
}

const set = (xs: readonly string[] | undefined, lower = false): ReadonlySet<string> | null =>
  xs === undefined || xs.length === 0 ? null : new Set(lower ? xs.map((x) => x.toLowerCase()) : xs);

export function compileRules(rules: readonly FirewallRule[]): CompiledRule[] {
  return rules.map((r, i) => {
    let clients: net.BlockList | null = null;
    if (r.clients !== undefined && r.clients.length > 0) {
      clients = new net.BlockList();
      for (const c of r.clients) {
        const cidr = parseCidr(c);
        if (cidr !== null) clients.addSubnet(cidr.address, cidr.prefix, cidr.family);
      }
    }
    const compiled = {
      name: r.name ?? `rule-${i}`, action: r.action, message: r.message ?? null,
      users: set(r.users), clients, schemas: set(r.schemas), kinds: set(r.kinds), digests: set(r.digests),
      fingerprints: set(r.fingerprints), tables: set(r.tables, true), pattern: r.pattern === undefined ? null : new RegExp(r.pattern, 'i'),
      text: false,
    };
    return { ...compiled, text: hasText(compiled) };
  });
}

function clientMatches(list: net.BlockList, client: string): boolean {
  const v4mapped = client.startsWith('::ffff:') && net.isIPv4(client.slice(7)) ? client.slice(7) : client;
  const family = net.isIPv4(v4mapped) ? 'ipv4' : net.isIPv6(v4mapped) ? 'ipv6' : null;
  return family !== null && list.check(v4mapped, family);
}

/** Whether a rule's conditions on the statement's text hold (fingerprints, digests, pattern, tables). */
function textMatches(r: CompiledRule, sql: string, fp: string): boolean {
  if (r.fingerprints !== null && !r.fingerprints.has(fp)) return false;
  if (r.digests !== null && !r.digests.has(digestId(fp))) return false;
  if (r.pattern !== null && !r.pattern.test(fp)) return false;
  if (r.tables !== null && !tableNames(sql).some((t) => r.tables!.has(t))) return false;
  return true;
}

const hasText = (r: Omit<CompiledRule, 'text'>): boolean => r.fingerprints !== null || r.digests !== null || r.pattern !== null || r.tables !== null;

/** Entries kept per cache before it starts afresh (fingerprints and client addresses are few in practice). */
const CACHE_MAX = 4096;

/**
 * The rules that can apply to one user and statement kind, in order (their user and kind
 * conditions hold), and whether any of them looks at the text or only at the rest.
 */
interface Candidates {
  readonly order: Uint32Array;
  readonly anyText: boolean;
  readonly anyOther: boolean;
}

/**
 * A compiled rule set with what does not change between statements cached: per user and
 * statement kind, the rules that can apply; per fingerprint, which rules' text conditions hold
 * (statements of one shape name the same tables and match the same patterns), with one slot
 * past the end saying whether any does; per client address, which rules' CIDRs hold. A
 * statement then costs a fingerprint (only when a rule for its user looks at text), a few map
 * lookups, and a pass over the rules that can apply, and no pass at all when only text rules
 * could and none matches its shape.
 */
export class RuleSet {
  private readonly byFingerprint = new Map<string, Uint8Array>();
  private readonly byClient = new Map<string, Uint8Array>();
  private readonly byUser = new Map<string, Map<string, Candidates>>();
  private userEntries = 0;

  constructor(readonly rules: readonly CompiledRule[]) {}

  get size(): number {
    return this.rules.length;
  }

  /** The first rule that matches, or null (arguments, not an object: called for every statement). */
  match(sql: string, user: string, client: string, schema: string | null, kind: StatementKind): CompiledRule | null {
    const cand = this.candidatesOf(user, kind);
    const order = cand.order;
    if (order.length === 0) return null;
    let text: Uint8Array | null = null;
    if (cand.anyText) {
      text = this.textOf(sql);
      // No text rule matches this shape and every candidate looks at text: none applies.
      if (text[this.rules.length] === 0 && !cand.anyOther) return null;
    }
    const rules = this.rules;
    let clients: Uint8Array | null = null;
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!;
      const r = rules[i]!;
      if (r.text && text![i] === 0) continue;
      if (r.schemas !== null && (schema === null || !r.schemas.has(schema))) continue;
      if (r.clients !== null && (clients ??= this.clientsOf(client))[i] === 0) continue;
      return r;
    }
    return null;
  }

  /** The last statement fingerprinted here, and its fingerprint (the digests reuse it). */
  lastSql = '';
  lastFingerprint = '';

  private candidatesOf(user: string, kind: StatementKind): Candidates {
    let kinds = this.byUser.get(user);
    if (kinds === undefined) {
      if (this.userEntries >= CACHE_MAX) {
        this.byUser.clear();
        this.userEntries = 0;
      }
      this.byUser.set(user, kinds = new Map());
    }
    let c = kinds.get(kind);
    if (c === undefined) {
      const picked: number[] = [];
      for (let i = 0; i < this.rules.length; i++) {
        const r = this.rules[i]!;
        if ((r.users === null || r.users.has(user)) && (r.kinds === null || r.kinds.has(kind))) picked.push(i);
      }
      c = { order: Uint32Array.from(picked), anyText: picked.some((i) => this.rules[i]!.text), anyOther: picked.some((i) => !this.rules[i]!.text) };
      kinds.set(kind, c);
      this.userEntries++;
    }
    return c;
  }

  private textOf(sql: string): Uint8Array {
    const fp = fingerprint(sql);
    this.lastSql = sql;
    this.lastFingerprint = fp;
    let v = this.byFingerprint.get(fp);
    if (v === undefined) {
      const n = this.rules.length;
      v = new Uint8Array(n + 1);
      for (let i = 0; i < n; i++) {
        v[i] = this.rules[i]!.text && textMatches(this.rules[i]!, sql, fp) ? 1 : 0;
        if (v[i] === 1) v[n] = 1;
      }
      if (this.byFingerprint.size >= CACHE_MAX) this.byFingerprint.clear();
      this.byFingerprint.set(fp, v);
    }
    return v;
  }

  private clientsOf(client: string): Uint8Array {
    let v = this.byClient.get(client);
    if (v === undefined) {
      v = new Uint8Array(this.rules.length);
      for (let i = 0; i < this.rules.length; i++) {
        const list = this.rules[i]!.clients;
        v[i] = list !== null && clientMatches(list, client) ? 1 : 0;
      }
      if (this.byClient.size >= CACHE_MAX) this.byClient.clear();
      this.byClient.set(client, v);
    }
    return v;
  }
}

/** The first rule that matches, or null (uncached: tests and one-off checks). */
export function matchRule(rules: readonly CompiledRule[], s: RuleSubject): CompiledRule | null {
  return new RuleSet(rules).match(s.sql, s.user, s.client, s.schema, s.kind);
}
