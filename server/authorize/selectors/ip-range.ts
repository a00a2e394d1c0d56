import { BlockList, isIP } from 'node:net';
import type { Selector } from '../access-request.js';

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

export const ipRange: Selector<{ ipRange: string }> = {
  test: (r, p) => p.ip !== undefined && listFor(r.ipRange).check(p.ip),
  describe: (r, p) => `client IP in ${r.ipRange}${p.ip ? '' : p.badIp ? ' (client IP unreadable)' : ' (client IP unknown)'}`,
};
