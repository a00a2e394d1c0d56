/**
 * The NT hash of a password (MD4 of its UTF-16LE bytes, RFC 1320), for the SAM file that
 * freerdp-shadow checks NLA logins against. Node's OpenSSL 3 no longer offers MD4 without the
 * legacy provider, and winpr-hash is not in the packages CI installs, so it is computed here.
 */
export function ntHash(password: string): string {
  return md4(Buffer.from(password, 'utf16le')).toString('hex');
}

export function md4(message: Buffer): Buffer {
  const bitLength = message.length * 8;
  const padded = Buffer.alloc((((message.length + 8) >> 6) + 1) * 64);
  message.copy(padded);
  padded[message.length] = 0x80;
  padded.writeUInt32LE(bitLength >>> 0, padded.length - 8);
  padded.writeUInt32LE(Math.floor(bitLength / 2 ** 32), padded.length - 4);
  let [a, b, c, d] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
  const rotl = (x: number, s: number) => (x << s) | (x >>> (32 - s));
  const f = (x: number, y: number, z: number) => (x & y) | (~x & z);
  const g = (x: number, y: number, z: number) => (x & y) | (x & z) | (y & z);
  const h = (x: number, y: number, z: number) => x ^ y ^ z;
  const rounds: Array<{ fn: typeof f; k: number; order: number[]; shifts: number[] }> = [
    { fn: f, k: 0, order: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], shifts: [3, 7, 11, 19] },
    { fn: g, k: 0x5a827999, order: [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15], shifts: [3, 5, 9, 13] },
    { fn: h, k: 0x6ed9eba1, order: [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15], shifts: [3, 9, 11, 15] },
  ];
  for (let off = 0; off < padded.length; off += 64) {
    const x = Array.from({ length: 16 }, (_, i) => padded.readUInt32LE(off + i * 4));
    const [aa, bb, cc, dd] = [a, b, c, d];
    for (const r of rounds) {
      for (let i = 0; i < 16; i++) {
        // the four words take turns, each step feeding the next: a, d, c, b
        const step = (w: number, p: number, q: number, s: number) => rotl((w + r.fn(p, q, s) + x[r.order[i]!]! + r.k) | 0, r.shifts[i % 4]!);
        if (i % 4 === 0) a = step(a, b, c, d);
        else if (i % 4 === 1) d = step(d, a, b, c);
        else if (i % 4 === 2) c = step(c, d, a, b);
        else b = step(b, c, d, a);
      }
    }
    [a, b, c, d] = [(a + aa) | 0, (b + bb) | 0, (c + cc) | 0, (d + dd) | 0];
  }
  const out = Buffer.alloc(16);
  [a, b, c, d].forEach((v, i) => out.writeInt32LE(v, i * 4));
  return out;
}
