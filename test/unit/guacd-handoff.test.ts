import { connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AuditLog } from '../../server/audit/audit-log.js';
import { startHandoff, type Handoff } from '../../server/tunnel/guacd-handoff.js';
import { startTunnels } from '../../server/tunnel/tunnels.js';

/**
 * The per-session listener guacd dials in place of a tunnelled desktop: exactly one connection,
 * only from guacd's address, gone after use or after its timeout. guacd in another container is
 * a peer on another address; on Linux all of 127/8 is loopback, so 127.0.0.2 plays that guacd.
 */

/** The session's tunnel stream, as the handoff sees it: what guacd sends lands in `got`. */
function tunnelStream() {
  const got: Buffer[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      got.push(chunk);
      cb();
    },
  });
  return { stream, got };
}

function logLines() {
  const lines: string[] = [];
  return { lines, log: pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) }) };
}

/** A connection from `from` to the handoff; resolves with the socket once it is up, or with the dial error. */
function dial(h: Handoff, from: string): Promise<Socket | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: h.port, localAddress: from });
    s.once('connect', () => resolve(s));
    s.once('error', (err) => resolve(err));
  });
}

/** What the peer reads until the handoff closes its side, and whether it closed within `ms`. */
function readUntilClosed(s: Socket, ms = 2000): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    let data = '';
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('error', () => undefined);
    const t = setTimeout(() => resolve({ data, closed: false }), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve({ data, closed: true });
    });
  });
}

// 127.0.0.2 as a second local address is Linux's (all of 127/8 is loopback there)
describe.skipIf(process.platform !== 'linux')('guacd handoff listener', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => cleanup.splice(0).forEach((f) => f()));

  it('takes one connection, only from guacd\'s address; others are refused and logged; the listener is gone after it', async () => {
    const { stream, got } = tunnelStream();
    const { lines, log } = logLines();
    const h = await startHandoff(stream, { listenHost: '127.0.0.1', advertiseHost: 'gateway', allowedPeers: new Set(['127.0.0.2']), timeoutMs: 5000, log });
    cleanup.push(() => h.close());
    // guacd is told the advertised name (a container's), not the listen address
    expect(h.host).toBe('gateway');

    // someone on the gateway's host, not guacd: cut at once, nothing reaches the desktop
    const stranger = await dial(h, '127.0.0.1');
    if (!('remotePort' in stranger)) throw stranger;
    stranger.write('6.select,3.rdp;');
    expect((await readUntilClosed(stranger)).closed).toBe(true);
    expect(got).toHaveLength(0);
    expect(lines.some((l) => l.includes('connection from an address other than guacd refused') && l.includes('"from":"127.0.0.1"'))).toBe(true);

    // guacd: piped both ways
    const guacd = await dial(h, '127.0.0.2');
    if (!('remotePort' in guacd)) throw guacd;
    const fromDesktop = readUntilClosed(guacd, 500);
    guacd.write('hello desktop');
    stream.push(Buffer.from('hello guacd'));
    await expect.poll(() => Buffer.concat(got).toString()).toBe('hello desktop');
    expect((await fromDesktop).data).toBe('hello guacd');

    // a second connection, even from guacd's address, finds no listener
    const second = await dial(h, '127.0.0.2');
    expect((second as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    guacd.destroy();
    await h.done;
  });

  it('bytes are counted at each scrape and at the close, each byte once', async () => {
    const { stream, got } = tunnelStream();
    const { log } = logLines();
    const counted = { toStream: 0, fromStream: 0 };
    const collectors = new Set<() => void>();
    const scrape = () => collectors.forEach((f) => f());
    const h = await startHandoff(stream, {
      listenHost: '127.0.0.1',
      allowedPeers: new Set(['127.0.0.1']),
      timeoutMs: 5000,
      log,
      onBytes: (to, from) => ((counted.toStream += to), (counted.fromStream += from)),
      collect: (fn) => (collectors.add(fn), () => void collectors.delete(fn)),
    });
    cleanup.push(() => h.close());
    const guacd = await dial(h, '127.0.0.1');
    if (!('remotePort' in guacd)) throw guacd;
    const fromDesktop = readUntilClosed(guacd);
    guacd.write('abcd');
    await expect.poll(() => Buffer.concat(got).length).toBe(4);
    stream.push(Buffer.from('xyz'));
    await new Promise((r) => setTimeout(r, 50));
    scrape();
    scrape();
    expect(counted).toEqual({ toStream: 4, fromStream: 3 });
    guacd.write('ef');
    await expect.poll(() => Buffer.concat(got).length).toBe(6);
    stream.push(null);
    stream.destroy();
    expect((await fromDesktop).data).toBe('xyz');
    await h.done;
    expect(counted).toEqual({ toStream: 6, fromStream: 3 });
    // the collector went with the connection
    expect(collectors.size).toBe(0);
  });

  it('nobody comes: the listener closes after its timeout, the stream is closed, and a log line says so', async () => {
    const { stream } = tunnelStream();
    const { lines, log } = logLines();
    const h = await startHandoff(stream, { listenHost: '127.0.0.1', allowedPeers: new Set(['127.0.0.1']), timeoutMs: 300, log });
    cleanup.push(() => h.close());
    const t0 = Date.now();
    await h.done;
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(stream.destroyed).toBe(true);
    expect(lines.some((l) => l.includes('guacd did not connect in time'))).toBe(true);
    expect(((await dial(h, '127.0.0.1')) as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('the desktop side ends: what it sent still reaches guacd, then guacd\'s connection closes and the handoff is done', async () => {
    const { stream } = tunnelStream();
    const { log } = logLines();
    const h = await startHandoff(stream, { listenHost: '127.0.0.1', allowedPeers: new Set(['127.0.0.1']), timeoutMs: 5000, log });
    cleanup.push(() => h.close());
    // written before guacd comes: it waits in the stream until the handoff pipes it
    stream.push(Buffer.from('last frame'));
    stream.push(null);
    const guacd = await dial(h, '127.0.0.1');
    if (!('remotePort' in guacd)) throw guacd;
    const seen = readUntilClosed(guacd);
    expect(await seen).toEqual({ data: 'last frame', closed: true });
    await h.done;
  });
});

describe('handoff address and where guacd runs', () => {
  it('warns at start when guacd is elsewhere but the handoff listens on loopback, where guacd could never reach it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dbx-handoff-'));
    // one audit file, closed before the directory goes: its stream opens the file asynchronously
    const audit = new AuditLog(path.join(dir, 'audit.jsonl'));
    try {
      const start = async (guacdHost: string, listen: string) => {
        const { lines, log } = logLines();
        const t = await startTunnels({ stateFile: path.join(dir, 'tunnels.json'), handoff: { listen, timeoutSeconds: 5 }, openTimeoutMs: 1000 }, { guacdHost: () => guacdHost, audit, log, clientIp: () => undefined });
        await t.close();
        return lines.filter((l) => l.includes('cannot reach it'));
      };
      const [warned] = await start('guacd', '127.0.0.1');
      expect(JSON.parse(warned!)).toMatchObject({ level: 40, guacd: 'guacd', handoff: '127.0.0.1' });
      expect(warned).toContain('Set tunnels.handoff.listen (and advertise)');
      expect(await start('127.0.0.1', '127.0.0.1')).toEqual([]);
      expect(await start('localhost', '::1')).toEqual([]);
      expect(await start('guacd', '0.0.0.0')).toEqual([]);
    } finally {
      await audit.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
