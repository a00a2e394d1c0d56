import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';

const MIN = 16 * 1024;
const MAX = 1024 * 1024;
/**
 * Bytes of large reads handed over and not yet sent, across all streams: beyond it, reads stay at
 * MIN. Queued stream data counts against HTTP/2's per-session memory cap (tunnel-wire's
 * SESSION_MEMORY_MB); 128 busy desktops reading 1 MiB each overran it, and the session refused
 * new streams and then failed outright.
 */
const IN_FLIGHT_BUDGET = 16 * MAX;

/**
 * Read buffers handed back once the tunnel has sent them. Bulk reads otherwise allocate outside
 * V8's heap as fast as data flows, and V8 answers that with a full mark of the heap every few
 * dozen MB: on the tunnel bench that marking was a fifth of the connector's CPU.
 */
class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private bytes = 0;
  inFlight = 0;
  /** Readers whose last read filled their buffer: the desktops sending in bulk right now. */
  bulkReaders = 0;

  /** The largest buffer one reader may grow to: the in-flight budget shared among bulk readers. */
  cap(): number {
    let c = MAX;
    while (c > MIN && c * Math.max(1, this.bulkReaders) > IN_FLIGHT_BUDGET) c /= 2;
    return c;
  }

  constructor(private readonly maxBytes: number) {}

  take(size: number): Buffer {
    const b = this.free.get(size)?.pop();
    if (!b) return Buffer.allocUnsafeSlow(size);
    this.bytes -= size;
    return b;
  }

  give(b: Buffer): void {
    if (this.bytes + b.length > this.maxBytes) return;
    let list = this.free.get(b.length);
    if (!list) this.free.set(b.length, (list = []));
    list.push(b);
    this.bytes += b.length;
  }
}

const pool = new BufferPool(16 * MAX);

/**
 * Reads a socket straight into `to` through net's `onread`, in a buffer that doubles while reads
 * fill it (to 1 MiB) and halves while they do not (to 16 KiB). Node otherwise reads 64 KiB at a
 * time into a fresh buffer: a desktop sending in bulk then costs a syscall, a JavaScript callback
 * and a buffer for the garbage collector per 64 KiB, together half the connector's CPU per byte
 * on the tunnel bench. A read much smaller than the buffer is copied out, so an interactive
 * trickle keeps reusing one small buffer; a larger one is handed to `to` whole and the buffer
 * returns to the pool once `to` has written it.
 */
export function adaptiveRead(to: Writable): { onread: { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean }; attach(sock: Socket): void } {
  let size = MIN;
  let buf = pool.take(size);
  let sock: Socket | undefined;
  // handed-over buffers whose write has not called back; a stream destroyed mid-write may never
  // call back, and its bytes must not stay counted against the budget
  const pending = new Set<Buffer>();
  let bulk = false;
  to.once('close', () => {
    for (const b of pending) pool.inFlight -= b.length;
    pending.clear();
    if (bulk) pool.bulkReaders--;
    bulk = false;
  });
  return {
    onread: {
      buffer: () => buf,
      callback(n) {
        if ((n === size) !== bulk && !to.destroyed) {
          bulk = !bulk;
          pool.bulkReaders += bulk ? 1 : -1;
        }
        // an even share of the budget each, so no desktop's reads crowd out another's
        let next = Math.min(n === size ? size * 2 : n < size / 4 ? size / 2 : size, pool.cap());
        if (next < MIN) next = MIN;
        if (next > MIN && pool.inFlight + next > IN_FLIGHT_BUDGET) next = MIN;
        const filled = buf;
        let chunk: Buffer;
        let sent: ((err?: Error | null) => void) | undefined;
        if (n < size / 4) {
          chunk = Buffer.from(filled.subarray(0, n));
          if (next !== size) {
            pool.give(filled);
            buf = pool.take(next);
          }
        } else {
          chunk = filled.subarray(0, n);
          pool.inFlight += filled.length;
          pending.add(filled);
          sent = (err) => {
            if (!pending.delete(filled)) return;
            pool.inFlight -= filled.length;
            // an error means the stream is gone, possibly mid-send: that buffer is not reused
            if (!err) pool.give(filled);
          };
          buf = pool.take(next);
        }
        size = next;
        if (to.write(chunk, sent)) return true;
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
