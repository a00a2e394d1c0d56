import type { Selector } from '../access-request.js';

export const emailDomain: Selector<{ emailDomain: string }> = {
  test: (r, p) => p.emailDomain === r.emailDomain,
  describe: (r) => `email domain is ${r.emailDomain}`,
};
