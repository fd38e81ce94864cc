/**
 * The two addresses dbmesh listens on: `listen` (MySQL; bound by the master through
 * node:cluster when the first worker listens) and `admin` (the HTTP API, in the master).
 * Both are tried before any worker starts, so an address in use fails `dbmesh start` at once
 * with a message saying which address and what to do, instead of ending in workers that
 * cannot bind, restarted in a loop, under a "dbmesh listening" line.
 */
import net from 'node:net';

export type AddressRole = 'listen' | 'admin';

/** Exit code of `dbmesh start` when an address cannot be listened on. */
export const EXIT_ADDRESS_UNAVAILABLE = 3;

const ADDRESS_CODES = new Set(['EADDRINUSE', 'EACCES', 'EPERM', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

/** dbmesh cannot start: the message is for the operator, as is (no stack, no internals). */
export class StartupError extends Error {
  readonly exitCode = EXIT_ADDRESS_UNAVAILABLE;
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** Whether a listen failure's code is about the address itself (not a dbmesh bug). */
export function isAddressCode(code: unknown): code is string {
  return typeof code === 'string' && ADDRESS_CODES.has(code);
}

export function addressError(role: AddressRole, host: string, port: number, code: string): StartupError {
  const what = role === 'listen' ? 'the MySQL port' : 'the admin API';
  return new StartupError(`cannot listen on ${hostPort(host, port)} (${role}, ${what}): ${remedy(role, host, port, code)}`, code);
}

function remedy(role: AddressRole, host: string, port: number, code: string): string {
  switch (code) {
    case 'EADDRINUSE':
      return `the address is already in use by another process (another dbmesh?); stop it (\`ss -ltnp 'sport = :${port}'\` shows which) or set ${role}.port to a free port`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE; set ${role}.port above 1023 or grant the capability`;
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this host; set ${role}.host to one of its addresses (or 0.0.0.0 for all)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name ${host} does not resolve; set ${role}.host to an address of this host`;
    default:
      return code;
  }
}

/** Bind `host:port` and let it go at once; rejects with a StartupError when that fails. */
export function checkAddress(role: AddressRole, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(addressError(role, host, port, err.code ?? err.message)));
    probe.listen({ host, port }, () => probe.close(() => resolve()));
  });
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
