/**
 * Structured JSON logging (winston). One logger per process; components take a child with
 * a stable `component` field. Field names are snake_case and stable (`conn_id`, `backend`).
 * Hot paths must check `logger.isLevelEnabled` before building objects nobody reads.
 */
import winston from 'winston';

export type Logger = winston.Logger;

let root: winston.Logger | undefined;

export function createRootLogger(level = process.env.DBMESH_LOG_LEVEL ?? 'info'): winston.Logger {
  root = winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    defaultMeta: { pid: process.pid },
    // stderr keeps stdout free for command output (status --json, sandbox info).
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
  return root;
}

export function logger(component: string): winston.Logger {
  return (root ?? createRootLogger()).child({ component });
}

export function setLogLevel(level: string): void {
  (root ?? createRootLogger()).level = level;
}
