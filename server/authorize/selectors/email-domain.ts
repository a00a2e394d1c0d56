import type { Selector } from '../access-request.js';

export const emailDomain: Selector<{ emailDomain: string }> = {
  test: (r, p) => {
    const at = p.email?.lastIndexOf('@') ?? -1;
    return at > 0 && p.email!.slice(at + 1) === r.emailDomain.toLowerCase();
  },
  describe: (r) => `email domain is ${r.emailDomain}`,
};
