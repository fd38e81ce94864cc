/**
 * Firewall allowlists (after MySQL Enterprise Firewall): per account a mode and the statement
 * digests it is known to send. An account is a dbmesh user name, optionally narrowed to the
 * client addresses of a CIDR block: `app`, `app@10.1.0.0/16`. This module is the pure part
 * shared by the master (which keeps the file) and the workers (which apply it): account keys,
 * the file format and its validation, and the wire form the workers receive.
 */
import { parseCidr, type Cidr } from '../config/cidr.js';

export const ALLOWLIST_MODES = ['off', 'learn', 'detect', 'protect'] as const;
export type AllowlistMode = (typeof ALLOWLIST_MODES)[number];

/** Digest ids as the slow-SQL digests show them: 16 lowercase hex characters. */
export const DIGEST_ID_RE = /^[0-9a-f]{16}$/;

/** Most digests one account may hold: a workload with more shapes than this is not allowlistable. */
export const MAX_ACCOUNT_DIGESTS = 100_000;
/** Longest fingerprint text kept beside a digest (for people reading the list). */
export const MAX_FINGERPRINT_CHARS = 1024;

export interface AccountKey {
  /** As written: `app` or `app@10.1.0.0/16` (the CIDR normalised as given). */
  readonly key: string;
  readonly user: string;
  readonly cidr: Cidr | null;
}

/**
 * `user` or `user@<address or CIDR>`; null when the text names no account. A user name may
 * itself hold '@': only a suffix that is an address block narrows the account.
 */
export function parseAccount(text: string): AccountKey | null {
  if (text.length === 0 || text.length > 300) return null;
  const at = text.lastIndexOf('@');
  if (at > 0) {
    const cidr = parseCidr(text.slice(at + 1));
    if (cidr !== null) return { key: `${text.slice(0, at)}@${text.slice(at + 1)}`, user: text.slice(0, at), cidr };
  }
  return { key: text, user: text, cidr: null };
}

/** One account in the file: its mode, and digest id → fingerprint (for reading; may be ""). */
export interface AccountList {
  mode: AllowlistMode;
  digests: Record<string, string>;
}

export interface AllowlistFile {
  version: 1;
  accounts: Record<string, AccountList>;
}

export const emptyAllowlist = (): AllowlistFile => ({ version: 1, accounts: {} });

/** The problems with a parsed allowlist file (or a PUT body's account), each with its path. */
export function allowlistProblems(data: unknown): string[] {
  const problems: string[] = [];
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return ['the allowlist must be a JSON object {"version": 1, "accounts": {...}}'];
  const d = data as Record<string, unknown>;
  if (d.version !== 1) problems.push('version: must be 1');
  const accounts = d.accounts;
  if (accounts === null || typeof accounts !== 'object' || Array.isArray(accounts)) {
    problems.push('accounts: must be an object of account → {mode, digests}');
    return problems;
  }
  for (const [key, value] of Object.entries(accounts)) {
    if (parseAccount(key) === null) problems.push(`accounts.${key}: not an account name (user or user@cidr)`);
    problems.push(...accountProblems(value, `accounts.${key}`));
  }
  return problems;
}

export function accountProblems(value: unknown, path: string): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: must be {"mode": ..., "digests": {...}}`];
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  if (!(ALLOWLIST_MODES as readonly unknown[]).includes(v.mode)) problems.push(`${path}.mode: must be one of ${ALLOWLIST_MODES.join(', ')}`);
  const digests = v.digests;
  if (digests === null || typeof digests !== 'object' || Array.isArray(digests)) {
    problems.push(`${path}.digests: must be an object of digest id → fingerprint`);
    return problems;
  }
  const entries = Object.entries(digests);
  if (entries.length > MAX_ACCOUNT_DIGESTS) problems.push(`${path}.digests: at most ${MAX_ACCOUNT_DIGESTS} digests`);
  for (const [id, fp] of entries.slice(0, 1000)) {
    if (!DIGEST_ID_RE.test(id)) problems.push(`${path}.digests.${id.slice(0, 40)}: not a digest id (16 lowercase hex characters)`);
    if (typeof fp !== 'string') problems.push(`${path}.digests.${id.slice(0, 40)}: the fingerprint must be a string`);
  }
  for (const [id, fp] of entries.slice(1000)) {
    if (!DIGEST_ID_RE.test(id) || typeof fp !== 'string') {
      problems.push(`${path}.digests.${id.slice(0, 40)}: not a digest id with a fingerprint string`);
      break;
    }
  }
  return problems;
}

/** What a worker receives: every account's mode and digest ids (no fingerprints). */
export interface AllowlistWire {
  /** Increases with every change; a worker ignores an older one. */
  readonly seq: number;
  readonly accounts: readonly { readonly account: string; readonly mode: AllowlistMode; readonly digests: readonly string[] }[];
}

export function toWire(file: AllowlistFile, seq: number): AllowlistWire {
  return {
    seq,
    accounts: Object.entries(file.accounts).map(([account, a]) => ({ account, mode: a.mode, digests: Object.keys(a.digests) })),
  };
}

/** Digests a worker learned since its last report: account → digest id → fingerprint. */
export type LearnedDigests = Record<string, Record<string, string>>;
