import { createHash, timingSafeEqual } from 'node:crypto';
import type { Account } from 'oidc-provider';
import type { DevUser } from './users.js';

/**
 * Entra ID's `sub` is pairwise: the same user gets a different, stable subject in every application.
 * Deriving it from oid + client id reproduces that, so the gateway cannot accidentally come to rely
 * on `sub` being the same as anything else (it must key users on tid + oid).
 */
export function pairwiseSub(oid: string, clientId: string): string {
  return createHash('sha256').update(`${oid}\0${clientId}`, 'utf8').digest('base64url');
}

/** Entra reports "mfa" alongside "pwd" when the sign-in satisfied a second factor. */
export function amrFor(user: DevUser): string[] {
  return user.mfa ? ['pwd', 'mfa'] : ['pwd'];
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** The IdP's user directory. Accounts are identified by oid, like Entra object ids. */
export class DevAccounts {
  private readonly byUsername = new Map<string, DevUser>();
  private readonly byOid = new Map<string, DevUser>();

  constructor(
    users: readonly DevUser[],
    private readonly tenantId: string,
  ) {
    for (const user of users) {
      this.byUsername.set(user.username.toLowerCase(), user);
      this.byOid.set(user.oid, user);
    }
  }

  /**
   * The user if the credentials match. Unknown usernames take the same path as wrong passwords so
   * response timing does not reveal which usernames exist.
   */
  verify(username: string, password: string): DevUser | undefined {
    const user = this.byUsername.get(username.trim().toLowerCase());
    const expected = digest(user?.password ?? '\0no such user\0');
    const ok = timingSafeEqual(expected, digest(password));
    return ok && user ? user : undefined;
  }

  find(oid: string): DevUser | undefined {
    return this.byOid.get(oid);
  }

  /**
   * oidc-provider's view of a user. `sub` here is the accountId; the library swaps in the pairwise
   * value per client. Which claims reach a token is decided by the scope -> claims map in the
   * provider configuration, not here.
   */
  account(oid: string): Account | undefined {
    const user = this.byOid.get(oid);
    if (!user) return undefined;
    const tid = user.tenantId ?? this.tenantId;
    return {
      accountId: oid,
      claims: () => ({
        sub: oid,
        tid,
        oid,
        ver: '2.0',
        preferred_username: user.username,
        name: user.name,
        email: user.email,
        groups: [...user.groups],
      }),
    };
  }
}
