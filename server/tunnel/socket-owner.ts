import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { endianness } from 'node:os';

/**
 * Which user owns a TCP socket on this machine, from Linux's /proc/net/tcp and tcp6 (the tables of
 * this process's network namespace). Undefined where those tables cannot be read or the socket is
 * not in them: callers must then decide without it.
 */

const LISTEN = '0A';
const ESTABLISHED = '01';

interface Row {
  local: { address: string; port: number };
  remote: { address: string; port: number };
  state: string;
  uid: number;
}

/** A 32-bit word of the table: written in the machine's byte order. */
function word(hex: string): number[] {
  const bytes = [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return endianness() === 'LE' ? bytes.reverse() : bytes;
}

function decodeAddress(hex: string): string {
  if (hex.length === 8) return word(hex).join('.');
  const bytes = [0, 8, 16, 24].flatMap((i) => word(hex.slice(i, i + 8)));
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12).join('.');
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // compare in one spelling: Node's, which never compresses differently for the same address
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function rows(): Row[] | undefined {
  const out: Row[] = [];
  let readAny = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
      readAny = true;
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 8) continue;
      const [la, lp] = f[1]!.split(':');
      const [ra, rp] = f[2]!.split(':');
      out.push({ local: { address: decodeAddress(la!), port: parseInt(lp!, 16) }, remote: { address: decodeAddress(ra!), port: parseInt(rp!, 16) }, state: f[3]!, uid: Number(f[7]) });
    }
  }
  return readAny ? out : undefined;
}

/** Node's spelling of an address, IPv4-mapped IPv6 as IPv4, so both sides compare equal. */
function plain(address: string): string {
  const a = address.replace(/^::ffff:/i, '');
  return isIP(a) === 6 ? new URL(`http://[${a}]/`).hostname.slice(1, -1) : a;
}

/** The owner of the far end of a connection this process accepted: the socket at `peer` connected to `local`. */
export function peerSocketOwner(local: { address: string; port: number }, peer: { address: string; port: number }): number | undefined {
  const l = { address: plain(local.address), port: local.port };
  const p = { address: plain(peer.address), port: peer.port };
  const row = rows()?.find((r) => r.state === ESTABLISHED && r.local.port === p.port && r.remote.port === l.port && r.local.address === p.address && r.remote.address === l.address);
  return row?.uid;
}

/** The owners of the sockets listening on `port` (any address): who runs the server there. */
export function listenerOwners(port: number): Set<number> | undefined {
  const all = rows();
  if (!all) return undefined;
  return new Set(all.filter((r) => r.state === LISTEN && r.local.port === port).map((r) => r.uid));
}
