import { SignInFailed } from '../http/wire-errors.js';
import { stringClaim, stringListClaim, type Claims, type Identity } from './identity.js';

export interface ClaimMapping {
  id: string;
  name: string;
  username: string;
  email: string;
  groups: string;
  amr: string;
}

/** Generic OIDC: which claim means what is configuration, because every IdP names them differently. */
export function mapOidcClaims(claims: Claims, mapping: ClaimMapping): Identity {
  const iss = stringClaim(claims, 'iss');
  const sub = stringClaim(claims, 'sub');
  const id = stringClaim(claims, mapping.id);
  if (!iss || !sub || !id) throw new SignInFailed(`ID token lacks ${!iss ? 'iss' : !sub ? 'sub' : mapping.id}`);
  const username = stringClaim(claims, mapping.username) ?? stringClaim(claims, mapping.email) ?? id;
  return {
    key: `${iss}|${id}`,
    provider: 'oidc',
    issuer: iss,
    subject: sub,
    name: stringClaim(claims, mapping.name) ?? username,
    username,
    email: stringClaim(claims, mapping.email),
    groups: stringListClaim(claims, mapping.groups),
    amr: stringListClaim(claims, mapping.amr),
  };
}
