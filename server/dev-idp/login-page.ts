import { escapeHtml, type PageParts } from './html-page.js';

export const WRONG_CREDENTIALS = 'Wrong username or password.';

export interface LoginPageInput {
  /** Where the form posts to; the interaction uid in it binds the submission to this sign-in. */
  action: string;
  abortAction: string;
  clientName: string;
  username?: string;
  error?: string;
}

export function loginPage(input: LoginPageInput): PageParts {
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : '';
  return {
    title: 'Sign in',
    body: `<h1>Sign in</h1>
<p class="hint">to continue to ${escapeHtml(input.clientName)}</p>
${error}
<form method="post" action="${escapeHtml(input.action)}" autocomplete="on">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus value="${escapeHtml(input.username ?? '')}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<form method="post" action="${escapeHtml(input.abortAction)}">
<button type="submit" class="secondary">Cancel</button>
</form>`,
  };
}

export function expiredPage(): PageParts {
  return {
    title: 'Sign-in expired',
    body: `<h1>This sign-in has expired</h1>
<p>The sign-in request is no longer valid (it timed out or was already used). Go back to the application and sign in again.</p>`,
  };
}

export function errorPage(error: string, description: string | undefined): PageParts {
  return {
    title: 'Sign-in error',
    body: `<h1>Something went wrong</h1>
<p><strong>${escapeHtml(error)}</strong></p>
${description ? `<p>${escapeHtml(description)}</p>` : ''}`,
  };
}

export function signedOutPage(clientName: string | undefined): PageParts {
  return {
    title: 'Signed out',
    body: `<h1>Signed out</h1><p>You have been signed out${clientName ? ` of ${escapeHtml(clientName)}` : ''}.</p>`,
  };
}

/** `form` is oidc-provider's hidden logout form; the buttons submit it by id. */
export function logoutConfirmPage(form: string, host: string): PageParts {
  return {
    title: 'Sign out',
    body: `<h1>Sign out of ${escapeHtml(host)}?</h1>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>`,
  };
}
