import type { AccessRequest, SelectorResult } from '../access-request.js';

/** Email addresses compare case-insensitively; with no email claim we fall back to the username. */
export function emailOf(req: AccessRequest): string | undefined {
  const v = req.user.email ?? (req.user.username.includes('@') ? req.user.username : undefined);
  return v?.toLowerCase();
}

export function matchEmail(want: string, req: AccessRequest): SelectorResult {
  const have = emailOf(req);
  return { matched: have === want.toLowerCase(), detail: `email is ${want}` };
}
