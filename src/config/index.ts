/**
 * config/ owns the config file format: its JSON Schema, validation (schema + semantic
 * rules), defaults, and loading into a deep-frozen Config snapshot.
 * It may import only node:*, errors/ and observability/logger; never the data path,
 * the master or the CLI (they all depend on it, not the other way round).
 */
export type * from './types.js';
export { ConfigError, loadConfigFile, parseConfig, type ConfigErrorReason, type ConfigFormat } from './load.js';
export { DEFAULTS, applyDefaults, deepFreeze, installRoot, type ConfigFile } from './defaults.js';
export { configSchema, validateConfig } from './validate.js';
export { MIN_WORKER_LIMIT_BYTES, limitBytes, memoryLimitProblems, parseMemoryLimit, type MemoryLimit } from './memory-limit.js';
