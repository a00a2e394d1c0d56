import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { endianness } from 'node:os';
import { canonicalIp } from '../http/ip-address.js';

/**
 * Which user owns a TCP socket on this machine, from Linux's /proc/net/tcp and tcp6 (the tables of
 * this process's network namespace). Undefined where those tables cannot be read or the socket is
 * not in them: callers must then decide without it.
 */

const ESTABLISHED = '01';
const LISTEN = '0A';

export interface TcpRow {
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
  return canonicalIp(groups.join(':'));
}


/**
 * The rows of this namespace's TCP tables with either end on one of `ports` (the rest are skipped
 * before their addresses are decoded: a busy machine has many), or undefined without /proc.
 */
export function tcpRows(ports: readonly number[]): TcpRow[] | undefined {
  const wanted = new Set(ports);
  const out: TcpRow[] = [];
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
      if (f.length < 10) continue;
      const [la, lp] = f[1]!.split(':');
      const [ra, rp] = f[2]!.split(':');
      const local = parseInt(lp!, 16);
      const remote = parseInt(rp!, 16);
      if (!wanted.has(local) && !wanted.has(remote)) continue;
      out.push({ local: { address: decodeAddress(la!), port: local }, remote: { address: decodeAddress(ra!), port: remote }, state: f[3]!, uid: Number(f[7]) });
    }
  }
  return readAny ? out : undefined;
}

const same = (a: { address: string; port: number }, b: { address: string; port: number }) => a.port === b.port && a.address === b.address;

/** The owner of the far end of a connection of this process's: the socket at `peer` connected to `local`. */
export function peerSocketOwner(rows: readonly TcpRow[], local: { address: string; port: number }, peer: { address: string; port: number }): number | undefined {
  const l = { address: canonicalIp(local.address), port: local.port };
  const p = { address: canonicalIp(peer.address), port: peer.port };
  return rows.find((r) => r.state === ESTABLISHED && same(r.local, p) && same(r.remote, l))?.uid;
}

/**
 * The owners of the sockets listening on exactly `address`:`port`, or on the same family's wildcard.
 * Only these can be the server at that address: the kernel lets no second socket listen on an
 * address and port another holds, nor on the wildcard over it (across users, not even with
 * SO_REUSEPORT). A listener on the same port at another address (127.0.0.2, ::1) is someone else's.
 */
export function listenersAt(rows: readonly TcpRow[], address: string, port: number): Set<number> {
  const a = canonicalIp(address);
  const wildcard = isIP(a) === 6 ? '::' : '0.0.0.0';
  return new Set(rows.filter((r) => r.state === LISTEN && r.local.port === port && (r.local.address === a || r.local.address === wildcard)).map((r) => r.uid));
}
