/**
 * Tiny typed wrapper around fetch for the gateway's JSON API.
 *
 * Every call is same-origin with cookies, and every non-2xx response becomes
 * an ApiError carrying the server's `{ error: { code, message } }` payload
 * when there is one, so pages can branch on `code` (e.g. "not_signed_in")
 * instead of on HTTP status alone.
 */

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }

  /** True when only signing in (again) can help: no session, or a stale one. */
  get isSignedOut(): boolean {
    return this.status === 401 || this.code === 'not_signed_in' || this.code === 'reauth_required';
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST';
  csrfToken?: string;
  body?: unknown;
  signal?: AbortSignal;
}

function isErrorBody(value: unknown): value is { error: { code?: unknown; message?: unknown } } {
  return (
    typeof value === 'object' &&
    value !== null &&
    'error' in value &&
    typeof (value as { error: unknown }).error === 'object' &&
    (value as { error: unknown }).error !== null
  );
}

export async function apiRequest<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? (options.body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.csrfToken) headers['X-CSRF-Token'] = options.csrfToken;
  if (method !== 'GET') headers['Content-Type'] = 'application/json';

  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: method === 'GET' ? undefined : JSON.stringify(options.body ?? {}),
      signal: options.signal,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network_error', 'The gateway could not be reached. Check your network connection and try again.');
  }

  // Bodies are parsed leniently: a proxy in front of the gateway may answer
  // with HTML, and that should still surface as a readable ApiError.
  const text = await response.text();
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }

  if (!response.ok) {
    if (isErrorBody(body)) {
      const code = typeof body.error.code === 'string' ? body.error.code : `http_${response.status}`;
      const message =
        typeof body.error.message === 'string' && body.error.message
          ? body.error.message
          : `The gateway answered with HTTP ${response.status}.`;
      throw new ApiError(response.status, code, message);
    }
    throw new ApiError(response.status, `http_${response.status}`, `The gateway answered with HTTP ${response.status}.`);
  }
  if (body === undefined) {
    throw new ApiError(response.status, 'bad_response', 'The gateway sent a response this page could not read.');
  }
  return body as T;
}

/* ---- Shapes of the gateway's endpoints ---- */

export interface Me {
  user: { name: string; username: string; email?: string };
  csrfToken: string;
}

export type AppIcon = 'windows' | 'linux' | 'server' | 'terminal';

export interface AppSummary {
  id: string;
  name: string;
  description: string;
  icon: AppIcon;
  /** offline: the desktop is reached through a tunnel whose connector is not connected now. */
  status: 'ready' | 'unavailable' | 'offline';
  statusMessage?: string;
  /** The access policy will ask for a reason before this desktop opens. */
  needsPurpose?: boolean;
}

/** What the policy lets cross for this launch (the gateway enforces it regardless). */
export interface Capabilities {
  clipboardCopy: boolean;
  clipboardPaste: boolean;
  /** The desktop has a redirected drive (a file panel). */
  drive: boolean;
  upload: boolean;
  download: boolean;
  microphone?: boolean;
}

export interface LaunchResult {
  token: string;
  websocketPath: string;
  expiresInSeconds: number;
  capabilities?: Capabilities;
  keyboard?: { appLayout: string | null; layouts: string[] };
}

export const getMe = (signal?: AbortSignal) => apiRequest<Me>('/api/me', { signal });

export const getApps = (signal?: AbortSignal) =>
  apiRequest<{ apps: AppSummary[] }>('/api/apps', { signal }).then((r) => r.apps ?? []);

export type AppStatus = Pick<AppSummary, 'id' | 'status' | 'statusMessage'>;

export const getAppStatuses = (signal?: AbortSignal) =>
  apiRequest<{ apps: AppStatus[] }>('/api/apps/status', { signal }).then((r) => r.apps ?? []);

/**
 * Asks for a launch ticket. Without a purpose the server may refuse with
 * 403 `purpose_required`; the caller then asks the user and tries again.
 */
export const launchApp = (appId: string, csrfToken: string, purpose?: string) =>
  apiRequest<LaunchResult>(`/api/apps/${encodeURIComponent(appId)}/launch`, {
    method: 'POST',
    csrfToken,
    body: purpose === undefined ? {} : { purpose },
  });

export const logout = (csrfToken: string) =>
  apiRequest<{ redirect?: string }>('/auth/logout', { method: 'POST', csrfToken, body: {} });
