import type { Selector } from '../access-request.js';

/** Authentication methods from the ID token's amr claim (RFC 8176), e.g. "mfa". */
export const authMethod: Selector<{ authMethod: string }> = {
  test: (r, p) => p.amr.has(r.authMethod),
  describe: (r) => `signed in with ${r.authMethod}`,
};
