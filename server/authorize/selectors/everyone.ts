import type { SelectorResult } from '../access-request.js';

export function matchEveryone(): SelectorResult {
  return { matched: true, detail: 'everyone' };
}
