import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { pipeCoalesced } from '../../server/tunnel/coalescing-pipe.js';

const until = async (what: string, ok: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('pipeCoalesced', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => cleanup.splice(0).forEach((f) => f()));

  /** A "desktop" whose socket we control, and our side of the connection to it. */
  async function desktop() {
    let far!: Socket;
    const server = createServer((s) => (far = s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const near = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1' });
    await new Promise((r) => near.once('connect', r));
    await until('accepted', () => far !== undefined);
    cleanup.push(() => (near.destroy(), far.destroy(), server.close()));
    return { near, far };
  }

  it('carries every byte, in order, and the end', async () => {
    const { near, far } = await desktop();
    const from = new PassThrough();
    pipeCoalesced(from, near);
    const got: Buffer[] = [];
    far.on('data', (c: Buffer) => got.push(c));
    const sent = Buffer.alloc(200 * 1000);
    for (let i = 0; i < sent.length; i++) sent[i] = i % 251;
    for (let i = 0; i < 200; i++) from.write(sent.subarray(i * 1000, (i + 1) * 1000));
    from.end();
    await new Promise((r) => far.once('end', r));
    expect(Buffer.concat(got).equals(sent)).toBe(true);
  });

  it('pauses the stream while over 1 MiB is queued on a socket that does not read, and resumes on drain', async () => {
    const { near, far } = await desktop();
    far.pause();
    const from = new PassThrough({ highWaterMark: 64 * 1024 });
    pipeCoalesced(from, near);
    const piece = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < 64; i++) from.write(piece);
    await until('paused', () => from.isPaused());
    expect(near.writableLength).toBeGreaterThan(1 << 20);
    let received = 0;
    far.on('data', (c: Buffer) => (received += c.length));
    far.resume();
    from.end();
    await until('everything delivered', () => received === 64 * piece.length);
    expect(from.isPaused()).toBe(false);
  });

  it('a socket that half-closes and goes while the stream is paused lets the stream run to its end (no stuck stream)', async () => {
    const { near, far } = await desktop();
    far.pause();
    const from = new PassThrough({ highWaterMark: 64 * 1024 });
    pipeCoalesced(from, near);
    const piece = Buffer.alloc(64 * 1024, 9);
    for (let i = 0; i < 64; i++) from.write(piece);
    await until('paused', () => from.isPaused());
    // the desktop says goodbye (FIN) and reads what was already on its way: our socket ends too
    // (no half-open), flushes, and closes without ever emitting 'drain'
    near.once('end', () => near.end());
    far.end();
    far.resume();
    await new Promise((r) => near.once('close', r));
    // more arrives from the tunnel after the desktop left; the stream must still reach its end
    from.write(piece);
    from.end();
    const ended = await Promise.race([new Promise((r) => from.once('end', () => r('ended'))), new Promise((r) => setTimeout(() => r('stuck'), 2000))]);
    expect(ended).toBe('ended');
    expect(from.readableEnded).toBe(true);
  });
});
