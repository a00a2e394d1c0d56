import type { AccessRequest, SelectorResult } from '../access-request.js';
import { emailOf } from './email.js';

export function matchEmailDomain(domain: string, req: AccessRequest): SelectorResult {
  const have = emailOf(req);
  const at = have?.lastIndexOf('@') ?? -1;
  return { matched: at > 0 && have!.slice(at + 1) === domain.toLowerCase(), detail: `email domain is ${domain}` };
}
