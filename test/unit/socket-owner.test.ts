import { spawn } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listenerOwners, peerSocketOwner } from '../../server/tunnel/socket-owner.js';

/**
 * Who owns a TCP socket, read from the kernel's tables: the handoff listener uses it to tell
 * guacd's connection from another local user's, which come from the same loopback address.
 * Another user is played by a child process running as `nobody` (needs root).
 */
const notRoot = process.getuid?.() !== 0 ? 'needs root to run a process as another user' : undefined;
const NOBODY = 65534;

describe.skipIf(process.platform !== 'linux')('socket owners from /proc/net/tcp', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  async function listen(host: string): Promise<{ port: number; accepted: Promise<Socket> }> {
    let got!: (s: Socket) => void;
    const accepted = new Promise<Socket>((r) => (got = r));
    server = createServer((s) => got(s));
    await new Promise<void>((r) => server!.listen(0, host, r));
    return { port: (server.address() as { port: number }).port, accepted };
  }

  const ownerOf = (s: Socket) => peerSocketOwner({ address: s.localAddress!, port: s.localPort! }, { address: s.remoteAddress!, port: s.remotePort! });

  for (const host of ['127.0.0.1', '::1']) {
    it(`the owner of a listener and of a connection's far end, on ${host}`, async () => {
      const { port, accepted } = await listen(host);
      expect(listenerOwners(port)).toEqual(new Set([process.getuid!()]));
      const client = connect(port, host);
      const s = await accepted;
      expect(ownerOf(s)).toBe(process.getuid!());
      client.destroy();
      s.destroy();
    });
  }

  it.skipIf(notRoot)('a connection opened by another user is that user\'s', async () => {
    const { port, accepted } = await listen('127.0.0.1');
    const child = spawn(process.execPath, ['-e', `const s = require('net').connect(${port}, '127.0.0.1'); setTimeout(() => s.destroy(), 5000)`], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' });
    try {
      const s = await accepted;
      expect(ownerOf(s)).toBe(NOBODY);
      s.destroy();
    } finally {
      child.kill();
    }
  });

  it('nothing is claimed for a socket that is not there', () => {
    expect(listenerOwners(1)).toEqual(new Set());
    expect(peerSocketOwner({ address: '127.0.0.1', port: 1 }, { address: '127.0.0.1', port: 2 })).toBeUndefined();
  });
});
