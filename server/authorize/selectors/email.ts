import type { Selector } from '../access-request.js';

/** Case-insensitive; with no email claim the username stands in when it looks like one. */
export const email: Selector<{ email: string }> = {
  test: (r, p) => p.email === r.email,
  describe: (r) => `email is ${r.email}`,
};
