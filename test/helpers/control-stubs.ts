/** The allowlist part of MasterControl for unit tests of the admin API and CLI that do not exercise it. */
import type { AllowlistMode } from '../../src/allowlist/accounts.js';
import type { AccountAllowlist } from '../../src/master/control.js';

export class AllowlistStub {
  allowlistFile(): string {
    return '/etc/dbmesh/dbmesh.allowlist.json';
  }

  allowlists(): { account: string; mode: AllowlistMode; digests: number }[] {
    return [];
  }

  allowlist(): null {
    return null;
  }

  async setAllowlistMode(account: string, mode: AllowlistMode): Promise<AccountAllowlist> {
    return { account, mode, digests: {} };
  }

  async putAllowlist(account: string, digests: Record<string, string>, mode: AllowlistMode | null): Promise<AccountAllowlist> {
    return { account, mode: mode ?? 'off', digests };
  }
}
