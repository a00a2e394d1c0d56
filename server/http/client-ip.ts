import type { IncomingMessage } from 'node:http';

export type TrustFn = (addr: string, hop: number) => boolean;

/**
 * The caller's address for requests Express does not route (WebSocket upgrades), with the same
 * rule Express applies: walk X-Forwarded-For from the nearest hop while the hop is a trusted proxy.
 */
export function clientIpOf(req: IncomingMessage, trust: TrustFn): string | undefined {
  const socketAddr = req.socket.remoteAddress;
  if (!socketAddr) return undefined;
  const header = req.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .reverse();
  const hops = [socketAddr, ...forwarded];
  for (let i = 0; i < hops.length - 1; i++) {
    if (!trust(hops[i]!, i)) return hops[i];
  }
  return hops[hops.length - 1];
}
