/**
 * KILL of a dbmesh connection id (COM_QUERY `KILL ...` or COM_PROCESS_KILL), answered for the
 * session that sent it: the target's backend thread is found (in this worker, or through the
 * master in another one) and a translated KILL runs on the sender's own backend connection,
 * so the server applies its own privilege rules exactly as for a direct connection.
 */
import { DBM_ERR } from '../errors/index.js';
import { frame } from '../protocol/framing.js';
import { encodeOk } from '../protocol/responses.js';
import { CloseReason } from '../observability/close-reasons.js';
import { classifyKill, formatKill } from '../sql/kill.js';
import type { ClientSession } from './session.js';
import type { SessionHost } from './session-host.js';

/** A COM_QUERY payload (command byte at 0) that may be a KILL; true when it was handled. */
export function handleKillQuery(session: ClientSession, host: SessionHost, payload: Buffer): boolean {
  const v = classifyKill(payload.toString('utf8', 1));
  if (v.kind === 'pass') return false;
  if (v.kind === 'refuse') session.sendError(DBM_ERR.KILL_NOT_LITERAL, 1);
  else killById(session, host, v.stmt.id, v.stmt.scope, v.stmt.modifier);
  return true;
}

export function killById(session: ClientSession, host: SessionHost, targetId: number, scope: 'connection' | 'query', modifier: string): void {
  const target = host.findSession(targetId);
  if (!target) {
    session.runLocally(host.lookupRemoteSession(targetId, scope === 'connection').then((found) => {
      if (found === null) session.sendError(DBM_ERR.NO_SUCH_THREAD, 1, [targetId]);
      else if (found.threadId === 0) ok(session);
      else session.forwardTo(found.backendId, formatKill({ scope, modifier, id: targetId }, found.threadId));
    }));
    return;
  }
  if (target.backendThreadId === 0) {
    // Not on a backend connection now (between statements): nothing runs there to kill.
    if (scope === 'connection') target.close(CloseReason.KILLED);
    ok(session);
    return;
  }
  if (scope === 'connection' && target !== session) target.markKilled();
  session.forwardTo(target.backendId, formatKill({ scope, modifier, id: targetId }, target.backendThreadId));
}

function ok(session: ClientSession): void {
  session.writeToClient(frame(encodeOk({ affectedRows: 0, lastInsertId: 0, statusFlags: session.statusFlags, warnings: 0 }), 1).bytes, 1);
}
