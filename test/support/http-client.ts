import { Agent, fetch, type Dispatcher, type Response } from 'undici';

/**
 * A tiny browser stand-in for HTTP-level tests: a cookie jar per host, manual redirects, and a
 * dispatcher that trusts the test CA (only this process trusts it).
 */
export class HttpClient {
  readonly jar = new Map<string, Map<string, string>>();
  readonly dispatcher: Dispatcher;

  constructor(caPem: string) {
    this.dispatcher = new Agent({ connect: { ca: caPem } });
  }

  cookieHeader(url: string): string {
    const jar = this.jar.get(new URL(url).host);
    return jar ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }

  cookie(url: string, name: string): string | undefined {
    return this.jar.get(new URL(url).host)?.get(name);
  }

  async request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    const cookies = this.cookieHeader(url);
    if (cookies) headers.cookie = cookies;
    const res = await fetch(url, { method: init.method ?? 'GET', headers, body: init.body, redirect: 'manual', dispatcher: this.dispatcher });
    const host = new URL(url).host;
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const jar = this.jar.get(host) ?? new Map<string, string>();
      this.jar.set(host, jar);
      const expired = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a) || /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }

  /** Follows redirects (GET) until a non-redirect answer; returns it and the URL it came from. */
  async follow(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}, max = 15): Promise<{ res: Response; url: string; hops: string[] }> {
    const hops: string[] = [];
    let res = await this.request(url, init);
    while (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      if (hops.length >= max) throw new Error(`too many redirects: ${hops.join(' -> ')}`);
      await res.body?.cancel();
      url = new URL(res.headers.get('location')!, url).href;
      hops.push(url);
      res = await this.request(url);
    }
    return { res, url, hops };
  }
}

function attr(tag: string, name: string): string | undefined {
  return new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(tag)?.[1]?.replace(/&amp;/g, '&');
}

/** Fills and submits the first form on an HTML page: hidden inputs kept, `fields` set. */
export async function submitForm(client: HttpClient, pageUrl: string, html: string, fields: Record<string, string>) {
  const form = /<form\b[^>]*>/i.exec(html)?.[0];
  if (!form) throw new Error(`no form on ${pageUrl}`);
  const action = new URL(attr(form, 'action') ?? pageUrl, pageUrl).href;
  const body = new URLSearchParams();
  for (const input of html.matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(input[0], 'name');
    if (name && attr(input[0], 'type') === 'hidden') body.set(name, attr(input[0], 'value') ?? '');
  }
  for (const [k, v] of Object.entries(fields)) body.set(k, v);
  return client.follow(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(pageUrl).origin }, body: body.toString() });
}

/**
 * The whole authorization code flow as a browser would do it: gateway → IdP login page → form
 * post → back to the gateway's callback → the page we asked for.
 */
export async function signIn(client: HttpClient, gatewayUrl: string, username: string, password: string, returnTo = '/') {
  const start = await client.follow(`${gatewayUrl}/auth/login?returnTo=${encodeURIComponent(returnTo)}`);
  const html = await start.res.text();
  if (!/<form/i.test(html)) throw new Error(`expected the IdP login page, got ${start.res.status} at ${start.url}`);
  const done = await submitForm(client, start.url, html, { username, password });
  return { ...done, loginPage: start.url };
}
