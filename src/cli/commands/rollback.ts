/** `dbmesh rollback --config FILE`: go back to the release that ran before the last upgrade. */
import { Command } from 'commander';
import { CONFIG_OPTION_HELP, adminAction } from '../admin-client.js';
import { runProgress } from './upgrade.js';

export function rollbackCommand(): Command {
  return new Command('rollback')
    .description('return the running master to the previous release, the same way an upgrade moves sessions')
    .requiredOption('-c, --config <file>', CONFIG_OPTION_HELP)
    .action(adminAction((target) => runProgress(target, '/api/rollback', {}, { done: 'rolled back', failed: 'rollback failed' })));
}
