import { isIP } from 'node:net';

/**
 * One spelling per IP address, so two spellings of the same one compare equal: IPv6 in lower
 * case and compressed, as Node's sockets report it; IPv4-mapped IPv6 (::ffff:1.2.3.4, in either
 * notation) as plain IPv4. Anything that is not an IP address comes back as it was.
 */
export function canonicalIp(address: string): string {
  if (isIP(address) !== 6) return address;
  const a = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (!mapped) return a;
  const [hi, lo] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** 127.0.0.0/8 and ::1, in any spelling (IPv4-mapped too), as sockets and resolvers report them. */
export function isLoopbackAddress(address: string): boolean {
  const a = canonicalIp(address);
  return a.startsWith('127.') || a === '::1';
}
