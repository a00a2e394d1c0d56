import { TenantNotAllowed, SignInFailed } from '../http/wire-errors.js';
import { stringClaim, stringListClaim, type Claims, type Identity } from './identity.js';

/**
 * Entra ID v2.0 ID token → Identity. The user is keyed by tenant + object id: `sub` is pairwise
 * per application and `preferred_username`/`email` are mutable, so neither may key a user.
 */
export function mapEntraClaims(claims: Claims, allowedTenants: readonly string[]): Identity {
  const tid = stringClaim(claims, 'tid');
  const oid = stringClaim(claims, 'oid');
  const sub = stringClaim(claims, 'sub');
  const iss = stringClaim(claims, 'iss');
  if (!tid || !oid || !sub || !iss) throw new SignInFailed(`ID token lacks ${['tid', 'oid', 'sub', 'iss'].filter((c) => !stringClaim(claims, c)).join(', ')}`);
  if (!allowedTenants.some((t) => t.toLowerCase() === tid.toLowerCase())) throw new TenantNotAllowed(`tenant ${tid} is not in identity.allowedTenants`);
  const username = stringClaim(claims, 'preferred_username') ?? stringClaim(claims, 'upn') ?? stringClaim(claims, 'email') ?? oid;
  const names = claims._claim_names;
  const overage = typeof names === 'object' && names !== null && 'groups' in names;
  return {
    key: `${tid.toLowerCase()}:${oid.toLowerCase()}`,
    provider: 'entra',
    issuer: iss,
    subject: sub,
    tenantId: tid.toLowerCase(),
    objectId: oid.toLowerCase(),
    name: stringClaim(claims, 'name') ?? username,
    username,
    email: stringClaim(claims, 'email'),
    groups: stringListClaim(claims, 'groups'),
    amr: stringListClaim(claims, 'amr'),
    ...(overage ? { groupsOverage: true } : {}),
  };
}
