/** `dbmesh stop --config FILE`: ask the running master to drain and exit. */
import { Command } from 'commander';
import { CONFIG_OPTION_HELP, adminAction, adminFetch, unexpected } from '../admin-client.js';

export function stopCommand(): Command {
  return new Command('stop')
    .description('stop the running master gracefully (workers drain first); returns once the stop is accepted')
    .requiredOption('-c, --config <file>', CONFIG_OPTION_HELP)
    .action(
      adminAction(async (target) => {
        const res = await adminFetch(target, 'POST', '/api/stop');
        if (res.status !== 202) throw await unexpected(res);
        await res.body?.cancel();
        process.stdout.write('stopping\n');
      }),
    );
}
