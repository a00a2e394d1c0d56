import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/audit/audit-log.js';
import type { Logger } from '../../server/log/logger.js';
import { RefusalThrottle } from '../../server/http/refusal-throttle.js';
import { TunnelRegistry } from '../../server/tunnel/tunnel-registry.js';
import { TunnelStore } from '../../server/tunnel/tunnel-store.js';
import { createTunnelUpgradeHandler } from '../../server/tunnel/tunnel-upgrade.js';
import { TUNNEL_UPGRADE } from '../../server/tunnel/tunnel-wire.js';

/**
 * The connectors' door on its own: a tunnel "office-1" and its token, a registry that records what
 * would be attached instead of running HTTP/2, and upgrade requests made on in-memory sockets.
 */
function door(opts: { log: Logger; throttle?: (audit: AuditLog) => RefusalThrottle }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'dbx-door-'));
  const audit = new AuditLog(path.join(dir, 'audit.jsonl'), { keepInMemory: true });
  const store = new TunnelStore(path.join(dir, 'tunnels.json'));
  const { token } = store.create('office-1', 'https://gw.example');
  const registry = new TunnelRegistry(opts.log);
  const attached: string[] = [];
  registry.attach = (_t, info) => void attached.push(info.tunnel);
  const handler = createTunnelUpgradeHandler({ store, registry, audit, log: opts.log, clientIp: () => '198.51.100.7', refreshStore: () => undefined, throttle: opts.throttle?.(audit) });
  /** An upgrade with this token, if any, on a socket whose writes go to `write`. */
  const upgrade = (bearer: string | undefined, write: (chunk: Buffer, cb: () => void) => void) => {
    const socket = Object.assign(new Duplex({ read() {}, write: (c: Buffer, _e, cb) => write(c, cb) }), { setNoDelay: () => undefined });
    const headers = { upgrade: TUNNEL_UPGRADE, connection: 'Upgrade', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) };
    handler({ headers } as unknown as IncomingMessage, socket, Buffer.alloc(0));
    return socket;
  };
  const close = async () => {
    await audit.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { audit, token, registry, attached, handler, upgrade, close };
}

/**
 * The connectors' door is open to the internet and writes a log and an audit line per refusal:
 * past a limit per address, further refusals are answered as usual but not logged one by one, and
 * one line says how many. Only logging is held back: a valid connector from the same address still
 * gets in.
 */
describe('log lines for refused connector upgrades, per address', () => {
  let t = 0;
  const clock = () => t;
  let throttle: RefusalThrottle;
  afterEach(() => throttle?.close());

  it('the limit is per address (IPv6: per /64) and per window; what went unlogged is reported once, when the window ends', () => {
    t = 0;
    const quiet: Array<[string, number]> = [];
    throttle = new RefusalThrottle((a, n) => void quiet.push([a, n]), 3, 10_000, clock);
    expect([1, 2, 3, 4, 5].map(() => throttle.shouldLog('198.51.100.7'))).toEqual([true, true, true, false, false]);
    // another address is counted on its own; the IPv4-mapped spelling is the same address
    expect(throttle.shouldLog('203.0.113.9')).toBe(true);
    expect(throttle.shouldLog('::ffff:198.51.100.7')).toBe(false);
    // a host holds its /64: other addresses in it share its count
    expect(['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff::9'].map((a) => throttle.shouldLog(a))).toEqual([true, true, true]);
    expect(throttle.shouldLog('2001:0db8:0001:0002:0:0:0:77')).toBe(false);
    expect(throttle.shouldLog('2001:db8:1:3::1')).toBe(true);
    // other spellings of the same /64, and of the same IPv4 address
    for (const a of ['2001:DB8:1:2::abcd', '[2001:db8:1:2::5]:443', '2001:db8:1:2:0:0:1.2.3.4']) expect(throttle.shouldLog(a), a).toBe(false);
    expect(throttle.shouldLog('fe80::1%eth0')).toBe(true);
    for (const a of ['::ffff:c633:6407', '198.51.100.7:5555', '[::ffff:198.51.100.7]:80']) expect(throttle.shouldLog(a), a).toBe(false);
    t = 9_999;
    throttle.flush();
    expect(quiet).toEqual([]);
    t = 10_000;
    throttle.flush();
    expect(quiet).toEqual([
      ['198.51.100.7', 6],
      ['2001:db8:1:2::/64', 4],
    ]);
    expect(throttle.shouldLog('198.51.100.7')).toBe(true);
    // once closed, nothing would report what was held back: everything is logged
    for (let i = 0; i < 3; i++) throttle.shouldLog('198.51.100.7');
    throttle.close();
    expect(throttle.shouldLog('198.51.100.7')).toBe(true);
  });

  it("one network filling the map does not decide whether another network's refusals are logged", () => {
    t = 0;
    const quiet: Array<[string, number]> = [];
    throttle = new RefusalThrottle((a, n) => void quiet.push([a, n]), 2, 10_000, clock);
    // 10,000 /64s from one /48 (65,536 are there for the taking) fill the map
    for (let i = 0; i < 10_000; i++) throttle.shouldLog(`2001:db8:7:${i.toString(16)}::1`);
    // further /64s of that /48 share one count, its network's
    for (let i = 0; i < 5; i++) throttle.shouldLog(`2001:db8:7:${(20_000 + i).toString(16)}::1`);
    // an address elsewhere is still counted under its own network, and logged up to the limit
    expect([1, 2, 3].map(() => throttle.shouldLog('198.51.100.7'))).toEqual([true, true, false]);
    expect(throttle.shouldLog('203.0.113.9')).toBe(true);
    t = 10_000;
    throttle.flush();
    expect(quiet).toEqual(expect.arrayContaining([['2001:db8:7::/48', 3], ['198.51.100.0/24', 1]]));
    expect(quiet.map(([a]) => a)).not.toContain('other addresses');
  });

  it('at the door: past the limit, refusals are answered as before but not logged each, a valid token still gets in, and one line says how many', async () => {
    t = 0;
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    const d = door({ log, throttle: (audit) => (throttle = new RefusalThrottle((ip, n) => audit.write({ event: 'tunnel-connect', result: 'denied', ip, reason: `${n} more refusals` }), 2, 10_000, clock)) });
    const { audit, token, attached } = d;
    /** One upgrade, with this token if any; what the gateway answered. */
    const attempt = (bearer?: string) => {
      let answer = '';
      const socket = d.upgrade(bearer, (c, cb) => ((answer += c.toString()), cb()));
      return new Promise<string>((r) => setImmediate(() => (socket.destroy(), r(answer.split('\r\n')[0]!))));
    };
    try {
      for (let i = 0; i < 5; i++) expect(await attempt()).toBe('HTTP/1.1 401 Unauthorized');
      const denied = () => audit.entries!.filter((e) => e.event === 'tunnel-connect' && e.result === 'denied');
      expect(denied()).toHaveLength(2);
      expect(lines.filter((l) => l.includes('tunnel connection refused'))).toHaveLength(2);
      // the connector itself, from the same address, is let in
      expect(await attempt(token)).toBe('HTTP/1.1 101 Switching Protocols');
      expect(attached).toEqual(['office-1']);
      t = 10_000;
      throttle.flush();
      expect(denied().map((e) => e.reason)).toEqual(['no bearer token', 'no bearer token', '3 more refusals']);
    } finally {
      await d.close();
    }
  });
});

describe('the connectors\' door at shutdown', () => {
  it('an upgrade whose 101 is still being written when the gateway closes is not attached', async () => {
    const d = door({ log: pino({ level: 'silent' }) });
    const { token, registry, attached, handler } = d;
    try {
      const open = () => {
        let done!: () => void;
        const written = new Promise<void>((r) => (done = r));
        const socket = d.upgrade(token, (_c, cb) => void setImmediate(() => (cb(), done())));
        return { socket, written };
      };
      const before = open();
      await before.written;
      await new Promise((r) => setImmediate(r));
      expect(attached).toEqual(['office-1']);
      const during = open();
      handler.close();
      await during.written;
      await new Promise((r) => setImmediate(r));
      expect(attached).toEqual(['office-1']);
      expect(during.socket.destroyed).toBe(true);
      expect(registry.connectionCount('office-1')).toBe(0);
      before.socket.destroy();
    } finally {
      await d.close();
    }
  });
});
