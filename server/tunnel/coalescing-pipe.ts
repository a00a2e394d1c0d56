import type { Readable } from 'node:stream';
import type { Socket } from 'node:net';

/** Beyond this many bytes queued on the socket, reading pauses until it drains. */
const QUEUE_LIMIT = 1 << 20;

/**
 * `from.pipe(to)` for a tunnel stream into a TCP socket, except that what arrives within one turn
 * of the event loop leaves in one write. HTTP/2 hands a DATA frame over in pieces (TLS records cut
 * each 16 KiB frame in two), and one syscall per ~8 KiB piece was the largest cost of the
 * gateway's relay: coalesced, the gateway spent about half the CPU per byte on the tunnel bench.
 * Interactive traffic waits no longer than the rest of the current turn.
 */
export function pipeCoalesced(from: Readable, to: Socket): void {
  let corked = false;
  const flush = () => {
    corked = false;
    to.uncork();
  };
  const onData = (chunk: Buffer) => {
    if (to.destroyed || to.writableEnded) return;
    if (!corked) {
      corked = true;
      to.cork();
      setImmediate(flush);
    }
    to.write(chunk);
    // write()'s own verdict would stop us at the socket's 16 KiB mark, long before a turn's worth
    if (to.writableLength > QUEUE_LIMIT && !from.isPaused()) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  };
  from.on('data', onData);
  from.once('end', () => {
    if (!to.destroyed && !to.writableEnded) to.end();
  });
  to.once('close', () => {
    from.off('data', onData);
    // Paused for a socket that then closed (an ending socket emits no 'drain'), the stream would
    // never reach its end and never close: read what is left to nowhere, as a closed socket would
    if (!from.readableEnded) from.resume();
  });
}
