/**
 * cli/ owns the `dbmesh` command line: argument parsing, human-readable output, exit codes.
 * Commands that act on a running master go through the admin API only; `start` is the one
 * command that runs dbmesh itself. It may import config/, observability/ and errors/, and
 * reaches the runtime only through a dynamic import (see commands/start.ts), and the admin
 * API's own types and constants (master/control.ts, insight/digest-store.ts).
 *
 * Exit codes: 0 ok, 1 unexpected failure or usage error, 2 invalid or unreadable config,
 * 3 (`start`) an address to listen on is in use or not allowed.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Command } from 'commander';
import { configCommand } from './commands/config-validate.js';
import { digestsCommand } from './commands/digests.js';
import { backendCommand } from './commands/backend.js';
import { firewallCommand } from './commands/firewall.js';
import { reloadCommand } from './commands/reload.js';
import { rollbackCommand } from './commands/rollback.js';
import { startCommand } from './commands/start.js';
import { statusCommand } from './commands/status.js';
import { stopCommand } from './commands/stop.js';
import { topCommand } from './commands/top.js';
import { upgradeCommand } from './commands/upgrade.js';

export async function main(argv: string[]): Promise<void> {
  // Control commands (status, upgrade, ...) run beside live traffic on the same machine: they
  // yield the CPU to it. `start` is dbmesh itself and keeps its priority.
  if (argv[2] !== 'start') {
    try {
      os.setPriority(Math.min(19, os.getPriority() + 10));
    } catch {
      // not allowed here: no matter
    }
  }
  const program = new Command()
    .name('dbmesh')
    .description('MySQL-protocol access proxy for MySQL, MariaDB and TiDB')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError()
    // Program options only before the subcommand: otherwise `upgrade --version V` would
    // be taken as the program's own --version.
    .enablePositionalOptions()
    .addCommand(startCommand())
    .addCommand(stopCommand())
    .addCommand(statusCommand())
    .addCommand(reloadCommand())
    .addCommand(upgradeCommand())
    .addCommand(rollbackCommand())
    .addCommand(digestsCommand())
    .addCommand(backendCommand())
    .addCommand(firewallCommand())
    .addCommand(topCommand())
    .addCommand(configCommand());
  await program.parseAsync(argv);
}

/** The version of the build this file belongs to (dist/src/cli/index.js -> package.json). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}
