/** `dbmesh reload --config FILE`: make the running master re-read and apply its config. */
import { Command } from 'commander';
import type { ReloadResult } from '../../master/control.js';
import { CONFIG_OPTION_HELP, adminAction, adminFetch, readJson, unexpected } from '../admin-client.js';
import { EXIT_BAD_CONFIG } from './report.js';

export function reloadCommand(): Command {
  return new Command('reload')
    .description("re-read the master's config file and apply it live; an invalid config changes nothing (exit 2)")
    .requiredOption('-c, --config <file>', CONFIG_OPTION_HELP)
    .action(
      adminAction(async (target) => {
        const res = await adminFetch(target, 'POST', '/api/reload');
        if (res.status !== 200 && res.status !== 422) throw await unexpected(res);
        const result = await readJson<ReloadResult>(res);
        if (result.ok) {
          process.stdout.write(`reloaded (config version ${result.configVersion})\n`);
          return;
        }
        // One problem per line, as `dbmesh config validate` prints them, so scripts can grep.
        process.stderr.write(['reload refused: the config is invalid', ...result.problems.map((p) => `  ${p}`)].join('\n') + '\n');
        process.exitCode = EXIT_BAD_CONFIG;
      }),
    );
}
