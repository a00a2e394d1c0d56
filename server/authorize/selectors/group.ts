import type { Selector } from '../access-request.js';

/** IdP group by id (Entra object id); the display name is only for people reading the config. */
export const group: Selector<{ group: string; name?: string }> = {
  test: (r, p) => p.groups.has(r.group),
  describe: (r) => `member of group ${r.name ? `"${r.name}" (${r.group})` : r.group}`,
};
