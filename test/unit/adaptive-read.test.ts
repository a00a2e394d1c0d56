import { EventEmitter, once } from 'node:events';
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
function slowSink(holdMs = 3, highWaterMark = 4 * MiB) {
  let offset = 0;
  let overwritten = 0;
  // every part is a view of its slab: the largest slab seen since the last reset
  let largestSlab = 0;
  const sink = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, cb) {
      const at = offset;
      offset += chunk.length;
      largestSlab = Math.max(largestSlab, chunk.buffer.byteLength);
      const copy = Buffer.from(chunk);
      if (!copy.equals(pattern(at, chunk.length))) overwritten++;
      setTimeout(() => {
        if (!chunk.equals(copy)) overwritten++;
        cb();
      }, Math.random() * holdMs);
    },
  });
  return {
    sink,
    received: () => offset,
    overwritten: () => overwritten,
    largestSlabSinceLastAsked: () => {
      const n = largestSlab;
      largestSlab = 0;
      return n;
    },
  };
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
    // prompt writes and HTTP/2's own 16 KiB mark, so that the in-flight budget never holds the slab down
    const s = slowSink(0, 16 * 1024);
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
    expect(s.largestSlabSinceLastAsked()).toBeGreaterThanOrEqual(256 * 1024);
    expect(slab()).toBeGreaterThan(64 * 1024);
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

  it('a stream closed with writes that never called back gives their bytes back to the shared budget', async () => {
    // a tunnel stream reset mid-send: it took the writes and will never call them back (a
    // Writable cannot stand in: it hands over one write at a time)
    let held = 0;
    const stuck = Object.assign(new EventEmitter(), {
      destroyed: false,
      write(chunk: Buffer) {
        held += chunk.length;
        return true;
      },
      end() {},
    });
    const first = await pair(stuck as unknown as Writable);
    first.sender.write(pattern(0, 8 * MiB));
    while (held < 6 * MiB) await new Promise((r) => setTimeout(r, 5));
    stuck.destroyed = true;
    stuck.emit('close');
    first.sock.destroy();
    first.sender.destroy();
    server!.close();

    // with those bytes still counted, every later reader would be held at the smallest slab
    const s = slowSink(0, 16 * 1024);
    const { sender } = await pair(s.sink);
    for (let i = 0; i < 8; i++) if (!sender.write(pattern(i * MiB, MiB))) await once(sender, 'drain');
    sender.end();
    await once(s.sink, 'finish');
    expect(s.largestSlabSinceLastAsked()).toBeGreaterThanOrEqual(256 * 1024);
  }, 30_000);

  it('reads that land after the stream closed do not count against the shared budget', async () => {
    // the stream closed and the socket has not been destroyed yet: its last reads still arrive
    const gone = Object.assign(new EventEmitter(), {
      destroyed: true,
      write(_chunk: Buffer, cb: (err?: Error) => void) {
        setImmediate(() => cb(new Error('stream destroyed')));
        return true;
      },
      end() {},
    });
    const reader = adaptiveRead(gone as unknown as Writable);
    gone.emit('close');
    for (let i = 0; i < 64; i++) {
      const into = reader.onread.buffer();
      reader.onread.callback(into.length, into);
    }
    await new Promise((r) => setImmediate(r));

    const s = slowSink(0, 16 * 1024);
    const { sender } = await pair(s.sink);
    for (let i = 0; i < 8; i++) if (!sender.write(pattern(i * MiB, MiB))) await once(sender, 'drain');
    sender.end();
    await once(s.sink, 'finish');
    expect(s.largestSlabSinceLastAsked()).toBeGreaterThanOrEqual(256 * 1024);
  }, 30_000);
});
