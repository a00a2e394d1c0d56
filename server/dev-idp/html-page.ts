import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';

export const DEV_BANNER = 'Development identity provider — not for production; demo users only';

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f5;color:#18181b}
.banner{background:#b91c1c;color:#fff;font-weight:700;text-align:center;padding:.75rem 1rem;font-size:1.05rem}
main{max-width:22rem;margin:2.5rem auto;background:#fff;padding:1.5rem 2rem;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.2)}
h1{font-size:1.3rem;margin-top:0}
label{display:block;margin:.75rem 0 .25rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1rem;width:100%;padding:.6rem;font-size:1rem;cursor:pointer}
.secondary{background:none;border:0;color:#52525b;text-decoration:underline}
.error{background:#fee2e2;color:#991b1b;padding:.5rem .75rem;border-radius:4px}
.hint{color:#52525b;font-size:.85rem}
`;

export interface PageParts {
  title: string;
  /** Trusted HTML: callers escape anything that came from a request. */
  body: string;
}

/**
 * Renders a page under the development banner. Styles go in a nonce'd <style> element so the CSP
 * can forbid every inline script and style attribute.
 */
export function renderPage(parts: PageParts, nonce: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(parts.title)} — Drawbridge development IdP</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<div class="banner" role="alert">${escapeHtml(DEV_BANNER)}</div>
<main>
${parts.body}
</main>
</body>
</html>`;
}

export function newNonce(): string {
  return randomBytes(16).toString('base64');
}

/**
 * `formAction` lists the origins a form on the page may end up at: browsers (Chrome at least) apply
 * form-action to every redirect that follows a submission, and sign-in ends with a redirect to the
 * client's redirect_uri on another origin.
 */
export function contentSecurityPolicy(nonce: string, formAction: string[] = []): string {
  return [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    `form-action 'self'${formAction.map((o) => ` ${o}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** Security headers every page we render carries. */
export function pageHeaders(nonce: string, formAction: string[] = []): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': contentSecurityPolicy(nonce, formAction),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  };
}

export function sendPage(res: ServerResponse, status: number, parts: PageParts, formAction: string[] = []): void {
  const nonce = newNonce();
  const html = renderPage(parts, nonce);
  res.writeHead(status, { ...pageHeaders(nonce, formAction), 'content-length': Buffer.byteLength(html) });
  res.end(html);
}
