import { describe, expect, it } from 'vitest';
import { mapEntraClaims } from '../../server/authenticate/entra-claims.js';
import { mapOidcClaims } from '../../server/authenticate/oidc-claims.js';
import { SignInFailed, TenantNotAllowed } from '../../server/http/wire-errors.js';

const TID = 'd6b0c4ad-0000-4000-8000-000000000001';
const entra = {
  iss: `https://login.microsoftonline.com/${TID}/v2.0`,
  tid: TID,
  oid: '0A1B2C3D-0000-4000-8000-00000000000A',
  sub: 'pairwise-sub',
  preferred_username: 'alice@contoso.example',
  name: 'Alice Admin',
  email: 'alice@contoso.example',
  groups: ['g1', 'g2'],
  amr: ['pwd', 'mfa'],
};

describe('Entra ID claims', () => {
  it('key the user by tenant and object id, and keep the profile', () => {
    const id = mapEntraClaims(entra, [TID]);
    expect(id).toMatchObject({
      key: `${TID}:0a1b2c3d-0000-4000-8000-00000000000a`,
      provider: 'entra',
      tenantId: TID,
      subject: 'pairwise-sub',
      name: 'Alice Admin',
      username: 'alice@contoso.example',
      email: 'alice@contoso.example',
      groups: ['g1', 'g2'],
      amr: ['pwd', 'mfa'],
    });
  });

  it('refuse a tenant that is not allowed', () => {
    expect(() => mapEntraClaims({ ...entra, tid: '99999999-0000-4000-8000-000000000009' }, [TID])).toThrow(TenantNotAllowed);
  });

  it('refuse a token without oid or tid', () => {
    expect(() => mapEntraClaims({ ...entra, oid: undefined }, [TID])).toThrow(SignInFailed);
    expect(() => mapEntraClaims({ ...entra, tid: undefined }, [TID])).toThrow(SignInFailed);
  });

  it('treat malformed groups and amr as empty, and notice group overage', () => {
    const id = mapEntraClaims({ ...entra, groups: 'admins', amr: 'mfa', _claim_names: { groups: 'src1' } }, [TID]);
    expect(id.groups).toEqual([]);
    expect(id.amr).toEqual([]);
    expect(id.groupsOverage).toBe(true);
  });
});

describe('generic OIDC claims', () => {
  const mapping = { id: 'sub', name: 'name', username: 'preferred_username', email: 'email', groups: 'roles', amr: 'amr' };
  it('follow the configured mapping and key by issuer + id', () => {
    const id = mapOidcClaims({ iss: 'https://idp.example', sub: 'u1', name: 'U One', email: 'u1@example.com', roles: ['ops'], amr: ['otp'] }, mapping);
    expect(id).toMatchObject({ key: 'https://idp.example|u1', provider: 'oidc', username: 'u1@example.com', groups: ['ops'], amr: ['otp'] });
  });
  it('refuse a token without the id claim', () => {
    expect(() => mapOidcClaims({ iss: 'https://idp.example', sub: 'u1' }, { ...mapping, id: 'oid' })).toThrow(SignInFailed);
  });
});
