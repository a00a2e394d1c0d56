import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/audit/audit-log.js';
import { RefusalThrottle } from '../../server/tunnel/refusal-throttle.js';
import { TunnelRegistry } from '../../server/tunnel/tunnel-registry.js';
import { TunnelStore } from '../../server/tunnel/tunnel-store.js';
import { createTunnelUpgradeHandler } from '../../server/tunnel/tunnel-upgrade.js';
import { TUNNEL_UPGRADE } from '../../server/tunnel/tunnel-wire.js';

/**
 * The connectors' door is open to the internet and writes a log and an audit line per refusal:
 * past a limit per address, the rest of the window is answered 429 without a line each, and one
 * line says how many.
 */
describe('refused connector upgrades, per address', () => {
  let t = 0;
  const clock = () => t;
  const quiet: Array<[string, number]> = [];
  let throttle: RefusalThrottle;
  afterEach(() => throttle?.close());

  it('the limit is per address and per window; what went unlogged is reported once, when the window ends', () => {
    t = 0;
    quiet.length = 0;
    throttle = new RefusalThrottle((a, n) => void quiet.push([a, n]), 3, 10_000, clock);
    for (let i = 0; i < 3; i++) {
      expect(throttle.throttled('198.51.100.7')).toBe(false);
      throttle.refused('198.51.100.7');
    }
    expect(throttle.throttled('198.51.100.7')).toBe(true);
    expect(throttle.throttled('198.51.100.7')).toBe(true);
    // another address is not held back by this one
    expect(throttle.throttled('203.0.113.9')).toBe(false);
    t = 9_999;
    throttle.flush();
    expect(quiet).toEqual([]);
    t = 10_000;
    throttle.flush();
    expect(quiet).toEqual([['198.51.100.7', 2]]);
    expect(throttle.throttled('198.51.100.7')).toBe(false);
  });

  it('at the door: past the limit an address gets 429 and no line each, then one line says how many', async () => {
    t = 0;
    const dir = mkdtempSync(path.join(tmpdir(), 'dbx-throttle-'));
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    const audit = new AuditLog(path.join(dir, 'audit.jsonl'), { keepInMemory: true });
    throttle = new RefusalThrottle((ip, n) => audit.write({ event: 'tunnel-connect', result: 'denied', ip, reason: `${n} more attempts` }), 2, 10_000, clock);
    const handler = createTunnelUpgradeHandler({ store: new TunnelStore(path.join(dir, 'tunnels.json')), registry: new TunnelRegistry(log), audit, log, clientIp: () => '198.51.100.7', refreshStore: () => undefined, throttle });
    /** One upgrade without a token; what the gateway answered. */
    const attempt = () => {
      let answer = '';
      const socket = new Duplex({ read() {}, write: (c: Buffer, _e, cb) => ((answer += c.toString()), cb()) });
      handler({ headers: { upgrade: TUNNEL_UPGRADE, connection: 'Upgrade' } } as unknown as IncomingMessage, socket, Buffer.alloc(0));
      socket.destroy();
      return answer.split('\r\n')[0];
    };
    try {
      expect([attempt(), attempt()]).toEqual(['HTTP/1.1 401 Unauthorized', 'HTTP/1.1 401 Unauthorized']);
      expect([attempt(), attempt(), attempt()]).toEqual(Array(3).fill('HTTP/1.1 429 Too Many Requests'));
      const denied = () => audit.entries!.filter((e) => e.event === 'tunnel-connect');
      expect(denied()).toHaveLength(2);
      expect(lines.filter((l) => l.includes('tunnel connection refused'))).toHaveLength(2);
      t = 10_000;
      throttle.flush();
      expect(denied().map((e) => e.reason)).toEqual(['no bearer token', 'no bearer token', '3 more attempts']);
      expect(attempt()).toBe('HTTP/1.1 401 Unauthorized');
    } finally {
      await audit.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
