/**
 * What to print when an integration test fails or times out on a machine we cannot log in
 * to (CI): the last dbmesh log lines and what every sandbox server is running.
 */
import type { DbmeshProcess } from './dbmesh.js';
import { rootQuery, type SandboxInfo } from './sandbox.js';

const RUNNING_SQL = 'SELECT ID, USER, COMMAND, TIME, STATE, LEFT(INFO, 160) FROM information_schema.PROCESSLIST WHERE COMMAND <> \'Daemon\' ORDER BY ID';

export async function diagnose(title: string, dbmesh: DbmeshProcess | undefined, sb: SandboxInfo | undefined): Promise<void> {
  const parts = [`--- diagnostics: ${title}`];
  if (dbmesh) parts.push('dbmesh log, last 40 lines:', ...dbmesh.logs.slice(-40).map((l) => JSON.stringify(l)));
  for (const s of sb ? [sb.primary, ...sb.replicas] : []) {
    parts.push(`${s.id} (${s.port}) processlist:`, await rootQuery(s, RUNNING_SQL).catch((e: Error) => `unavailable: ${e.message}`));
  }
  console.error(parts.join('\n'));
}
