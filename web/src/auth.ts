/**
 * Sign-in and sign-out navigation shared by every page.
 */
import { ApiError, getMe, logout, type Me } from './api.js';

export function signInUrl(returnTo: string = location.pathname + location.search): string {
  return '/auth/login?returnTo=' + encodeURIComponent(returnTo);
}

export function redirectToSignIn(): void {
  location.assign(signInUrl());
}

/**
 * Loads the current user. When the session is missing it starts the sign-in
 * redirect and resolves to null, so callers just stop.
 */
export async function requireUser(): Promise<Me | null> {
  try {
    return await getMe();
  } catch (err) {
    if (err instanceof ApiError && err.isSignedOut) {
      redirectToSignIn();
      return null;
    }
    throw err;
  }
}

export async function signOut(csrfToken: string): Promise<void> {
  try {
    const result = await logout(csrfToken);
    location.assign(result.redirect || '/signed-out');
  } catch (err) {
    // Already signed out (session expired meanwhile): end up in the same place.
    if (err instanceof ApiError && err.isSignedOut) {
      location.assign('/signed-out');
      return;
    }
    throw err;
  }
}
