import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeInstruction as enc,
  InstructionParser,
  startGuacdStandin,
  type GuacdStandin,
  type Instruction,
} from '../support/guacd-standin/index.js';

/** A raw Guacamole client over TCP, so the stand-in is tested without any gateway code. */
class RawClient {
  readonly received: Instruction[] = [];
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  private readonly parser = new InstructionParser();
  private listeners: Array<() => void> = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('error', () => undefined);
    this.socket.on('data', (chunk: Buffer) => {
      this.received.push(...this.parser.push(chunk));
      for (const l of this.listeners) l();
    });
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()));
  }

  send(opcode: string, ...args: Array<string | number>): void {
    this.socket.write(enc(opcode, ...args));
  }

  waitFor(pred: (i: Instruction) => boolean, timeoutMs = 3000): Promise<Instruction> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.received.find(pred);
        if (hit) {
          clearTimeout(timer);
          this.listeners = this.listeners.filter((l) => l !== listener);
          resolve(hit);
        }
        return hit !== undefined;
      };
      const listener = (): void => void check();
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== listener);
        reject(new Error(`timed out; got ${this.received.map((i) => i.opcode).join(',')}`));
      }, timeoutMs);
      if (!check()) this.listeners.push(listener);
    });
  }

  opcode(name: string, timeoutMs?: number): Promise<Instruction> {
    return this.waitFor((i) => i.opcode === name, timeoutMs);
  }

  /** select + minimal handshake + connect, with `overrides` for named args. */
  async connect(overrides: Record<string, string>, size = ['1024', '768', '96']): Promise<Instruction> {
    this.send('select', 'rdp');
    const args = await this.opcode('args');
    const names = args.args.slice(1);
    this.send('size', ...size);
    this.send('audio', 'audio/L16');
    this.send('video');
    this.send('image', 'image/png', 'image/jpeg');
    this.send('timezone', 'Europe/London');
    this.send('name', 'tester');
    this.send('connect', 'VERSION_1_5_0', ...names.map((n) => overrides[n] ?? ''));
    return this.opcode('ready');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A TCP server that answers the X.224 Connection Request with a Connection Confirm. */
async function fakeRdpServer(selectedProtocol: number): Promise<{ port: number; request: Promise<Buffer>; close(): Promise<void> }> {
  let gotRequest: (b: Buffer) => void = () => undefined;
  const request = new Promise<Buffer>((r) => (gotRequest = r));
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 4 && buf.length >= buf.readUInt16BE(2)) {
        gotRequest(buf);
        const cc = Buffer.from([0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x00, 0x08, 0x00, 0, 0, 0, 0]);
        cc.writeUInt32LE(selectedProtocol, 15);
        s.write(cc);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address() as net.AddressInfo;
  return {
    port: addr.port,
    request,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

async function unusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function standin(opts: Parameters<typeof startGuacdStandin>[0] = {}): Promise<GuacdStandin> {
  const s = await startGuacdStandin(opts);
  cleanups.push(() => s.close());
  return s;
}

function client(port: number): RawClient {
  const c = new RawClient(port);
  cleanups.push(() => c.destroy());
  return c;
}

describe('guacd stand-in', () => {
  it('answers select,rdp with guacd args and confirms X.224 against a real TCP server', async () => {
    const rdp = await fakeRdpServer(1);
    cleanups.push(() => rdp.close());
    const g = await standin();
    const c = client(g.port);
    c.send('select', 'rdp');
    const args = await c.opcode('args');
    expect(args.args[0]).toBe('VERSION_1_5_0');
    for (const name of ['hostname', 'port', 'security', 'ignore-cert', 'width', 'height', 'dpi', 'resize-method', 'disable-copy', 'disable-paste']) {
      expect(args.args).toContain(name);
    }
    const names = args.args.slice(1);
    const values: Record<string, string> = { hostname: '127.0.0.1', port: String(rdp.port), security: 'any', 'ignore-cert': 'true', username: 'alice' };
    c.send('size', 800, 600, 96);
    c.send('connect', 'VERSION_1_5_0', ...names.map((n) => values[n] ?? ''));

    const ready = await c.opcode('ready');
    expect(ready.args[0]).toMatch(/^\$[0-9a-f-]{36}$/);
    const readyIdx = c.received.indexOf(ready);
    const firstSync = c.received[readyIdx + 1];
    expect(firstSync?.opcode).toBe('sync');
    expect(firstSync?.args).toHaveLength(2);
    expect(firstSync?.args[1]).toBe('0');
    await c.waitFor((i) => i.opcode === 'size' && i.args.join() === '0,800,600');

    const session = await g.waitForSession((s) => s.rdp.state !== 'pending');
    expect(session.id).toBe(ready.args[0]);
    expect(session.rdp).toEqual({ state: 'confirmed', selectedProtocol: 1 });
    expect(session.clientVersion).toBe('VERSION_1_5_0');
    expect(session.connectArgs.hostname).toBe('127.0.0.1');
    expect(session.handshake.size).toEqual(['800', '600', '96']);

    const req = await rdp.request;
    expect([req[0], req[1]]).toEqual([0x03, 0x00]);
    expect(req.readUInt16BE(2)).toBe(req.length);
    expect(req[5]).toBe(0xe0);
    expect(req.toString('latin1')).toContain('Cookie: mstshash=alice\r\n');
    // RDP_NEG_REQ: type 1, flags 0, length 8, PROTOCOL_SSL|PROTOCOL_HYBRID for security=any.
    expect(req.subarray(-8)).toEqual(Buffer.from([0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00]));

    // The banner turns green once the confirm arrived.
    await c.waitFor((i) => i.opcode === 'cfill' && i.args.slice(2, 5).join() === '0,160,80');
  });

  it('reports a refused RDP port with 519 like guacd', async () => {
    const g = await standin();
    const c = client(g.port);
    await c.connect({ hostname: '127.0.0.1', port: String(await unusedPort()) });
    const err = await c.opcode('error');
    expect(err.args[1]).toBe('519');
    await c.closed;
    const s = await g.waitForSession((x) => x.rdp.state === 'failed');
    expect(s.rdp.failure).toMatch(/ECONNREFUSED/);
  });

  it('keeps UTF-8 intact when characters are split across TCP writes', async () => {
    const rdp = await fakeRdpServer(0);
    cleanups.push(() => rdp.close());
    const g = await standin();
    const c = client(g.port);
    c.send('select', 'rdp');
    const names = (await c.opcode('args')).args.slice(1);
    const values: Record<string, string> = { hostname: '127.0.0.1', port: String(rdp.port), username: 'Jürgen😀' };
    const connect = Buffer.from(enc('connect', 'VERSION_1_5_0', ...names.map((n) => values[n] ?? '')));
    const emoji = connect.indexOf(Buffer.from('😀'));
    c.socket.write(connect.subarray(0, emoji + 2));
    await new Promise((r) => setTimeout(r, 30));
    c.socket.write(connect.subarray(emoji + 2));
    await c.opcode('ready');

    const text = 'héllo wörld — 日本語 😀 ünïcödé';
    const bytes = Buffer.from(text, 'utf8');
    const cut = bytes.indexOf(Buffer.from('日')) + 1; // inside a 3-byte character
    const wire = Buffer.from(
      enc('clipboard', 0, 'text/plain') +
        enc('blob', 0, bytes.subarray(0, cut).toString('base64')) +
        enc('blob', 0, bytes.subarray(cut).toString('base64')) +
        enc('end', 0),
    );
    const mid = wire.length >> 1;
    c.socket.write(wire.subarray(0, mid));
    await new Promise((r) => setTimeout(r, 30));
    c.socket.write(wire.subarray(mid));

    const s = await g.waitForSession((x) => x.clipboardReceived.length > 0);
    expect(s.connectArgs.username).toBe('Jürgen😀');
    expect(s.clipboardReceived).toEqual([text]);
    // Each blob is acknowledged, as guacd does, so the client may send the next.
    await c.waitFor(() => c.received.filter((i) => i.opcode === 'ack').length >= 2);
    const acks = c.received.filter((i) => i.opcode === 'ack');
    expect(acks.map((a) => a.args.join())).toEqual(['0,OK,0', '0,OK,0']);

    // And the other way: a long clipboard comes back in ≤ 6048-character blobs.
    const long = 'ä'.repeat(5000);
    s.sendClipboard(long);
    const end = await c.opcode('end');
    const stream = end.args[0];
    const blobs = c.received.filter((i) => i.opcode === 'blob' && i.args[0] === stream).map((i) => i.args[1] ?? '');
    expect(blobs.length).toBeGreaterThan(1);
    for (const b of blobs) expect(b.length).toBeLessThanOrEqual(6048);
    expect(Buffer.concat(blobs.map((b) => Buffer.from(b, 'base64'))).toString('utf8')).toBe(long);
    expect(c.received.find((i) => i.opcode === 'clipboard')?.args).toEqual([stream, 'text/plain']);
  });

  it('answers a resize with size,0,w,h when resize-method is display-update', async () => {
    const rdp = await fakeRdpServer(1);
    cleanups.push(() => rdp.close());
    const g = await standin();
    const c = client(g.port);
    await c.connect({ hostname: '127.0.0.1', port: String(rdp.port), 'resize-method': 'display-update' });
    c.send('size', 1280, 720);
    await c.waitFor((i) => i.opcode === 'size' && i.args.join() === '0,1280,720');
    c.send('key', 0x61, 1);
    c.send('key', 0x61, 0);
    c.send('mouse', 10, 20, 1);
    const s = await g.waitForSession((x) => x.mouse.length > 0);
    expect(s.sizes).toEqual([{ width: 1280, height: 720 }]);
    expect(s.keys).toEqual([
      { keysym: 0x61, pressed: true },
      { keysym: 0x61, pressed: false },
    ]);
    expect(s.mouse).toEqual([{ x: 10, y: 20, mask: 1 }]);
    // The click marker is yellow.
    await c.waitFor((i) => i.opcode === 'cfill' && i.args.slice(2, 5).join() === '255,220,0');
  });

  it('answers malformed input with 768 and closes', async () => {
    const g = await standin();
    const c = client(g.port);
    c.send('select', 'rdp');
    await c.opcode('args');
    c.socket.write('4.size,x4.1024;');
    const err = await c.opcode('error');
    expect(err.args[1]).toBe('768');
    await c.closed;
    expect((await g.waitForSession((s) => s.closed)).closed).toBe(true);
  });

  it('rejects a join of an unknown connection and drops silent clients with 776', async () => {
    const g = await standin({ inactivityTimeoutMs: 200 });
    const join = client(g.port);
    join.send('select', '$00000000-0000-0000-0000-000000000000');
    expect((await join.opcode('error')).args).toEqual(['No such connection.', '516']);
    const idle = client(g.port);
    const err = await idle.opcode('error', 2000);
    expect(err.args[1]).toBe('776');
    await idle.closed;
  });
});
