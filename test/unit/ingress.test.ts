import { describe, expect, it } from 'vitest';
import { IngressRuleError, isUnspecifiedAddress, matchIngress, nameMayBeAllowed, parseIngress } from '../../server/connector/ingress.js';
import { parseConnectorConfig } from '../../server/connector/connector-config.js';
import { ConfigError } from '../../server/config/load-config.js';
import { parseAuthority } from '../../server/connector/stream-handler.js';

const RULES = parseIngress([
  { deny: 'tcp://10.0.0.66:3389' },
  { allow: 'rdp://10.0.0.0/24' },
  { allow: 'tcp://10.1.0.0/16:3389,3390-3392' },
  { allow: 'tcp://[fd00:1::/64]:3389' },
  { allow: 'rdp://[fd00:2::5]' },
  { allow: 'rdp://fileserver.corp.example' },
  { allow: 'rdp://*.desktops.corp.example' },
  { allow: 'tcp://192.168.7.7:*' },
  { deny: 'all' },
]);

describe('ingress matching (first match wins, deny by default)', () => {
  it.each([
    // [what, destination, allowed, rule index]
    ['address in an allowed /24, rdp default port', { address: '10.0.0.5', port: 3389 }, true, 1],
    ['same address, another port', { address: '10.0.0.5', port: 22 }, false, 8],
    ['an earlier deny wins over a later allow', { address: '10.0.0.66', port: 3389 }, false, 0],
    ['outside every range', { address: '10.0.1.5', port: 3389 }, false, 8],
    ['port list', { address: '10.1.200.3', port: 3390 }, true, 2],
    ['port range upper bound', { address: '10.1.200.3', port: 3392 }, true, 2],
    ['past the range', { address: '10.1.200.3', port: 3393 }, false, 8],
    ['IPv6 range', { address: 'fd00:1::abcd', port: 3389 }, true, 3],
    ['IPv6 outside the range', { address: 'fd00:3::1', port: 3389 }, false, 8],
    ['single IPv6 address', { address: 'fd00:2::5', port: 3389 }, true, 4],
    ['IPv4-mapped IPv6 is checked as IPv4', { address: '::ffff:10.0.0.66', port: 3389 }, false, 0],
    ['a name the rules allow', { name: 'fileserver.corp.example', address: '10.9.9.9', port: 3389 }, true, 5],
    ['names compare case-insensitively, trailing dot ignored', { name: 'FileServer.Corp.Example.', address: '10.9.9.9', port: 3389 }, true, 5],
    ['a name resolving into a denied address is refused before its name rule', { name: 'fileserver.corp.example', address: '10.0.0.66', port: 3389 }, false, 0],
    ['an address the gateway asked for by number never matches a name rule', { address: '10.9.9.9', port: 3389 }, false, 8],
    ['wildcard name', { name: 'pc-7.desktops.corp.example', address: '10.9.9.10', port: 3389 }, true, 6],
    ['wildcard does not match the bare domain', { name: 'desktops.corp.example', address: '10.9.9.10', port: 3389 }, false, 8],
    ['wildcard does not match a look-alike', { name: 'evildesktops.corp.example', address: '10.9.9.10', port: 3389 }, false, 8],
    ['any port on one host', { address: '192.168.7.7', port: 8443 }, true, 7],
    ['not an address at all', { address: 'not-an-ip', port: 3389 }, false, 8],
  ])('%s', (_what, dest, allowed, index) => {
    const d = matchIngress(RULES, dest);
    expect(d.allowed).toBe(allowed);
    expect(d.rule.index).toBe(index);
  });
});

describe('ingress parsing (validated once, errors name the rule)', () => {
  it.each([
    [[{ allow: 'rdp://10.0.0.5' }], 0, /last rule must be \{ deny: all \}/],
    [[{ deny: 'all' }, { allow: 'rdp://10.0.0.5' }], 1, /never reached/],
    [[{ allow: 'all' }], 0, /open proxy|reach anything/],
    [[{ allow: 'tcp://10.0.0.5' }, { deny: 'all' }], 0, /need a port/],
    [[{ allow: 'rdp://10.0.0.0/33' }, { deny: 'all' }], 0, /prefix length/],
    [[{ allow: 'rdp://[fd00::/129]' }, { deny: 'all' }], 0, /prefix length/],
    [[{ allow: 'tcp://10.0.0.5:70000' }, { deny: 'all' }], 0, /within 1-65535/],
    [[{ allow: 'tcp://10.0.0.5:3390-3380' }, { deny: 'all' }], 0, /low to high/],
    [[{ allow: 'http://10.0.0.5' }, { deny: 'all' }], 0, /must look like/],
    [[{ allow: 'rdp://bad_host!' }, { deny: 'all' }], 0, /must look like|not an address/],
    [[{ permit: 'rdp://10.0.0.5' }, { deny: 'all' }], 0, /unknown key "permit"/],
    [[{ allow: 'rdp://10.0.0.5', deny: 'all' }], 0, /exactly one key/],
    [[], 0, /ending with \{ deny: all \}/],
  ])('%j fails at rule %i', (rules, index, why) => {
    let err: unknown;
    try {
      parseIngress(rules);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IngressRuleError);
    expect((err as IngressRuleError).index).toBe(index);
    expect((err as IngressRuleError).reason).toMatch(why);
  });

  it('connector config errors carry the ingress path', () => {
    let err: unknown;
    try {
      parseConnectorConfig({ ingress: [{ allow: 'rdp://10.0.0.5' }, { allow: 'tcp://x.example' }, { deny: 'all' }] }, 'connector.yml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('ingress[1]: tcp:// rules need a port');
    expect(() => parseConnectorConfig({ connections: 0, ingress: [{ deny: 'all' }] })).toThrow(/connections/);
    expect(parseConnectorConfig({ ingress: [{ deny: 'all' }] }).connections).toBe(2);
    // pinning needs something to pin to
    expect(() => parseConnectorConfig({ caFileOnly: true, ingress: [{ deny: 'all' }] }, 'connector.yml')).toThrow(/caFileOnly: needs caFile/);
    expect(parseConnectorConfig({ caFileOnly: true, caFile: '/ca.pem', ingress: [{ deny: 'all' }] }).caFileOnly).toBe(true);
  });

  it('reads CONNECT authorities, IPv6 in brackets', () => {
    expect(parseAuthority('10.0.0.5:3389')).toEqual({ host: '10.0.0.5', port: 3389 });
    expect(parseAuthority('[fd00::5]:3389')).toEqual({ host: 'fd00::5', port: 3389 });
    expect(parseAuthority('Host.Example:443')).toEqual({ host: 'host.example', port: 443 });
    for (const bad of [undefined, '', 'host', 'host:0', 'host:99999', 'fd00::5:3389', 'a:b:c']) expect(parseAuthority(bad)).toBeUndefined();
  });
});

describe('before and after resolution', () => {
  const rules = parseIngress([
    { deny: 'tcp://secret.corp.example:3389' },
    { allow: 'rdp://*.corp.example' },
    { deny: 'tcp://10.0.0.66:22' },
    { allow: 'tcp://10.0.0.0/24:22' },
    { deny: 'all' },
  ]);
  // [name, port, looked up?]
  const cases: Array<[string, number, boolean]> = [
    ['desk.corp.example', 3389, true], // a name rule allows it
    ['secret.corp.example', 3389, false], // a name rule denies it first
    ['desk.corp.example', 3390, false], // no rule has the port
    ['anything.else', 22, true], // an address rule on the port might match what it resolves to
    ['anything.else', 3389, false], // only the name rule has 3389, and it names other hosts
    ['corp.example', 3389, false], // a wildcard needs a label before it
  ];
  it.each(cases)('%s:%i may be allowed once resolved: %s', (name, port, expected) => {
    expect(nameMayBeAllowed(rules, name, port)).toBe(expected);
  });

  it('0.0.0.0/8 and :: are this machine, in every spelling; real hosts are not', () => {
    for (const a of ['0.0.0.0', '0.255.1.2', '::', '0:0:0:0:0:0:0:0', '::ffff:0.0.0.0']) expect(isUnspecifiedAddress(a), a).toBe(true);
    for (const a of ['127.0.0.1', '10.0.0.5', '::1', 'fd00::5', '1.0.0.0', 'desk.corp']) expect(isUnspecifiedAddress(a), a).toBe(false);
  });
});
