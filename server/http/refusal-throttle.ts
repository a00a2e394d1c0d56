import { isIP } from 'node:net';
import { canonicalIp } from './ip-address.js';

/**
 * Log lines for refusals of callers not yet known (a connector upgrade without a valid token, a
 * desktop upgrade without a sign-in, a failed sign-in), counted per client address. Those doors are
 * open to the internet and each refusal writes a log and an audit line: past `limit` refusals in a
 * window, an address's further refusals are still answered as usual but not logged one by one, and
 * one line then says how many there were. Only the logging is held back, never the service: someone
 * sharing an address with whoever is refused (a NAT, a proxy, a web page in a browser behind it)
 * still gets in.
 */
export class RefusalThrottle {
  private readonly byAddress = new Map<string, { since: number; logged: number; quiet: number }>();
  private readonly sweep: NodeJS.Timeout;
  /** After close, every refusal is logged: nothing would report what was held back. */
  private closed = false;

  constructor(
    /** Called once per address and window in which refusals went unlogged. */
    private readonly onQuietened: (address: string, count: number, windowMs: number) => void,
    private readonly limit = 20,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {
    this.sweep = setInterval(() => this.flush(), windowMs);
    this.sweep.unref();
  }

  /** Counts a refusal from this address; whether to log it in full. */
  shouldLog(address: string): boolean {
    if (this.closed) return true;
    const keys = addressKeys(address);
    let key = keys.fine;
    // bounded. Past MAX_ADDRESSES keys in a window, new addresses are counted by their network
    // (IPv4 /24, IPv6 /48): one host filling the map from its own /48 must not decide whether some
    // other network's refusals are logged. Past twice that, the rest share one count.
    if (!this.byAddress.has(key) && this.byAddress.size >= MAX_ADDRESSES) key = keys.coarse;
    if (!this.byAddress.has(key) && this.byAddress.size >= 2 * MAX_ADDRESSES) key = 'other addresses';
    let e = this.byAddress.get(key);
    if (e && this.now() - e.since >= this.windowMs) {
      this.end(key, e);
      e = undefined;
    }
    if (!e) this.byAddress.set(key, (e = { since: this.now(), logged: 0, quiet: 0 }));
    if (e.logged < this.limit) {
      e.logged++;
      return true;
    }
    e.quiet++;
    return false;
  }

  /** Ends the windows that are over: reports what went unlogged, forgets the rest. */
  flush(): void {
    for (const [key, e] of this.byAddress) if (this.now() - e.since >= this.windowMs) this.end(key, e);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweep);
    for (const [key, e] of this.byAddress) this.end(key, e);
  }

  private end(key: string, e: { quiet: number }): void {
    this.byAddress.delete(key);
    if (e.quiet) this.onQuietened(key, e.quiet, this.windowMs);
  }
}

const MAX_ADDRESSES = 10_000;

/**
 * The keys an address is counted under: IPv4 as is (also when written IPv4-mapped, or with a port
 * as some proxies forward it), IPv6 by its /64, since one host usually holds a whole /64 and
 * counting per address would be evaded at once; and, when the map is full, by network.
 */
function addressKeys(address: string): { fine: string; coarse: string } {
  let a = address.trim().replace(/%.*$/, '');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (bracketed) a = bracketed[1]!;
  const v4port = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(a);
  if (v4port) a = v4port[1]!;
  const canon = canonicalIp(a);
  const kind = isIP(canon);
  if (kind === 4) return { fine: canon, coarse: `${canon.split('.').slice(0, 3).join('.')}.0/24` };
  if (kind !== 6) return { fine: canon, coarse: canon };
  const [head, tail = ''] = canon.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const full = canon.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return { fine: `${full.slice(0, 4).join(':')}::/64`, coarse: `${full.slice(0, 3).join(':')}::/48` };
}
