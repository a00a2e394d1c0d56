import type { AccessRequest, SelectorResult } from '../access-request.js';

/** IdP group by id (Entra object id); the display name is only for people reading the config. */
export function matchGroup(id: string, name: string | undefined, req: AccessRequest): SelectorResult {
  const want = id.toLowerCase();
  return { matched: req.user.groups.some((g) => g.toLowerCase() === want), detail: `member of group ${name ? `"${name}" (${id})` : id}` };
}
