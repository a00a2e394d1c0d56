import { EventEmitter, once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { adaptiveRead as AdaptiveRead } from '../../server/tunnel/adaptive-read.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** A pattern that differs at every offset a slab could be reused at. */
const byteAt = (i: number) => (i * 31 + (i >>> 13)) & 255;
const pattern = (from: number, n: number) => Buffer.from(Array.from({ length: n }, (_, k) => byteAt(from + k)));
const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));

// the pool and the budget are module state: each test gets its own, so one cannot pass or fail
// because of what another left behind
let adaptiveRead: typeof AdaptiveRead;
beforeEach(async () => {
  vi.resetModules();
  ({ adaptiveRead } = await import('../../server/tunnel/adaptive-read.js'));
});

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A sender on one end of a loopback connection, and the socket that reads it through adaptiveRead. */
async function pair(sink: Writable): Promise<{ sender: Socket; reader: ReturnType<typeof AdaptiveRead>; sock: Socket }> {
  const server = createServer();
  servers.push(server);
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

async function send(sender: Socket, from: number, n: number): Promise<void> {
  if (!sender.write(pattern(from, n))) await once(sender, 'drain');
}

/** A Writable that checks each part against the pattern and notes the largest slab seen. */
function checkingSink(holdMs: number, highWaterMark: number) {
  let offset = 0;
  let wrong = 0;
  // every part is a view of its slab
  let largestSlab = 0;
  const sink = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, cb) {
      if (!chunk.equals(pattern(offset, chunk.length))) wrong++;
      offset += chunk.length;
      largestSlab = Math.max(largestSlab, chunk.buffer.byteLength);
      setTimeout(cb, Math.random() * holdMs);
    },
  });
  return {
    sink,
    received: () => offset,
    wrong: () => wrong,
    largestSlabSinceLastAsked: () => {
      const n = largestSlab;
      largestSlab = 0;
      return n;
    },
  };
}

/**
 * Stands in for an HTTP/2 stream: takes every write at once and calls each back after its own
 * random delay, so parts of one slab complete out of order, as frames of many streams do. All such
 * sinks share `held`: the byte ranges of slabs that parts not yet called back still occupy.
 */
function outOfOrderSink(held: Map<ArrayBuffer, Set<[number, number]>>, failWrites = false, holdMs = 3) {
  let offset = 0;
  const faults = { overlapping: 0, wrong: 0, overwritten: 0 };
  const buffers = new Set<ArrayBuffer>();
  const sink = Object.assign(new EventEmitter(), {
    destroyed: false,
    write(chunk: Buffer, cb: (err?: Error) => void) {
      const ab = chunk.buffer as ArrayBuffer;
      const range: [number, number] = [chunk.byteOffset, chunk.byteOffset + chunk.length];
      let ranges = held.get(ab);
      if (!ranges) held.set(ab, (ranges = new Set()));
      for (const [a, b] of ranges) if (range[0] < b && a < range[1]) faults.overlapping++;
      ranges.add(range);
      buffers.add(ab);
      if (!chunk.equals(pattern(offset, chunk.length))) faults.wrong++;
      const expected = pattern(offset, chunk.length);
      offset += chunk.length;
      setTimeout(() => {
        if (!chunk.equals(expected)) faults.overwritten++;
        ranges!.delete(range);
        cb(failWrites ? new Error('stream reset') : undefined);
      }, Math.random() * holdMs);
      return true;
    },
    end() {
      sink.emit('finish');
    },
  });
  return { sink: sink as unknown as Writable, received: () => offset, faults, buffers };
}

describe('adaptive slab reads', () => {
  it('hand every byte over in order, and no slab is reused while a part of it is still being sent', async () => {
    const held = new Map<ArrayBuffer, Set<[number, number]>>();
    const total = 12 * MiB;
    // four desktops at once, sharing the pool; bursts of uneven size fill slabs whole and in parts
    const readers = await Promise.all(
      Array.from({ length: 4 }, async (_, r) => {
        const s = outOfOrderSink(held);
        const { sender } = await pair(s.sink);
        const finished = once(s.sink as unknown as EventEmitter, 'finish');
        for (let at = 0; at < total; ) {
          const n = Math.min(total - at, [MiB, 3000, 200 * KiB, 17][(Math.floor(at / 7919) + r) % 4]!);
          await send(sender, at, n);
          at += n;
        }
        sender.end();
        await finished;
        return s;
      }),
    );
    // let the last parts call back
    await tick(10);
    for (const s of readers) {
      expect(s.received()).toBe(total);
      expect(s.faults).toEqual({ overlapping: 0, wrong: 0, overwritten: 0 });
    }
  }, 60_000);

  it('a slab of many small parts goes back only after the last of them, however they complete', async () => {
    const held = new Map<ArrayBuffer, Set<[number, number]>>();
    // an interactive desktop: small updates, each its own read, so each slab holds many parts,
    // sent in any order over up to 20 ms
    const small = outOfOrderSink(held, false, 20);
    const a = await pair(small.sink);
    // a bulk desktop whose parts wait long enough to hold the shared budget: it reads into the
    // smallest slabs, the size the interactive desktop gives back
    const bulk = outOfOrderSink(held, false, 40);
    const b = await pair(bulk.sink);
    const bulkDone = (async () => {
      for (let i = 0; i < 24; i++) await send(b.sender, i * MiB, MiB);
    })();
    let at = 0;
    for (let i = 0; i < 600; i++, at += 1000) {
      await send(a.sender, at, 1000);
      await new Promise((r) => setImmediate(r));
    }
    await bulkDone;
    while (small.received() < at || bulk.received() < 24 * MiB) await tick(5);
    await tick(50);
    expect(small.faults).toEqual({ overlapping: 0, wrong: 0, overwritten: 0 });
    expect(bulk.faults).toEqual({ overlapping: 0, wrong: 0, overwritten: 0 });
    a.sock.destroy();
    b.sock.destroy();
  }, 60_000);

  it('never hands out again a slab whose part failed to send', async () => {
    const held = new Map<ArrayBuffer, Set<[number, number]>>();
    const failing = outOfOrderSink(held, true);
    const first = await pair(failing.sink);
    for (let i = 0; i < 4; i++) await send(first.sender, i * MiB, MiB);
    while (failing.received() < 4 * MiB) await tick();
    await tick(10);

    const healthy = outOfOrderSink(held);
    const second = await pair(healthy.sink);
    const finished = once(healthy.sink as unknown as EventEmitter, 'finish');
    for (let i = 0; i < 8; i++) await send(second.sender, i * MiB, MiB);
    second.sender.end();
    await finished;
    expect(healthy.received()).toBe(8 * MiB);
    expect([...healthy.buffers].filter((b) => failing.buffers.has(b))).toEqual([]);
    first.sock.destroy();
  }, 30_000);

  it('grows its slab under bulk traffic and shrinks it again once reads are small', async () => {
    // prompt writes and HTTP/2's own 16 KiB mark, so that the in-flight budget never holds the slab down
    const s = checkingSink(0, 16 * KiB);
    const { sender, reader } = await pair(s.sink);
    const slab = () => reader.onread.buffer().buffer.byteLength;
    expect(slab()).toBe(16 * KiB);
    let at = 0;
    for (let i = 0; i < 16; i++, at += MiB) await send(sender, at, MiB);
    while (s.received() < at) await tick(5);
    expect(s.largestSlabSinceLastAsked()).toBe(MiB);
    expect(slab()).toBeGreaterThan(64 * KiB);
    // one small write per read: an interactive desktop
    for (let i = 0; i < 200 && slab() > 16 * KiB; i++, at += 100) {
      await send(sender, at, 100);
      while (s.received() < at + 100) await tick();
    }
    expect(slab()).toBe(16 * KiB);
    sender.end();
    await once(s.sink, 'finish');
    expect(s.wrong()).toBe(0);
  }, 30_000);

  it('medium-sized updates that happen to fill a slab tail do not grow the slab', async () => {
    const s = checkingSink(0, 16 * KiB);
    const { sender, reader } = await pair(s.sink);
    let at = 0;
    // 4 KiB and 8 KiB updates, one per read: two or four fill a 16 KiB slab exactly
    for (let i = 0; i < 64; i++) {
      const n = i % 2 ? 8 * KiB : 4 * KiB;
      await send(sender, at, n);
      at += n;
      while (s.received() < at) await tick();
    }
    expect(s.largestSlabSinceLastAsked()).toBe(16 * KiB);
    expect(reader.onread.buffer().buffer.byteLength).toBe(16 * KiB);
    sender.end();
    await once(s.sink, 'finish');
    expect(s.wrong()).toBe(0);
  }, 30_000);

  it('a stream closed with writes that never call back gives its bytes and its bulk count back', async () => {
    // tunnel streams reset mid-send: they took the writes and will never call them back (a
    // Writable cannot stand in: it hands over one write at a time)
    const stuckStream = () => {
      let held = 0;
      const stream = Object.assign(new EventEmitter(), {
        destroyed: false,
        write(chunk: Buffer) {
          held += chunk.length;
          return true;
        },
        end() {},
      });
      return { stream, held: () => held };
    };
    const stuck = stuckStream();
    const first = await pair(stuck.stream as unknown as Writable);
    first.sender.write(pattern(0, 8 * MiB));
    while (stuck.held() < 6 * MiB) await tick(5);
    // and eight more that each filled a whole slab, so they counted as sending in bulk
    const bulky = Array.from({ length: 8 }, () => {
      const s = stuckStream();
      const reader = adaptiveRead(s.stream as unknown as Writable);
      const into = reader.onread.buffer();
      reader.onread.callback(into.length, into);
      return s;
    });
    for (const s of [stuck, ...bulky]) {
      s.stream.destroyed = true;
      s.stream.emit('close');
    }
    first.sock.destroy();
    first.sender.destroy();

    // with those bytes still counted every later reader would stay at 16 KiB, and with those
    // readers still counted as bulk none could take more than a ninth of the budget
    const s = checkingSink(0, 16 * KiB);
    const { sender } = await pair(s.sink);
    for (let i = 0; i < 8; i++) await send(sender, i * MiB, MiB);
    sender.end();
    await once(s.sink, 'finish');
    expect(s.largestSlabSinceLastAsked()).toBe(MiB);
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

    const s = checkingSink(0, 16 * KiB);
    const { sender } = await pair(s.sink);
    for (let i = 0; i < 8; i++) await send(sender, i * MiB, MiB);
    sender.end();
    await once(s.sink, 'finish');
    expect(s.largestSlabSinceLastAsked()).toBeGreaterThanOrEqual(256 * KiB);
  }, 30_000);
});
