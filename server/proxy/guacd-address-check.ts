import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { isLoopbackAddress } from '../http/ip-address.js';

export type AddressResolver = (host: string) => Promise<string[]>;

const systemResolver: AddressResolver = async (host) => (await lookup(host, { all: true })).map((a) => a.address);

/**
 * guacd given by a name that resolves to several loopback addresses ("localhost": 127.0.0.1 and
 * ::1): the gateway connects to the first that answers, and guacd usually listens on only one. Any
 * local user may listen on the other, receive the gateway's guacd connections (the desktops'
 * credentials with them) and pass for guacd at the tunnel handoff. Returns what to tell the admin,
 * or undefined.
 */
export async function guacdAddressWarning(host: string, resolve: AddressResolver = systemResolver): Promise<string | undefined> {
  if (isIP(host)) return undefined;
  let addresses: string[];
  try {
    addresses = [...new Set(await resolve(host))];
  } catch {
    return undefined;
  }
  if (addresses.length < 2 || !addresses.every(isLoopbackAddress)) return undefined;
  return `guacd.host "${host}" resolves to ${addresses.join(' and ')}: guacd listens on one of them, and another local user could listen on the other and receive the gateway's guacd connections, credentials included. Give guacd's exact address (e.g. 127.0.0.1) instead.`;
}
