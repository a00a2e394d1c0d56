import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';

const MIN = 16 * 1024;
const MAX = 1024 * 1024;
/**
 * Bytes read and handed over but not yet sent, across all streams: beyond it, new slabs stay at
 * MIN. Queued stream data counts against HTTP/2's per-session memory cap (tunnel-wire's
 * SESSION_MEMORY_MB); 128 busy desktops reading 1 MiB each overran it, and the session refused
 * new streams and then failed outright. It also sets the size of each burst HTTP/2 hands to TLS,
 * which Node copies whole into one buffer and encrypts into another: at 16 MiB the connector's
 * peak RSS on the tunnel bench was about 185 MB, at 4 MiB about 120 MB, at the same throughput
 * and CPU (2 MiB saved nothing more).
 */
const IN_FLIGHT_BUDGET = 4 * MAX;
/** Small reads in a row (each at most 1/8 of the slab) after which a reader moves to a smaller slab. */
const SMALL_READS_TO_SHRINK = 4;

/**
 * Slabs handed back once the tunnel has sent every part of them. Bulk reads otherwise allocate
 * outside V8's heap as fast as data flows, and V8 answers that with a full mark of the heap every
 * few dozen MB: on the tunnel bench that marking was a fifth of the connector's CPU.
 */
class SlabPool {
  private readonly free = new Map<number, Buffer[]>();
  private bytes = 0;
  /** When each size was last taken or given, for eviction. */
  private readonly used = new Map<number, number>();
  private tick = 0;
  inFlight = 0;
  /** Readers whose last read filled a whole slab: the desktops sending in bulk right now. */
  bulkReaders = 0;

  constructor(private readonly maxBytes: number) {}

  /** The largest slab one reader may take: the in-flight budget shared among bulk readers. */
  cap(): number {
    let c = MAX;
    while (c > MIN && c * Math.max(1, this.bulkReaders) > IN_FLIGHT_BUDGET) c /= 2;
    return c;
  }

  take(size: number): Buffer {
    this.used.set(size, ++this.tick);
    const b = this.free.get(size)?.pop();
    if (!b) return Buffer.allocUnsafeSlow(size);
    this.bytes -= size;
    return b;
  }

  give(b: Buffer): void {
    this.used.set(b.length, ++this.tick);
    // sizes no reader asks for any more would otherwise fill the pool for good, and every slab of
    // the size in use would then be dropped and allocated again: on the tunnel bench that was
    // 300 MB of fresh slabs per 2 GB moved, and as many marks of the heap
    while (this.bytes + b.length > this.maxBytes && this.evictStalest(b.length));
    if (this.bytes + b.length > this.maxBytes) return;
    let list = this.free.get(b.length);
    if (!list) this.free.set(b.length, (list = []));
    list.push(b);
    this.bytes += b.length;
  }

  /** Drops one free slab of the size least recently taken or given, other than `keep`. */
  private evictStalest(keep: number): boolean {
    let stalest: Buffer[] | undefined;
    let at = Infinity;
    for (const [size, list] of this.free) {
      if (size === keep || list.length === 0) continue;
      const t = this.used.get(size) ?? 0;
      if (t < at) {
        at = t;
        stalest = list;
      }
    }
    const dropped = stalest?.pop();
    if (!dropped) return false;
    this.bytes -= dropped.length;
    return true;
  }
}

const pool = new SlabPool(16 * MAX);

interface Slab {
  readonly buf: Buffer;
  /** Parts handed to the stream whose write has not called back. */
  pending: number;
  /** The reader has moved on to another slab: this one goes back once `pending` is 0 (the reader's
   * current slab never does, even after its stream closed: the socket may still read into it). */
  retired: boolean;
  /** A write of a part failed: the stream may still hold it, so the slab is never reused. */
  broken: boolean;
}

/**
 * Reads a socket straight into `to` through net's `onread`. Each read lands in the free tail of
 * the reader's slab and that part is handed to `to` without a copy; once the tail runs short the
 * reader takes a new slab, and the old one returns to the pool when every part of it has been
 * sent. The slab doubles while reads fill it whole (to 1 MiB) and halves after a run
 * of small reads (to 16 KiB). Node otherwise reads 64 KiB at a time into a fresh buffer: a desktop
 * sending in bulk then costs a syscall, a JavaScript callback and a buffer for the garbage
 * collector per 64 KiB, together half the connector's CPU per byte on the tunnel bench.
 */
export function adaptiveRead(to: Writable): { onread: { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean }; attach(sock: Socket): void } {
  const newSlab = (size: number): Slab => ({ buf: pool.take(size), pending: 0, retired: false, broken: false });
  let slab = newSlab(MIN);
  let at = 0;
  let smallReads = 0;
  let sock: Socket | undefined;
  // bytes handed over whose write has not called back; a stream destroyed mid-write may never
  // call back, and its bytes must not stay counted against the budget
  let mine = 0;
  let closed = false;
  let bulk = false;
  to.once('close', () => {
    closed = true;
    pool.inFlight -= mine;
    mine = 0;
    if (bulk) pool.bulkReaders--;
    bulk = false;
  });

  // always called with a part of the slab just handed over, so the slab goes back from `sent`
  const retire = (next: number) => {
    slab.retired = true;
    // an even share of the budget each, so no desktop's reads crowd out another's
    let size = Math.max(MIN, Math.min(next, pool.cap()));
    if (size > MIN && pool.inFlight + size > IN_FLIGHT_BUDGET) size = MIN;
    slab = newSlab(size);
    at = 0;
    smallReads = 0;
  };

  return {
    onread: {
      buffer: () => slab.buf.subarray(at),
      callback(n) {
        const size = slab.buf.length;
        // only a read that fills a whole slab says the socket has more: one that fills a tail left
        // by earlier reads may be a medium-sized update that happened to fit
        const whole = at === 0 && n === size;
        if (whole !== bulk && !closed) {
          bulk = !bulk;
          pool.bulkReaders += bulk ? 1 : -1;
        }
        const part = slab;
        const chunk = part.buf.subarray(at, at + n);
        at += n;
        part.pending++;
        // a read that lands after the stream closed is written to nowhere and must not count:
        // nothing would give it back
        if (!closed) {
          mine += n;
          pool.inFlight += n;
        }
        const sent = (err?: Error | null) => {
          part.pending--;
          if (err) part.broken = true;
          // after 'close' the reader's bytes were all given back at once (and a part read after
          // 'close' was never counted: open now means it was open then)
          if (!closed) {
            mine -= n;
            pool.inFlight -= n;
          }
          if (part.retired && part.pending === 0 && !part.broken) pool.give(part.buf);
        };
        smallReads = n <= size / 8 ? smallReads + 1 : 0;
        if (whole) retire(size * 2);
        else if (smallReads >= SMALL_READS_TO_SHRINK && size > MIN) retire(size / 2);
        else if (size - at < size / 8) retire(size);
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
