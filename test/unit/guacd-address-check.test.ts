import { describe, expect, it } from 'vitest';
import { guacdAddressWarning } from '../../server/proxy/guacd-address-check.js';

/** guacd named by a name with several loopback addresses lets another local user squat the one guacd does not hold. */
describe('guacd address check at start', () => {
  const dns = (table: Record<string, string[]>) => async (h: string) => {
    if (!table[h]) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    return table[h]!;
  };
  const resolve = dns({ localhost: ['::1', '127.0.0.1'], 'guacd.local': ['127.0.0.1'], guacd: ['172.18.0.3'], mixed: ['127.0.0.1', '10.0.0.4'] });

  it('warns for a name with two loopback addresses, naming both and the fix', async () => {
    const w = await guacdAddressWarning('localhost', resolve);
    expect(w).toContain('"localhost" resolves to ::1 and 127.0.0.1');
    expect(w).toContain('Give guacd\'s exact address');
  });

  it('is quiet for an address, a name with one address, a container name, or a name that does not resolve', async () => {
    for (const h of ['127.0.0.1', '::1', 'guacd.local', 'guacd', 'mixed', 'nowhere']) expect(await guacdAddressWarning(h, resolve), h).toBeUndefined();
  });
});
