/** `10.0.0.0/8`, `::1`, `fd00::/8`, `127.0.0.1`: an address block, or null when the text is not one. */
import net from 'node:net';

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const v = net.isIP(address);
  if (v === 0) return null;
  const max = v === 4 ? 32 : 128;
  const prefix = slash < 0 ? max : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (slash >= 0 && !/^\d+$/.test(text.slice(slash + 1)))) return null;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}
