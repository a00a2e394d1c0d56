import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * The first step of an RDP server and nothing more: answers an X.224 Connection Request with a
 * Connection Confirm selecting TLS. Enough for the stand-in to show a confirmed connection in
 * tests about the relay; the end-to-end tests use the real RDP server.
 */
export async function startX224Responder(): Promise<{ host: string; port: number; requests: Buffer[]; close(): Promise<void> }> {
  const requests: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    s.once('data', (d: Buffer) => {
      requests.push(d);
      // TPKT(3,0,len=19) X.224 CC(LI=14, 0xD0, dst 0, src 0x1234, class 0) RDP_NEG_RSP(type 2, flags 0, len 8, TLS)
      s.write(Buffer.from([0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
