/**
 * Where to land after sign-in. Only a path on this gateway: an open redirect here would let a
 * phishing link bounce through our sign-in to anywhere.
 */
export function safeReturnTo(value: unknown, publicUrl: string): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return '/';
  if (/[\u0000-\u001f]/.test(value) || value.length > 2048) return '/';
  try {
    const base = new URL(publicUrl);
    const url = new URL(value, base);
    if (url.origin !== base.origin) return '/';
    if (url.pathname.startsWith('/auth/')) return '/';
    return url.pathname + url.search + url.hash;
  } catch {
    return '/';
  }
}
