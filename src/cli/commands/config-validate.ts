/** `dbmesh config validate FILE`: check a config file without running anything. */
import { Command } from 'commander';
import { loadConfigFile } from '../../config/index.js';
import { reportConfigError } from './report.js';

export function configCommand(): Command {
  const config = new Command('config').description('work with config files');
  config
    .command('validate')
    .description('check a config file (schema and semantic rules); exit 2 listing every problem when invalid')
    .argument('<file>', 'config file (.json, .yaml or .yml)')
    .action((file: string) => {
      try {
        loadConfigFile(file);
        process.stdout.write(`${file}: ok\n`);
      } catch (err) {
        reportConfigError(file, err);
      }
    });
  return config;
}
