import type { Socket } from 'node:net';

/** Registers a function to run before each metrics scrape (MetricSet.collect); returns its removal. */
export type Collect = (fn: () => void) => () => void;

/**
 * Counts a socket's bytes into `add` at each scrape while it is open (through `collect`) and once
 * more when it closes, so a long desktop session shows its traffic as it runs, with nothing done
 * per read. Each byte is counted once, and only forward: bytesWritten includes what is still
 * queued, and shrinks if the socket dies with a queue.
 */
export function countSocketBytes(sock: Socket, collect: Collect | undefined, add: (read: number, written: number) => void): void {
  let read = 0;
  let written = 0;
  const count = () => {
    const r = Math.max(read, sock.bytesRead);
    const w = Math.max(written, sock.bytesWritten);
    if (r > read || w > written) add(r - read, w - written);
    read = r;
    written = w;
  };
  const stop = collect?.(count);
  sock.once('close', () => {
    count();
    stop?.();
  });
}
