/**
 * The memory watchdog's limits as written in the config ("512MiB", "1.5GiB", "40%") and the
 * rules that keep them from killing workers in a loop: a limit of 0 (or below what an idle
 * worker needs) kills or replaces every worker as soon as it starts, and a soft limit above the
 * hard one is never reached. `config validate` checks what the text alone says; the master
 * checks again with the machine's memory (percentages) and the running workers (reload).
 */

const MiB = 1024 * 1024;

/** Below this no worker can serve: an idle worker alone is about 60 MiB resident. */
export const MIN_WORKER_LIMIT_BYTES = 128 * MiB;
const MIN_TEXT = '128MiB';

export type MemoryLimit = { readonly bytes: number } | { readonly percent: number };

/** "512MiB" | "1.5GiB" | "40%" -> its value, or null when the text is none of these. */
export function parseMemoryLimit(text: string): MemoryLimit | null {
  const m = /^([0-9]+(?:\.[0-9]+)?)(MiB|GiB|%)$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  if (m[2] === '%') return { percent: n };
  return { bytes: Math.round(n * (m[2] === 'GiB' ? 1024 * MiB : MiB)) };
}

/** The limit in bytes, `budgetBytes` being the memory available to dbmesh. */
export function limitBytes(limit: MemoryLimit, budgetBytes: number): number {
  return 'bytes' in limit ? limit.bytes : Math.round((limit.percent / 100) * budgetBytes);
}

export interface LimitsText {
  readonly softLimit: string;
  readonly hardLimit: string;
}

/**
 * Problems with a soft/hard pair, as `watchdog.<field>: ...`. `given` says which fields the
 * file set (a default is named as such). With `budgetBytes`, percentages are resolved and
 * checked too; without it (config validate), only what the text says is checked.
 */
export function memoryLimitProblems(limits: LimitsText, given: { soft: boolean; hard: boolean }, budgetBytes?: number): string[] {
  const problems: string[] = [];
  const soft = checkOne('softLimit', limits.softLimit, budgetBytes, problems);
  const hard = checkOne('hardLimit', limits.hardLimit, budgetBytes, problems);
  if (soft === null || hard === null) return problems;
  let softBytes: number;
  let hardBytes: number;
  if (budgetBytes !== undefined) {
    softBytes = limitBytes(soft, budgetBytes);
    hardBytes = limitBytes(hard, budgetBytes);
  } else if ('bytes' in soft && 'bytes' in hard) {
    [softBytes, hardBytes] = [soft.bytes, hard.bytes];
  } else if ('percent' in soft && 'percent' in hard) {
    [softBytes, hardBytes] = [soft.percent, hard.percent];
  } else {
    return problems; // MiB against %: only the machine can tell
  }
  if (softBytes > hardBytes) problems.push(softAboveHard(limits, given, budgetBytes));
  return problems;
}

function checkOne(field: string, text: string, budgetBytes: number | undefined, problems: string[]): MemoryLimit | null {
  const limit = parseMemoryLimit(text);
  if (limit === null) return null; // the schema's pattern reports it
  const at = `watchdog.${field}: ${JSON.stringify(text)}`;
  const value = 'bytes' in limit ? limit.bytes : limit.percent;
  if (value === 0) problems.push(`${at} must be more than 0 (every worker would be over it as soon as it starts)`);
  else if ('percent' in limit && limit.percent > 100) problems.push(`${at} is more than 100% of the memory available`);
  else if ('bytes' in limit && limit.bytes < MIN_WORKER_LIMIT_BYTES) problems.push(`${at} is below the minimum of ${MIN_TEXT}: ${WHY_MINIMUM}`);
  else if ('percent' in limit && budgetBytes !== undefined && limitBytes(limit, budgetBytes) < MIN_WORKER_LIMIT_BYTES) {
    problems.push(`${at} is ${mib(limitBytes(limit, budgetBytes))} of the ${mib(budgetBytes)} available here, below the minimum of ${MIN_TEXT}: ${WHY_MINIMUM}`);
  } else return limit;
  return null;
}

const WHY_MINIMUM = 'an idle worker alone uses about 60 MiB, so every worker would be killed or replaced as soon as it starts';

function softAboveHard(limits: LimitsText, given: { soft: boolean; hard: boolean }, budgetBytes: number | undefined): string {
  const resolved = (text: string): string => (budgetBytes !== undefined && text.endsWith('%') ? ` (${mib(limitBytes(parseMemoryLimit(text)!, budgetBytes))} here)` : '');
  const soft = `${JSON.stringify(limits.softLimit)}${resolved(limits.softLimit)}`;
  const hard = `${JSON.stringify(limits.hardLimit)}${resolved(limits.hardLimit)}`;
  const why = 'a worker would be killed before it is ever replaced gracefully (equal limits turn the graceful replacement off)';
  if (!given.soft) return `watchdog.hardLimit: ${hard} is below the default watchdog.softLimit ${soft}; set softLimit too, at or below it: ${why}`;
  if (!given.hard) return `watchdog.softLimit: ${soft} is above the default watchdog.hardLimit ${hard}; set hardLimit too, at or above it: ${why}`;
  return `watchdog.softLimit: ${soft} is above watchdog.hardLimit ${hard}: ${why}`;
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(bytes < 10 * MiB ? 1 : 0)} MiB`;
}
