/**
 * firewall.rules[], compiled once per config snapshot: sets for names, a BlockList for client
 * addresses, one RegExp per pattern. A statement is matched against them in order; the first
 * rule whose every given condition holds decides. The fingerprint (and digest id, table list)
 * is computed only when some rule needs it, once per statement.
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
    return {
      name: r.name ?? `rule-${i}`, action: r.action, message: r.message ?? null,
      users: set(r.users), clients, schemas: set(r.schemas), kinds: set(r.kinds), digests: set(r.digests),
      fingerprints: set(r.fingerprints), tables: set(r.tables, true), pattern: r.pattern === undefined ? null : new RegExp(r.pattern, 'i'),
    };
  });
}

/** What matching computed for one statement, so it is computed once. */
class Lazy {
  private fp: string | null = null;
  private id: string | null = null;
  private tables: string[] | null = null;

  constructor(private readonly sql: string) {}

  fingerprint(): string {
    return this.fp ??= fingerprint(this.sql);
  }

  digest(): string {
    return this.id ??= digestId(this.fingerprint());
  }

  tableList(): string[] {
    return this.tables ??= tableNames(this.sql);
  }
}

function clientMatches(list: net.BlockList, client: string): boolean {
  const v4mapped = client.startsWith('::ffff:') && net.isIPv4(client.slice(7)) ? client.slice(7) : client;
  const family = net.isIPv4(v4mapped) ? 'ipv4' : net.isIPv6(v4mapped) ? 'ipv6' : null;
  return family !== null && list.check(v4mapped, family);
}

/** The first rule that matches, or null. */
export function matchRule(rules: readonly CompiledRule[], s: RuleSubject): CompiledRule | null {
  let lazy: Lazy | null = null;
  for (const r of rules) {
    if (r.users !== null && !r.users.has(s.user)) continue;
    if (r.kinds !== null && !r.kinds.has(s.kind)) continue;
    if (r.schemas !== null && (s.schema === null || !r.schemas.has(s.schema))) continue;
    if (r.clients !== null && !clientMatches(r.clients, s.client)) continue;
    if (r.fingerprints !== null || r.digests !== null || r.pattern !== null || r.tables !== null) lazy ??= new Lazy(s.sql);
    if (r.fingerprints !== null && !r.fingerprints.has(lazy!.fingerprint())) continue;
    if (r.digests !== null && !r.digests.has(lazy!.digest())) continue;
    if (r.pattern !== null && !r.pattern.test(lazy!.fingerprint())) continue;
    if (r.tables !== null && !lazy!.tableList().some((t) => r.tables!.has(t))) continue;
    return r;
  }
  return null;
}
