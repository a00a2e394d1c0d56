import { request, type Dispatcher } from 'undici';

export interface SignInByFormOptions {
  /** The authorization request URL, pointing at the IdP. */
  authorizationUrl: URL | string;
  /** Carries the trust for the IdP's certificate (e.g. an undici Agent with `connect: { ca }`). */
  dispatcher: Dispatcher;
  username: string;
  password: string;
  /**
   * Where to stop: the first redirect whose URL starts with this. Defaults to the first redirect that
   * leaves the IdP's origin, which is the client's redirect_uri.
   */
  stopAt?: string;
  maxHops?: number;
  /**
   * Cookie jar (name -> value) for the IdP's origin. Pass one to keep the IdP session afterwards,
   * e.g. to test single sign-on or logout; it is read and updated in place.
   */
  jar?: Map<string, string>;
}

/** The IdP answered the credentials with a page instead of a redirect (e.g. the form plus an error). */
export class SignInRejectedError extends Error {
  override readonly name = 'SignInRejectedError';
  constructor(
    readonly status: number,
    readonly html: string,
  ) {
    super(`sign-in was not accepted: HTTP ${status} without a redirect`);
  }
}

/**
 * Signs in the way a browser would, with plain HTTP: follows the authorization request's redirects to
 * the login form, posts the credentials to the form's action, and follows redirects until the one
 * that leaves the IdP. Returns that final redirect URL (the redirect_uri with code and state) without
 * requesting it. Cookies are carried by hand, because the IdP ties the steps together with them.
 */
export async function signInByForm(opts: SignInByFormOptions): Promise<URL> {
  const start = new URL(opts.authorizationUrl);
  const jar = opts.jar ?? new Map<string, string>();
  const isFinal = (url: URL) => (opts.stopAt ? url.href.startsWith(opts.stopAt) : url.origin !== start.origin);

  let next: { url: URL; method: 'GET' | 'POST'; form?: URLSearchParams } = { url: start, method: 'GET' };
  let posted = false;
  for (let hop = 0; hop < (opts.maxHops ?? 20); hop++) {
    const headers: Record<string, string> = {};
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (next.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await request(next.url, { method: next.method, headers, body: next.form?.toString(), dispatcher: opts.dispatcher });
    storeCookies(jar, res.headers['set-cookie']);
    const body = await res.body.text();

    if (res.statusCode >= 300 && res.statusCode < 400) {
      const location = res.headers.location;
      if (typeof location !== 'string') throw new Error(`HTTP ${res.statusCode} from ${next.url.href} without a Location`);
      const target = new URL(location, next.url);
      if (isFinal(target)) return target;
      next = { url: target, method: 'GET' };
      continue;
    }

    if (res.statusCode === 200 && !posted) {
      const form = findLoginForm(body);
      if (form) {
        posted = true;
        const fields = new URLSearchParams(form.hidden);
        fields.set('username', opts.username);
        fields.set('password', opts.password);
        next = { url: new URL(form.action, next.url), method: 'POST', form: fields };
        continue;
      }
    }

    if (posted) throw new SignInRejectedError(res.statusCode, body);
    throw new Error(`expected a login form or a redirect from ${next.url.href}, got HTTP ${res.statusCode}: ${body.slice(0, 300)}`);
  }
  throw new Error('too many redirects during sign-in');
}

function storeCookies(jar: Map<string, string>, header: string | string[] | undefined): void {
  for (const line of header === undefined ? [] : Array.isArray(header) ? header : [header]) {
    const [pair = '', ...attributes] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    // Cookies are cleared by an empty value or an expiry in the past.
    const expired = attributes.some((a) => {
      const [k = '', v = ''] = a.split('=');
      const key = k.trim().toLowerCase();
      return (key === 'max-age' && Number(v) <= 0) || (key === 'expires' && Date.parse(v) <= Date.now());
    });
    if (expired || value === '') jar.delete(name);
    else jar.set(name, value);
  }
}

/** The first POST form on the page that has a password field, with its hidden inputs. */
function findLoginForm(html: string): { action: string; hidden: [string, string][] } | undefined {
  for (const [, attrs = '', inner = ''] of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    if (!/method\s*=\s*["']?post/i.test(attrs) || !/type\s*=\s*["']?password/i.test(inner)) continue;
    const action = attribute(attrs, 'action');
    if (action === undefined) continue;
    const hidden: [string, string][] = [];
    for (const [input = ''] of inner.matchAll(/<input\b[^>]*>/gi)) {
      if (attribute(input, 'type')?.toLowerCase() !== 'hidden') continue;
      const name = attribute(input, 'name');
      if (name !== undefined) hidden.push([name, attribute(input, 'value') ?? '']);
    }
    return { action, hidden };
  }
  return undefined;
}

function attribute(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(tag);
  const raw = m?.[1] ?? m?.[2] ?? m?.[3];
  return raw === undefined ? undefined : decodeEntities(raw);
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    const k = e.toLowerCase();
    if (k.startsWith('#x')) return String.fromCodePoint(parseInt(k.slice(2), 16));
    if (k.startsWith('#')) return String.fromCodePoint(parseInt(k.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[k] ?? _;
  });
}
