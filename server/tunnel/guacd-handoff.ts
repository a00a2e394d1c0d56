import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log/logger.js';
import { pipeCoalesced } from './coalescing-pipe.js';
import { countSocketBytes, type Collect } from '../metrics/socket-bytes.js';

export interface HandoffOptions {
  /** Address to listen on; guacd must be able to reach it. */
  listenHost: string;
  /** Address guacd is told to connect to (a container name, say); defaults to listenHost. */
  advertiseHost?: string;
  /** Only these peers may take the handoff: guacd's own addresses. */
  allowedPeers: ReadonlySet<string>;
  /**
   * A further check of a peer at an allowed address, for what the address cannot tell apart
   * (every local user's processes connect from loopback): why it is refused, or undefined.
   */
  verifyPeer?(sock: Socket): string | undefined;
  timeoutMs: number;
  log: Logger;
  /** Bytes guacd's connection carried since the last call: at each `collect` run and at its close. */
  onBytes?(toStream: number, fromStream: number): void;
  /** Runs the counting at each metrics scrape as well (MetricSet.collect). */
  collect?: Collect;
}

export interface Handoff {
  host: string;
  port: number;
  /** Settles when the handoff is over: guacd's connection and the stream both closed, or nobody came. */
  done: Promise<void>;
  close(): void;
}

function plainAddress(a: string | undefined): string {
  return (a ?? '').replace(/^::ffff:/i, '');
}

/**
 * guacd dials desktops itself, but a tunnelled desktop has no address guacd can reach. So each
 * session gets its own listener that accepts exactly one connection — from guacd's address, within
 * a few seconds — and pipes it into that session's tunnel stream; then the listener is gone.
 */
export async function startHandoff(stream: Duplex, opts: HandoffOptions): Promise<Handoff> {
  let peer: Socket | undefined;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const server = createServer({ noDelay: true });
  const stopListening = () => {
    clearTimeout(timer);
    if (server.listening) server.close();
  };
  const close = () => {
    stopListening();
    peer?.destroy();
    stream.destroy();
  };
  server.on('connection', (sock) => {
    const from = plainAddress(sock.remoteAddress);
    if (peer || !opts.allowedPeers.has(from)) {
      opts.log.warn({ from, expected: [...opts.allowedPeers] }, 'tunnel handoff: connection from an address other than guacd refused');
      sock.destroy();
      return;
    }
    const refusal = opts.verifyPeer?.(sock);
    if (refusal) {
      // refused without using up the handoff: guacd itself may still come
      opts.log.warn({ from, port: sock.remotePort, reason: refusal }, 'tunnel handoff: connection that is not guacd\'s refused');
      sock.destroy();
      return;
    }
    peer = sock;
    stopListening();
    sock.pipe(stream);
    pipeCoalesced(stream, sock);
    const end = () => {
      sock.destroy();
      stream.destroy();
    };
    sock.once('error', end);
    stream.once('error', end);
    if (opts.onBytes) countSocketBytes(sock, opts.collect, opts.onBytes);
    sock.once('close', () => stream.destroy());
    stream.once('close', () => {
      // let what the desktop already sent reach guacd before the socket goes
      if (!sock.destroyed) sock.end();
      setTimeout(() => sock.destroy(), 1000).unref();
    });
    let pending = 2;
    const one = () => --pending === 0 && finish();
    sock.once('close', one);
    stream.once('close', one);
  });
  const timer = setTimeout(() => {
    if (peer) return;
    opts.log.warn({ timeoutMs: opts.timeoutMs }, 'tunnel handoff: guacd did not connect in time');
    close();
    finish();
  }, opts.timeoutMs);
  timer.unref();
  stream.once('close', () => {
    if (!peer) {
      close();
      finish();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.listenHost, () => resolve());
  });
  return { host: opts.advertiseHost ?? opts.listenHost, port: (server.address() as AddressInfo).port, done, close };
}
