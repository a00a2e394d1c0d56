import type { Selector } from '../access-request.js';

export const country: Selector<{ country: string }> = {
  test: (r, p) => p.country === r.country,
  describe: (r, p) => `country is ${r.country}${p.country ? '' : ' (country unknown)'}`,
};
