import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

/**
 * A guacd that does the handshake and then draws as fast as TCP lets it: tile-like
 * img/blob/end/sync frames, the heavy end of what a real desktop sends. For throughput and
 * back-pressure, where the stand-in's polite drawing would measure nothing.
 */
export interface FloodGuacd {
  port: number;
  /** Bytes of drawing the next session streams (after `ready`); Infinity streams until closed. */
  totalBytes: number;
  readonly frame: Buffer;
  sockets: Set<Socket>;
  /** Per session: bytes written and how often the socket was full. */
  stats: Array<{ written: number; fullCount: number }>;
  close(): Promise<void>;
}

function el(v: string): string {
  return `${v.length}.${v}`;
}

export function makeFrames(targetBytes: number): Buffer {
  const parts: string[] = [];
  let size = 0;
  let n = 0;
  while (size < targetBytes) {
    const stream = String(n % 64);
    const b64 = randomBytes(3072).toString('base64'); // 4096 characters, like a tile
    const frame =
      `3.img,${el(stream)},2.14,1.0,${el('image/png')},${el(String((n * 64) % 1024))},${el(String(Math.floor(n / 16) * 64 % 768))};` +
      `4.blob,${el(stream)},${el(b64)};` +
      `3.end,${el(stream)};` +
      (n % 8 === 7 ? `4.sync,${el(String(1700000000000 + n))},1.1;` : '');
    parts.push(frame);
    size += frame.length;
    n++;
  }
  return Buffer.from(parts.join(''));
}

export async function startFloodGuacd(opts: { totalBytes?: number } = {}): Promise<FloodGuacd> {
  const frame = makeFrames(256 * 1024);
  const sockets = new Set<Socket>();
  const state: FloodGuacd = { port: 0, totalBytes: opts.totalBytes ?? Infinity, frame, sockets, stats: [], close: async () => undefined };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    let text = '';
    let stage = 0;
    const stat = { written: 0, fullCount: 0 };
    state.stats.push(stat);
    const budget = state.totalBytes;
    const pump = () => {
      while (stat.written < budget && !socket.destroyed) {
        const chunk = budget - stat.written >= frame.length ? frame : frame.subarray(0, frame.lastIndexOf(';', budget - stat.written) + 1);
        if (chunk.length === 0) return;
        stat.written += chunk.length;
        if (!socket.write(chunk)) {
          stat.fullCount++;
          socket.once('drain', pump);
          return;
        }
      }
    };
    socket.on('data', (d: Buffer) => {
      if (stage === 2) return;
      text += d.toString('utf8');
      if (stage === 0 && text.includes('6.select,')) {
        stage = 1;
        socket.write('4.args,13.VERSION_1_5_0,8.hostname,4.port,5.width,6.height;');
      }
      if (stage === 1 && /7\.connect,[^;]*;/.test(text)) {
        stage = 2;
        socket.write('5.ready,37.$flood-0000-0000-0000-000000000000000;4.sync,13.1700000000000,1.0;');
        pump();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as AddressInfo).port;
  state.close = () =>
    new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return state;
}
