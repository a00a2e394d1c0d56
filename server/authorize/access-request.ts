import { isIP, SocketAddress } from 'node:net';

/** Everything a policy may look at, gathered before evaluation so evaluation does no I/O. */
export interface AccessRequest {
  user: { email?: string; username: string; groups: readonly string[]; amr: readonly string[] };
  /** Client IP as trusted proxies report it; absent when unknown. */
  ip?: string;
  /** ISO country code from a trusted proxy's header; absent when unknown. */
  country?: string;
  now: Date;
  purpose?: string;
  /** When the user signed in (ms); per-app session durations count from here. */
  signedInAt?: number;
}

/** The request in the shape selectors compare against, normalised once per evaluation. */
export interface Prepared {
  email?: string;
  emailDomain?: string;
  groups: ReadonlySet<string>;
  amr: ReadonlySet<string>;
  ip?: SocketAddress;
  /** The address as given, when it could not be read. */
  badIp?: string;
  country?: string;
  now: Date;
}

export function prepare(req: AccessRequest): Prepared {
  const email = req.user.email ?? (req.user.username.includes('@') ? req.user.username : undefined);
  // an IPv4 client seen on a dual-stack socket arrives as ::ffff:a.b.c.d; compare it as IPv4
  const address = req.ip?.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  const family = address ? isIP(address) : 0;
  const lower = email?.toLowerCase();
  const at = lower?.lastIndexOf('@') ?? -1;
  return {
    email: lower,
    emailDomain: at > 0 ? lower!.slice(at + 1) : undefined,
    groups: new Set(req.user.groups.map((g) => g.toLowerCase())),
    amr: new Set(req.user.amr),
    ip: address && family ? new SocketAddress({ address, family: family === 6 ? 'ipv6' : 'ipv4' }) : undefined,
    badIp: address && !family ? address : undefined,
    country: req.country?.toUpperCase(),
    now: req.now,
  };
}

/**
 * One kind of selector: a cheap test, and a description an admin can read, built only when the
 * decision has to be explained (the launcher lists thousands of apps without explaining).
 */
export interface Selector<R> {
  test(rule: R, p: Prepared): boolean;
  describe(rule: R, p: Prepared): string;
}
