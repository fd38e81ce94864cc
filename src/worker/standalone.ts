/**
 * Run one worker in the current process, serving `listen` itself. Used by `dbmesh start`
 * until the supervisor runs workers, and by tests that want a worker without a master.
 */
import type { Config } from '../config/types.js';
import { logger } from '../observability/logger.js';
import { ProxyServer } from './server.js';

export interface RunningWorker {
  readonly server: ProxyServer;
  readonly port: number;
  close(): Promise<void>;
}

export async function startStandalone(config: Config, configPath: string): Promise<RunningWorker> {
  const log = logger('worker');
  const server = new ProxyServer(config);
  await server.prepare();
  const addr = await server.listen(config.listen.host, config.listen.port);
  log.info('dbmesh listening', { host: addr.address, port: addr.port, config: configPath, version: process.env.npm_package_version ?? null });
  return {
    server,
    port: addr.port,
    close: async () => {
      log.info('dbmesh stopping');
      await server.close();
    },
  };
}
