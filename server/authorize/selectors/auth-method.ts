import type { AccessRequest, SelectorResult } from '../access-request.js';

/** Authentication methods from the ID token's amr claim (RFC 8176), e.g. "mfa". */
export function matchAuthMethod(method: string, req: AccessRequest): SelectorResult {
  return { matched: req.user.amr.includes(method), detail: `signed in with ${method}` };
}
