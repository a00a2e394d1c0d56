import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { adaptiveRead } from '../../server/tunnel/adaptive-read.js';

const MiB = 1024 * 1024;
/** A pattern that differs at every offset a slab could be reused at. */
const byteAt = (i: number) => (i * 31 + (i >>> 13)) & 255;
const pattern = (from: number, n: number) => Buffer.from(Array.from({ length: n }, (_, k) => byteAt(from + k)));

let server: Server | undefined;
afterEach(() => server?.close());

/** A sender on one end of a loopback connection, and the socket that reads it through adaptiveRead. */
async function pair(sink: Writable): Promise<{ sender: Socket; reader: ReturnType<typeof adaptiveRead>; sock: Socket }> {
  server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const reader = adaptiveRead(sink);
  const { port } = server.address() as { port: number };
  const sock = connect({ host: '127.0.0.1', port, onread: reader.onread });
  reader.attach(sock);
  const [sender] = (await accepted) as [Socket];
  return { sender, reader, sock };
}

/**
 * Holds each chunk for a while before its write calls back, as HTTP/2 does until the frame is out,
 * and checks at that moment that the chunk still holds the bytes it was handed with: a slab reused
 * too early would have been overwritten by a later read.
 */
function slowSink() {
  let offset = 0;
  let overwritten = 0;
  const sink = new Writable({
    highWaterMark: 4 * MiB,
    write(chunk: Buffer, _enc, cb) {
      const at = offset;
      offset += chunk.length;
      const copy = Buffer.from(chunk);
      if (!copy.equals(pattern(at, chunk.length))) overwritten++;
      setTimeout(() => {
        if (!chunk.equals(copy)) overwritten++;
        cb();
      }, Math.random() * 3);
    },
  });
  return { sink, received: () => offset, overwritten: () => overwritten };
}

describe('adaptive slab reads', () => {
  it('hand every byte over in order, and no part is overwritten before its write has called back', async () => {
    const s = slowSink();
    const { sender } = await pair(s.sink);
    const total = 24 * MiB;
    // in bursts of uneven size, so that reads fill slabs whole and in parts
    for (let at = 0; at < total; ) {
      const n = Math.min(total - at, [MiB, 3000, 200 * 1024, 17][Math.floor(at / 7919) % 4]!);
      if (!sender.write(pattern(at, n))) await once(sender, 'drain');
      at += n;
    }
    sender.end();
    await once(s.sink, 'finish');
    expect(s.received()).toBe(total);
    expect(s.overwritten()).toBe(0);
  }, 30_000);

  it('grows its slab under bulk traffic and shrinks it again once reads are small', async () => {
    const s = slowSink();
    const { sender, reader } = await pair(s.sink);
    const slab = () => reader.onread.buffer().buffer.byteLength;
    expect(slab()).toBe(16 * 1024);
    let at = 0;
    const send = async (n: number) => {
      if (!sender.write(pattern(at, n))) await once(sender, 'drain');
      at += n;
    };
    for (let i = 0; i < 16; i++) await send(MiB);
    while (s.received() < at) await new Promise((r) => setTimeout(r, 5));
    const grown = slab();
    expect(grown).toBeGreaterThan(64 * 1024);
    // one small write per read: an interactive desktop
    for (let i = 0; i < 200 && slab() > 16 * 1024; i++) {
      await send(100);
      while (s.received() < at) await new Promise((r) => setTimeout(r, 1));
    }
    expect(slab()).toBe(16 * 1024);
    sender.end();
    await once(s.sink, 'finish');
    expect(s.overwritten()).toBe(0);
  }, 30_000);
});
