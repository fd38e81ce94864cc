/**
 * Recognise `KILL [HARD|SOFT] [CONNECTION|QUERY] <thread id>` so dbmesh can translate the
 * client-visible (dbmesh) connection id into the backend thread id. Other KILL forms
 * (`KILL QUERY ID <query id>`, `KILL USER <name>`) are not about connection ids and pass
 * through unchanged. Pure, no allocation beyond the result.
 */

export interface KillStatement {
  readonly scope: 'connection' | 'query';
  /** Modifier as written (HARD / SOFT) or empty. */
  readonly modifier: string;
  readonly id: number;
}

const KILL_RE = /^\s*(?:\/\*[^]*?\*\/\s*)*kill\s+(?:(hard|soft)\s+)?(?:(connection|query)\s+)?(\d{1,10})\s*;?\s*$/i;

/** Cheap pre-check on the raw COM_QUERY payload (byte 0 is the command). */
export function mayBeKill(payload: Buffer): boolean {
  let i = 1;
  while (i < payload.length && (payload[i] === 0x20 || payload[i] === 0x0a || payload[i] === 0x0d || payload[i] === 0x09)) i++;
  if (payload[i] === 0x2f) return payload.length < 512; // leading comment: let the regex decide
  return i + 4 <= payload.length && (payload[i]! | 0x20) === 0x6b && (payload[i + 1]! | 0x20) === 0x69 &&
    (payload[i + 2]! | 0x20) === 0x6c && (payload[i + 3]! | 0x20) === 0x6c;
}

export function parseKill(sql: string): KillStatement | null {
  const m = KILL_RE.exec(sql);
  if (!m) return null;
  const id = Number(m[3]);
  if (!Number.isSafeInteger(id) || id > 0xffffffff) return null;
  return { scope: (m[2]?.toLowerCase() as 'connection' | 'query' | undefined) ?? 'connection', modifier: m[1]?.toUpperCase() ?? '', id };
}

export function formatKill(k: KillStatement, backendThreadId: number): string {
  return `KILL ${k.modifier ? k.modifier + ' ' : ''}${k.scope === 'query' ? 'QUERY' : 'CONNECTION'} ${backendThreadId}`;
}
