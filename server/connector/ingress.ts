import { BlockList, isIP } from 'node:net';

/**
 * Ingress rules: the connector's own list of what the gateway may reach through it. Checked in
 * order, first match wins, and the last rule must be `deny: all`, so anything not named is refused
 * whatever the gateway asks. Parsed once at start; a bad rule is reported with its index.
 *
 *   - allow: rdp://10.0.0.5              (rdp:// means port 3389 unless one is given)
 *   - allow: tcp://10.0.0.0/24:3389,3390-3399
 *   - allow: tcp://[fd00::/64]:3389
 *   - allow: rdp://*.corp.example.com    (names match the name asked for; the address it
 *                                          resolves to must not hit an earlier deny)
 *   - deny: tcp://10.0.0.66:3389
 *   - deny: all
 */
export interface IngressRule {
  index: number;
  action: 'allow' | 'deny';
  /** As written, for logs and errors. */
  text: string;
  matchesAll: boolean;
  hosts?: { kind: 'addresses'; list: BlockList } | { kind: 'name'; name: string; wildcard: boolean };
  ports?: Array<[number, number]>;
}

export interface Destination {
  /** The name the gateway asked for, when it asked by name. */
  name?: string;
  /** The address the connector would connect to (after resolving a name). */
  address: string;
  port: number;
}

export type IngressDecision = { allowed: boolean; rule: IngressRule };

export class IngressRuleError extends Error {
  constructor(
    readonly index: number,
    readonly reason: string,
  ) {
    super(`ingress[${index}]: ${reason}`);
    this.name = 'IngressRuleError';
  }
}

const HOSTNAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function parsePorts(spec: string | undefined, scheme: string, fail: (why: string) => never): Array<[number, number]> {
  if (spec === undefined || spec === '') {
    if (scheme === 'rdp') return [[3389, 3389]];
    fail('tcp:// rules need a port or port list, e.g. tcp://10.0.0.5:3389 or :3389,3390-3399');
  }
  if (spec === '*') return [[1, 65535]];
  return spec.split(',').map((part) => {
    const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(part.trim());
    if (!m) fail(`"${part}" is not a port, a range like 3390-3399, or *`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || lo > hi) fail(`port range "${part}" must be within 1-65535, low to high`);
    return [lo, hi] as [number, number];
  });
}

function parseHost(host: string, fail: (why: string) => never): NonNullable<IngressRule['hosts']> {
  const [addr, bits, extra] = host.split('/');
  if (extra !== undefined || !addr) fail(`"${host}" is not an address, a CIDR range or a host name`);
  const family = isIP(addr);
  if (family) {
    const list = new BlockList();
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(addr, type);
    else {
      const max = family === 4 ? 32 : 128;
      if (!/^[0-9]{1,3}$/.test(bits) || Number(bits) > max) fail(`"/${bits}" is not a prefix length for an IPv${family} range (0-${max})`);
      list.addSubnet(addr, Number(bits), type);
    }
    return { kind: 'addresses', list };
  }
  if (bits !== undefined) fail(`"${host}" is not a valid CIDR range`);
  const name = addr.toLowerCase();
  if (!HOSTNAME.test(name)) fail(`"${host}" is not an address, a CIDR range or a host name`);
  return name.startsWith('*.') ? { kind: 'name', name: name.slice(1), wildcard: true } : { kind: 'name', name, wildcard: false };
}

function parseTarget(text: string, fail: (why: string) => never): Pick<IngressRule, 'hosts' | 'ports'> {
  const m = /^(rdp|tcp):\/\/(\[[^\]]+\]|[^:/\s]+(?:\/[0-9]+)?)(?::([^\s]*))?$/i.exec(text.trim());
  if (!m) fail(`"${text}" must look like rdp://HOST, tcp://HOST:PORTS, tcp://10.0.0.0/24:3389 or tcp://[fd00::/64]:3389`);
  const scheme = m[1]!.toLowerCase();
  const rawHost = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
  return { hosts: parseHost(rawHost, fail), ports: parsePorts(m[3], scheme, fail) };
}

export function parseIngressRule(raw: unknown, index: number): IngressRule {
  const fail: (why: string) => never = (why) => {
    throw new IngressRuleError(index, why);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail('each rule is { allow: TARGET } or { deny: TARGET | all }');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length !== 1) fail('each rule has exactly one key, allow or deny');
  const [action, target] = entries[0]!;
  if (action !== 'allow' && action !== 'deny') fail(`unknown key "${action}"; a rule is { allow: TARGET } or { deny: TARGET | all }`);
  if (typeof target !== 'string') fail(`${action} needs a target such as rdp://10.0.0.5`);
  if (target === 'all' || target === '*') {
    // an allow-everything rule would make the connector an open proxy into the private network
    if (action === 'allow') fail('allow: all would let the gateway reach anything in this network; name the hosts instead');
    return { index, action, text: target, matchesAll: true };
  }
  return { index, action, text: target, matchesAll: false, ...parseTarget(target, fail) };
}

export function parseIngress(raw: unknown): IngressRule[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new IngressRuleError(0, 'ingress must be a list of rules ending with { deny: all }');
  const rules = raw.map((r, i) => parseIngressRule(r, i));
  const firstCatchAll = rules.findIndex((r) => r.matchesAll);
  const last = rules.length - 1;
  if (firstCatchAll === -1) throw new IngressRuleError(last, 'the last rule must be { deny: all }, so whatever no rule names is refused');
  if (firstCatchAll !== last) throw new IngressRuleError(firstCatchAll + 1, `never reached: rule ${firstCatchAll} (deny: all) already matches everything; it must be the last rule`);
  return rules;
}

function canonicalAddress(address: string): { address: string; type: 'ipv4' | 'ipv6' } | undefined {
  const mapped = /^::ffff:([0-9.]+)$/i.exec(address);
  const a = mapped ? mapped[1]! : address;
  const family = isIP(a);
  return family ? { address: a, type: family === 4 ? 'ipv4' : 'ipv6' } : undefined;
}

function ruleMatches(rule: IngressRule, dest: Destination, addr: { address: string; type: 'ipv4' | 'ipv6' }): boolean {
  if (rule.matchesAll) return true;
  if (!rule.ports!.some(([lo, hi]) => dest.port >= lo && dest.port <= hi)) return false;
  const h = rule.hosts!;
  if (h.kind === 'addresses') return h.list.check(addr.address, addr.type);
  if (dest.name === undefined) return false;
  const name = dest.name.toLowerCase().replace(/\.$/, '');
  return h.wildcard ? name.endsWith(h.name) && name.length > h.name.length : name === h.name;
}

/**
 * Whether a name could be allowed at all once resolved, decided before resolving it: a name no
 * rule could let through is not looked up, so a gateway cannot use the connector's resolver to
 * learn which internal names exist, or to carry data out in DNS queries. Same order as
 * matchIngress: a name rule decides on the name alone; an address rule with a matching port
 * might match the address the name resolves to.
 */
export function nameMayBeAllowed(rules: readonly IngressRule[], name: string, port: number): boolean {
  for (const rule of rules) {
    if (rule.matchesAll) return rule.action === 'allow';
    if (!rule.ports!.some(([lo, hi]) => port >= lo && port <= hi)) continue;
    if (rule.hosts!.kind === 'addresses') {
      if (rule.action === 'allow') return true;
      continue;
    }
    if (ruleMatches(rule, { name, address: '', port }, { address: '', type: 'ipv4' })) return rule.action === 'allow';
  }
  return false;
}

const UNSPECIFIED = new BlockList();
UNSPECIFIED.addSubnet('0.0.0.0', 8, 'ipv4');
UNSPECIFIED.addAddress('::', 'ipv6');

/**
 * 0.0.0.0 (and the rest of 0.0.0.0/8 on some systems) and :: are not hosts: connecting to them
 * reaches the connector's own machine, past any rule that denies 127.0.0.0/8 or ::1, and under a
 * wide range such as 0.0.0.0/0 they would look allowed. A name resolving to them (as DNS filters
 * answer for blocked names) is the same.
 */
export function isUnspecifiedAddress(address: string): boolean {
  const a = canonicalAddress(address);
  return a !== undefined && UNSPECIFIED.check(a.address, a.type);
}

/** First matching rule decides; an address that is not an IP never matches anything but deny: all. */
export function matchIngress(rules: readonly IngressRule[], dest: Destination): IngressDecision {
  const addr = canonicalAddress(dest.address);
  for (const rule of rules) {
    if (!addr && !rule.matchesAll) continue;
    if (ruleMatches(rule, dest, addr!)) return { allowed: rule.action === 'allow', rule };
  }
  // parseIngress guarantees a catch-all; reaching here means the rules were built by hand
  return { allowed: false, rule: rules[rules.length - 1]! };
}
