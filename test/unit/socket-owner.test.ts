import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listenersAt, peerSocketOwner, tcpRows } from '../../server/tunnel/socket-owner.js';

/**
 * Who owns a TCP socket, read from the kernel's tables: the handoff listener uses it to tell
 * guacd's connection from another local user's, which come from the same loopback address.
 * Another user is played by a child process running as `nobody` (needs root).
 */
const notRoot = process.getuid?.() !== 0 ? 'needs root to run a process as another user' : undefined;
const NOBODY = 65534;

describe.skipIf(process.platform !== 'linux')('socket owners from /proc/net/tcp', () => {
  const cleanup: Array<Server | Socket | ChildProcess> = [];
  afterEach(() => {
    for (const c of cleanup.splice(0)) {
      if ('kill' in c) c.kill();
      else if ('destroy' in c) c.destroy();
      else c.close();
    }
  });

  async function listen(host: string, port = 0): Promise<{ port: number; accepted: Promise<Socket> }> {
    let got!: (s: Socket) => void;
    const accepted = new Promise<Socket>((r) => (got = r));
    const server = createServer((s) => (cleanup.push(s), got(s)));
    cleanup.push(server);
    await new Promise<void>((r) => server.listen(port, host, r));
    return { port: (server.address() as { port: number }).port, accepted };
  }

  /** A child process as `nobody`, running `script`; resolves on its first line of output. */
  async function asNobody(script: string): Promise<void> {
    const child = spawn(process.execPath, ['-e', script], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'inherit'] });
    cleanup.push(child);
    await new Promise((r) => child.stdout!.once('data', r));
  }

  const ownerOf = (s: Socket) => peerSocketOwner(tcpRows([s.localPort!])!, { address: s.localAddress!, port: s.localPort! }, { address: s.remoteAddress!, port: s.remotePort! });

  for (const host of ['127.0.0.1', '::1']) {
    it(`the owner of a connection's far end, and of the server this process is connected to, on ${host}`, async () => {
      const { port, accepted } = await listen(host);
      const client = connect(port, host);
      cleanup.push(client);
      const s = await accepted;
      expect(ownerOf(s)).toBe(process.getuid!());
      // and from the client's side: who is at the far end of a connection this process made
      await new Promise((r) => (client.readyState === 'open' ? r(null) : client.once('connect', r)));
      expect(ownerOf(client)).toBe(process.getuid!());
    });
  }

  it.skipIf(notRoot)("a connection opened by another user is that user's", async () => {
    const { port, accepted } = await listen('127.0.0.1');
    await asNobody(`const s = require('net').connect(${port}, '127.0.0.1', () => console.log('on')); setTimeout(() => s.destroy(), 5000)`);
    expect(ownerOf(await accepted)).toBe(NOBODY);
  });

  it.skipIf(notRoot)("another user listening on guacd's port at another loopback address does not become guacd", async () => {
    const guacd = await listen('127.0.0.1');
    const toGuacd = connect(guacd.port, '127.0.0.1');
    cleanup.push(toGuacd);
    await guacd.accepted;
    // the same port number on 127.0.0.2 and ::1, and a connection of nobody's own to each
    await asNobody(`const net = require('net'); let n = 0; for (const h of ['127.0.0.2', '::1']) net.createServer(() => {}).listen(${guacd.port}, h, () => { net.connect(${guacd.port}, h); if (++n === 2) console.log('on'); }); setTimeout(() => process.exit(0), 5000)`);
    const rows = tcpRows([guacd.port])!;
    expect(ownerOf(toGuacd)).toBe(process.getuid!());
    // by listener: only the one at guacd's very address counts, not the same port elsewhere
    expect(listenersAt(rows, '127.0.0.1', guacd.port)).toEqual(new Set([process.getuid!()]));
    expect(new Set(rows.filter((r) => r.state === '0A').map((r) => r.uid))).toEqual(new Set([process.getuid!(), NOBODY]));
  });

  it('a listener on the wildcard serves every address of its family', async () => {
    const { port } = await listen('0.0.0.0');
    expect(listenersAt(tcpRows([port])!, '127.0.0.1', port)).toEqual(new Set([process.getuid!()]));
    expect(listenersAt(tcpRows([port])!, '::1', port)).toEqual(new Set());
  });

  it('nothing is claimed for sockets that are not there', () => {
    expect(listenersAt(tcpRows([1])!, '127.0.0.1', 1)).toEqual(new Set());
    expect(peerSocketOwner(tcpRows([1, 2])!, { address: '127.0.0.1', port: 1 }, { address: '127.0.0.1', port: 2 })).toBeUndefined();
  });
});
