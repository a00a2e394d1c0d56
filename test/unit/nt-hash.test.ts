import { expect, it } from 'vitest';
import { md4, ntHash } from '../support/nt-hash.js';

it('MD4 matches RFC 1320, and the NT hash matches winpr-hash (test support for NLA logins)', () => {
  expect(md4(Buffer.from('')).toString('hex')).toBe('31d6cfe0d16ae931b73c59d7e0c089c0');
  expect(md4(Buffer.from('abc')).toString('hex')).toBe('a448017aaf21d8525fc10ae87aa6729d');
  expect(md4(Buffer.from('1234567890'.repeat(8))).toString('hex')).toBe('e33b4ddc9c38f2199c3e7b164fcc0536');
  // `winpr-hash -u alice -p 'S3cret!'`
  expect(ntHash('S3cret!')).toBe('10b2f1961375b20126508c2267862bf0');
});
