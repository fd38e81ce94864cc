/**
 * Load a config file: read, parse (JSON or YAML), validate, fill defaults, freeze.
 * Any failure throws one ConfigError listing every problem, so an operator fixes a file
 * in one pass and a reload with a bad file changes nothing.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { applyDefaults, type ConfigFile } from './defaults.js';
import type { Config } from './types.js';
import { validateConfig } from './validate.js';

export type ConfigFormat = 'json' | 'yaml' | 'auto';

/** Why a config was refused: the file could not be read, could not be parsed, or says something invalid. */
export type ConfigErrorReason = 'unreadable' | 'syntax' | 'invalid';

export class ConfigError extends Error {
  readonly problems: readonly string[];
  readonly reason: ConfigErrorReason;
  readonly file: string | undefined;

  constructor(reason: ConfigErrorReason, problems: readonly string[], file?: string) {
    const where = file === undefined ? 'config' : `config ${file}`;
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`${where}: ${reason === 'invalid' ? count : reason}: ${problems.join('; ')}`);
    this.name = 'ConfigError';
    this.reason = reason;
    this.problems = Object.freeze([...problems]);
    this.file = file;
  }
}

/** Read and load a JSON (.json) or YAML (.yaml, .yml) config file; other names are tried as JSON, then YAML. */
export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('unreadable', [`cannot read file: ${describeFsError(err)}`], file);
  }
  try {
    return parseConfig(text, formatOf(file), path.dirname(path.resolve(file)));
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.reason, err.problems, file);
    throw err;
  }
}

/**
 * Parse and load config text. `baseDir` anchors a relative `releases.dir`
 * (loadConfigFile passes the file's directory).
 */
export function parseConfig(text: string, formatHint: ConfigFormat = 'auto', baseDir: string = process.cwd()): Config {
  const data = parseText(text, formatHint);
  const problems = validateConfig(data);
  if (problems.length > 0) throw new ConfigError('invalid', problems);
  return applyDefaults(data as ConfigFile, baseDir);
}

function formatOf(file: string): ConfigFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  return 'auto';
}

function parseText(text: string, format: ConfigFormat): unknown {
  if (format === 'json') return parseJson(text);
  if (format === 'yaml') return parseYaml(text);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not JSON: YAML decides, and its error (with line and column) is the one reported.
    return parseYaml(text);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ConfigError('syntax', [`invalid JSON: ${(err as Error).message}`]);
  }
}

/**
 * Aliases a YAML config may expand, counted as the yaml library counts them (each use of an
 * anchor, weighted by the aliases inside it). Anchors for repeated pool or backend settings
 * stay far below it; a "billion laughs" file (aliases of aliases) is refused instead of
 * expanding into gigabytes.
 */
export const YAML_MAX_ALIAS_COUNT = 100;

function parseYaml(text: string): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError('syntax', doc.errors.map((e) => `invalid YAML: ${e.message.split('\n')[0]}`));
  }
  try {
    // A YAML file that is empty or only comments is null; the schema reports "(root): must be object".
    return doc.toJS({ maxAliasCount: YAML_MAX_ALIAS_COUNT }) as unknown;
  } catch (err) {
    // Alias problems surface only when the document is turned into values.
    throw new ConfigError('syntax', [`invalid YAML: ${yamlValueError(err)}`]);
  }
}

function yamlValueError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/excessive alias count/i.test(message)) {
    return `aliases expand too much (over ${YAML_MAX_ALIAS_COUNT} alias uses, counting aliases inside aliases): refused as a possible "billion laughs" file; write the values out instead`;
  }
  return message.split('\n')[0] ?? message;
}

function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return e.message;
  }
}
