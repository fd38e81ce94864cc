/**
 * The master's allowlist: one file next to the config (`<config>.allowlist.json` unless
 * `firewall.allowlistFile` says otherwise), read at start, written atomically (a temporary
 * file in the same directory, fsync, rename) after every change, one write at a time. Workers
 * report what they learned; the master merges it, writes, and sends every worker the whole
 * list (debounced), so a digest learned in one worker is known to all.
 */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../observability/logger.js';
import {
  MAX_ACCOUNT_DIGESTS, MAX_FINGERPRINT_CHARS, allowlistProblems, emptyAllowlist, parseAccount, toWire, DIGEST_ID_RE,
  type AccountList, type AllowlistFile, type AllowlistMode, type AllowlistWire, type LearnedDigests,
} from './accounts.js';

/** How long learned digests gather before the workers hear of them (one broadcast per batch). */
const BROADCAST_DELAY_MS = 200;

export class AllowlistError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * Where the allowlist of a config lives: firewall.allowlistFile (relative to the config's
 * directory), or next to the config file as `<name>.allowlist.json`.
 */
export function allowlistPath(configured: string | undefined, configPath: string): string {
  if (configured !== undefined) return path.resolve(path.dirname(path.resolve(configPath)), configured);
  const ext = path.extname(configPath);
  return path.resolve(`${ext === '' ? configPath : configPath.slice(0, -ext.length)}.allowlist.json`);
}

/** Read and check an allowlist file; a missing file is an empty list. Throws with every problem. */
export function readAllowlistFile(file: string): AllowlistFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyAllowlist();
    throw new Error(`cannot read the firewall allowlist ${file}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`the firewall allowlist ${file} is not JSON: ${(err as Error).message}; fix or remove it`);
  }
  const problems = allowlistProblems(data);
  if (problems.length > 0) throw new Error(`the firewall allowlist ${file} is invalid: ${problems.slice(0, 5).join('; ')}`);
  return data as AllowlistFile;
}

export class AllowlistStore {
  private data: AllowlistFile;
  private seq = 0;
  private writing: Promise<void> | null = null;
  private dirty = false;
  private broadcastTimer: NodeJS.Timeout | null = null;
  /** Called with the whole list whenever it changed (the master sends it to every worker). */
  onChange: ((wire: AllowlistWire) => void) | null = null;

  constructor(private file: string, private readonly log: Logger) {
    this.data = readAllowlistFile(file);
  }

  get path(): string {
    return this.file;
  }

  /** The config names another file (reload): read it; the old one is left as it was. */
  moveTo(file: string): void {
    if (file === this.file) return;
    this.data = readAllowlistFile(file);
    this.file = file;
    this.changed(true);
  }

  wire(): AllowlistWire {
    return toWire(this.data, this.seq);
  }

  /** Every account: its mode and how many digests it holds. */
  list(): { account: string; mode: AllowlistMode; digests: number }[] {
    return Object.entries(this.data.accounts).map(([account, a]) => ({ account, mode: a.mode, digests: Object.keys(a.digests).length }));
  }

  get(account: string): ({ account: string } & AccountList) | null {
    const key = this.key(account);
    const a = this.data.accounts[key];
    return a === undefined ? null : { account: key, mode: a.mode, digests: { ...a.digests } };
  }

  /** Set an account's mode (creating it empty); resolves once the file is written. */
  async setMode(account: string, mode: AllowlistMode): Promise<{ account: string } & AccountList> {
    const key = this.key(account);
    const a = this.data.accounts[key] ??= { mode: 'off', digests: {} };
    const before = a.mode;
    a.mode = mode;
    this.log.info('firewall allowlist mode set', { account: key, mode, was: before, digests: Object.keys(a.digests).length });
    this.changed(true);
    await this.flush();
    return this.get(key)!;
  }

  /** Replace an account's digests (and mode, when given); resolves once the file is written. */
  async put(account: string, digests: Record<string, string>, mode: AllowlistMode | null): Promise<{ account: string } & AccountList> {
    const key = this.key(account);
    const a = this.data.accounts[key] ??= { mode: 'off', digests: {} };
    a.digests = { ...digests };
    if (mode !== null) a.mode = mode;
    this.log.info('firewall allowlist replaced', { account: key, mode: a.mode, digests: Object.keys(a.digests).length });
    this.changed(true);
    await this.flush();
    return this.get(key)!;
  }

  /** What a worker learned: kept only for accounts still learning; ignored past the size bound. */
  learn(learned: LearnedDigests): void {
    let added = 0;
    for (const [key, digests] of Object.entries(learned)) {
      const a = this.data.accounts[key];
      if (a === undefined || a.mode !== 'learn' || digests === null || typeof digests !== 'object') continue;
      let size = Object.keys(a.digests).length;
      for (const [id, fp] of Object.entries(digests)) {
        if (a.digests[id] !== undefined || !DIGEST_ID_RE.test(id)) continue;
        if (size >= MAX_ACCOUNT_DIGESTS) {
          this.log.warn('firewall allowlist full: a learned digest was not kept', { account: key, limit: MAX_ACCOUNT_DIGESTS });
          break;
        }
        a.digests[id] = typeof fp === 'string' ? fp.slice(0, MAX_FINGERPRINT_CHARS) : '';
        size++;
        added++;
      }
    }
    if (added > 0) this.changed(false);
  }

  private key(account: string): string {
    const parsed = parseAccount(account);
    if (parsed === null) throw new AllowlistError(400, `not an account name: '${account.slice(0, 80)}' (use user or user@cidr)`);
    return parsed.key;
  }

  /** The list changed: write it, and tell the workers (at once when asked, else after a short gather). */
  private changed(now: boolean): void {
    this.seq++;
    void this.flush().catch(() => undefined);
    if (now) {
      if (this.broadcastTimer !== null) clearTimeout(this.broadcastTimer);
      this.broadcastTimer = null;
      this.onChange?.(this.wire());
      return;
    }
    this.broadcastTimer ??= setTimeout(() => {
      this.broadcastTimer = null;
      this.onChange?.(this.wire());
    }, BROADCAST_DELAY_MS);
  }

  /** Write the list as it is now (after any write in progress); rejects when the write fails. */
  flush(): Promise<void> {
    this.dirty = true;
    this.writing ??= this.writeWhileDirty().finally(() => {
      this.writing = null;
    });
    return this.writing;
  }

  private async writeWhileDirty(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      try {
        await writeAtomically(this.file, JSON.stringify(this.data, null, 2) + '\n');
      } catch (err) {
        this.log.error('cannot write the firewall allowlist; changes are applied but not kept', { file: this.file, error: (err as Error).message, hint: 'check that the directory exists and dbmesh may write there' });
        throw new AllowlistError(500, `cannot write ${this.file}: ${(err as Error).message}`);
      }
    }
  }

  close(): void {
    if (this.broadcastTimer !== null) clearTimeout(this.broadcastTimer);
    this.broadcastTimer = null;
  }
}

/** Write `text` to `file` so a reader (or a crash) sees the old content or the new, never a part. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const handle = await fs.open(tmp, 'w', 0o640);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
  const d = await fs.open(dir, 'r').catch(() => null);
  if (d !== null) {
    await d.sync().catch(() => undefined);
    await d.close();
  }
}
