import { BlockList, isIP } from 'node:net';
import type { AccessRequest, SelectorResult } from '../access-request.js';

/** An IPv4 client seen on a dual-stack socket arrives as ::ffff:a.b.c.d; compare it as IPv4. */
function normalise(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip;
}

const lists = new Map<string, BlockList>();

function listFor(range: string): BlockList {
  let list = lists.get(range);
  if (!list) {
    list = new BlockList();
    const [addr, bits] = range.split('/') as [string, string | undefined];
    const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, family);
    else list.addSubnet(addr, Number(bits), family);
    lists.set(range, list);
  }
  return list;
}

export function matchIpRange(range: string, req: AccessRequest): SelectorResult {
  const detail = `client IP in ${range}`;
  if (!req.ip) return { matched: false, detail: `${detail} (client IP unknown)` };
  const ip = normalise(req.ip);
  const family = isIP(ip);
  if (!family) return { matched: false, detail: `${detail} (client IP unreadable)` };
  return { matched: listFor(range).check(ip, family === 6 ? 'ipv6' : 'ipv4'), detail };
}
