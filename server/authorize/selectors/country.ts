import type { AccessRequest, SelectorResult } from '../access-request.js';

export function matchCountry(code: string, req: AccessRequest): SelectorResult {
  const detail = `country is ${code}`;
  if (!req.country) return { matched: false, detail: `${detail} (country unknown)` };
  return { matched: req.country.toUpperCase() === code, detail };
}
