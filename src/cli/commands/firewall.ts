/**
 * `dbmesh firewall mode <account> <off|learn|detect|protect>` and
 * `dbmesh firewall allowlist <account> [--json] [--load FILE]`: the per-account allowlists
 * (an account is a user, or user@cidr for its clients in that address block). Learn records
 * the statement shapes (digests) an account sends; detect logs those outside the list;
 * protect blocks them. Changes apply at once in every worker and are kept in the allowlist file.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { ALLOWLIST_MODES, parseAccount, type AllowlistMode } from '../../allowlist/accounts.js';
import { CONFIG_OPTION_HELP, CliFailure, adminAction, adminFetch, readJson, unexpected } from '../admin-client.js';
import { tableLines } from '../text-table.js';

interface AccountAnswer {
  readonly account: string;
  readonly mode: AllowlistMode;
  readonly digests: readonly { digest: string; fingerprint: string }[];
}

function account(text: string): string {
  if (parseAccount(text) === null) throw new InvalidArgumentError('expected a user name, or user@cidr (e.g. app@10.1.0.0/16)');
  return text;
}

function mode(text: string): AllowlistMode {
  if (!(ALLOWLIST_MODES as readonly string[]).includes(text)) throw new InvalidArgumentError(`expected one of ${ALLOWLIST_MODES.join(', ')}`);
  return text as AllowlistMode;
}

const accountPath = (a: string): string => `/api/firewall/users/${encodeURIComponent(a)}`;

export function firewallCommand(): Command {
  const command = new Command('firewall').description('per-account allowlists: learn the statements an account sends, then detect or block new ones');
  command.addCommand(new Command('mode')
    .description('set an account\'s allowlist mode: off, learn (record digests), detect (log new ones), protect (block new ones)')
    .argument('<account>', 'user, or user@cidr', account)
    .argument('<mode>', ALLOWLIST_MODES.join(' | '), mode)
    .requiredOption('-c, --config <file>', CONFIG_OPTION_HELP)
    .option('--json', 'print the answer as JSON')
    .action((a: string, m: AllowlistMode, opts: { config: string; json?: boolean }) => adminAction<{ config: string; json?: boolean }>(async (admin, o) => {
      const res = await adminFetch(admin, 'POST', `${accountPath(a)}/mode`, { body: { mode: m } });
      if (res.status !== 200) throw await unexpected(res);
      const answer = await readJson<{ account: string; mode: AllowlistMode; digests: number }>(res);
      process.stdout.write(o.json === true ? JSON.stringify(answer, null, 2) + '\n' : `${answer.account}: ${answer.mode} (${answer.digests} digests in its allowlist)\n`);
    })(opts)));
  command.addCommand(new Command('allowlist')
    .description('show an account\'s allowlist, or replace it from a JSON file (--load)')
    .argument('<account>', 'user, or user@cidr', account)
    .requiredOption('-c, --config <file>', CONFIG_OPTION_HELP)
    .option('--json', 'print the allowlist as JSON (the form --load takes)')
    .option('--load <file>', 'replace the digests with those of FILE: {"digests": [...], "mode"?: ...}, as --json prints')
    .action((a: string, opts: { config: string; json?: boolean; load?: string }) => adminAction<{ config: string; json?: boolean; load?: string }>(async (admin, o) => {
      let res: Response;
      if (o.load !== undefined) {
        let body: unknown;
        try {
          body = JSON.parse(readFileSync(o.load, 'utf8'));
        } catch (err) {
          throw new CliFailure(`cannot read ${o.load} as JSON: ${(err as Error).message}`);
        }
        res = await adminFetch(admin, 'PUT', accountPath(a), { body });
      } else {
        res = await adminFetch(admin, 'GET', accountPath(a));
      }
      if (res.status === 404 || res.status === 400) throw new CliFailure((await readJson<{ error?: string }>(res)).error ?? `no allowlist for ${a}`);
      if (res.status !== 200) throw await unexpected(res);
      const answer = await readJson<AccountAnswer>(res);
      if (o.json === true) return void process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
      process.stdout.write(`${answer.account}: ${answer.mode}, ${answer.digests.length} digests\n`);
      if (answer.digests.length === 0) return;
      const columns = [{ title: 'DIGEST', align: 'left' as const, min: 16 }, { title: 'FINGERPRINT', align: 'left' as const }];
      const rows = answer.digests.map((d) => [d.digest, d.fingerprint]);
      process.stdout.write(tableLines(columns, rows, process.stdout.columns ?? 160).join('\n') + '\n');
    })(opts)));
  return command;
}
