/**
 * `dbmesh start --config FILE`: load the config (an invalid one starts nothing), run dbmesh
 * in the foreground, and stop cleanly on SIGINT/SIGTERM.
 */
import path from 'node:path';
import { Command } from 'commander';
import { loadConfigFile, type Config } from '../../config/index.js';
import { logger, setLogLevel } from '../../observability/logger.js';
import { reportConfigError } from './report.js';

interface Running {
  close(): Promise<void>;
}

interface StandaloneModule {
  startStandalone(config: Config, configPath: string): Promise<Running>;
}

export function startCommand(): Command {
  return new Command('start')
    .description('run dbmesh in the foreground')
    .requiredOption('-c, --config <file>', 'config file (.json, .yaml or .yml)')
    .option('--standalone', 'one worker in this process, no supervisor (debugging)')
    .action(async (opts: { config: string; standalone?: boolean }) => {
      await start(opts.config, opts.standalone === true);
    });
}

async function start(file: string, standalone: boolean): Promise<void> {
  let config: Config;
  try {
    config = loadConfigFile(file);
  } catch (err) {
    reportConfigError(file, err);
    return;
  }
  setLogLevel(config.log.level);
  // Small and free of the runtime: it says why an address cannot be listened on.
  const { StartupError, checkAddress } = await import('../../master/addresses.js');
  try {
    if (!standalone) {
      // The master handles its own signals (reload, upgrade, graceful and immediate stop).
      const { runMaster } = await import('../../master/index.js');
      await runMaster(config, path.resolve(file));
      return;
    }
    await checkAddress('listen', config.listen.host, config.listen.port);
    const { startStandalone } = await loadRuntime();
    // Absolute, so a later reload reads the same file whatever the cwd has become.
    const running = await startStandalone(config, path.resolve(file));
    stopOnSignals(running);
  } catch (err) {
    if (!(err instanceof StartupError)) {
      // A rule only the running master can check (e.g. a watchdog limit in % of this host's memory).
      reportConfigError(file, err);
      return;
    }
    process.stderr.write(`dbmesh: ${err.message} (config: ${file})\n`);
    process.exitCode = err.exitCode;
  }
}

/**
 * Imported lazily so that `config validate` and friends never load the data path.
 * The specifier is a URL value rather than a literal, so this file compiles on its own.
 */
async function loadRuntime(): Promise<StandaloneModule> {
  const url = new URL('../../worker/standalone.js', import.meta.url);
  try {
    return (await import(url.href)) as StandaloneModule;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(url.pathname)) {
      throw new Error('this build has no worker runtime (dist/src/worker/standalone.js); run `npm run build`');
    }
    throw err;
  }
}

function stopOnSignals(running: Running): void {
  const log = logger('cli');
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn('second signal while stopping, exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    log.info('stopping', { signal });
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('clean stop failed', { signal, error: err instanceof Error ? err.message : String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
