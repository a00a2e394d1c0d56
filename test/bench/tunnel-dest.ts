/**
 * Bench destination (the "desktop"): the first byte of each connection picks the mode —
 * S + uint32 MiB: send that much, then end; E: echo; F: send until the peer leaves.
 */
import { createServer } from 'node:net';

const CHUNK = Buffer.alloc(256 * 1024, 0x5a);

const server = createServer({ noDelay: true }, (s) => {
  s.on('error', () => undefined);
  let head = Buffer.alloc(0);
  const onData = (d: Buffer) => {
    head = Buffer.concat([head, d]);
    const mode = String.fromCharCode(head[0]!);
    if (mode === 'S' && head.length < 5) return;
    s.off('data', onData);
    if (mode === 'E') {
      if (head.length > 1) s.write(head.subarray(1));
      s.pipe(s);
      return;
    }
    let left = mode === 'S' ? head.readUInt32BE(1) * 1024 * 1024 : Infinity;
    const pump = () => {
      while (left > 0 && !s.destroyed) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void s.once('drain', pump);
      }
      if (left <= 0) s.end();
    };
    s.resume();
    pump();
  };
  s.on('data', onData);
});
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
process.on('SIGTERM', () => process.exit(0));
