/** Who signed in, in the gateway's own terms, whichever IdP vouched for them. */
export interface Identity {
  /** Stable key for the user: `tid:oid` for Entra ID, `issuer|sub` for generic OIDC. */
  key: string;
  provider: 'entra' | 'oidc';
  issuer: string;
  subject: string;
  tenantId?: string;
  objectId?: string;
  name: string;
  username: string;
  email?: string;
  groups: string[];
  amr: string[];
  /** Entra sends `_claim_names.groups` instead of groups past 200 memberships. */
  groupsOverage?: boolean;
}

export type Claims = Record<string, unknown>;

export function stringClaim(claims: Claims, name: string): string | undefined {
  const v = claims[name];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Malformed claims (a string instead of an array, numbers, nulls) become an empty list. */
export function stringListClaim(claims: Claims, name: string): string[] {
  const v = claims[name];
  if (!Array.isArray(v)) return [];
  return v.filter((x): x is string => typeof x === 'string' && x.length > 0);
}
