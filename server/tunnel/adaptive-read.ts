import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';

const MIN = 16 * 1024;
const MAX = 1024 * 1024;

/**
 * Reads a socket straight into `to` through net's `onread`, in a buffer that doubles while reads
 * fill it (to 1 MiB) and halves while they do not (to 16 KiB). Node otherwise reads 64 KiB at a
 * time into a fresh buffer: a desktop sending in bulk then costs a syscall, a JavaScript callback
 * and a buffer for the garbage collector per 64 KiB, which measured as half the connector's CPU
 * per byte on the tunnel bench. A read much smaller than the buffer is copied out, so an
 * interactive trickle keeps reusing one small buffer.
 */
export function adaptiveRead(to: Writable): { onread: { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean }; attach(sock: Socket): void } {
  let size = MIN;
  let buf = Buffer.allocUnsafeSlow(size);
  let sock: Socket | undefined;
  return {
    onread: {
      buffer: () => buf,
      callback(n, filled) {
        const next = n === size ? Math.min(size * 2, MAX) : n < size / 4 ? Math.max(size / 2, MIN) : size;
        let chunk: Buffer;
        if (n < size / 4) {
          chunk = Buffer.from(filled.subarray(0, n));
          if (next !== size) buf = Buffer.allocUnsafeSlow(next);
        } else {
          // handed over whole: `to` may hold it until the tunnel has sent it
          chunk = Buffer.from(filled.buffer, filled.byteOffset, n);
          buf = Buffer.allocUnsafeSlow(next);
        }
        size = next;
        if (to.write(chunk)) return true;
        to.once('drain', () => sock?.resume());
        return false;
      },
    },
    attach(s) {
      sock = s;
      s.once('end', () => to.end());
    },
  };
}
