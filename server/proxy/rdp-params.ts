import type { AppConfig } from '../config/schema.js';
import { isServerLayout } from '../config/keyboard-layouts.js';

export interface BrowserDisplay {
  width: number;
  height: number;
  dpi: number;
  timezone?: string;
  /** The user's choice of server keyboard layout, over the app's. */
  layout?: string;
}

export interface RdpCredentials {
  username?: string;
  password?: string;
}

/** The credentials guacd gets: the app's own, else the signed-in user's name when the app passes it through. */
export function effectiveCredentials(app: AppConfig, configured: RdpCredentials, signedInUsername: string): RdpCredentials {
  if (configured.username || !app.rdp.ssoUsername) return configured;
  const name = app.rdp.ssoUsername === 'short' ? signedInUsername.split('@')[0]! : signedInUsername;
  return { ...configured, username: name };
}

/**
 * The guacd `connect` values for an app. Only the gateway's config decides the target and the
 * security settings; the browser contributes its display size and time zone, nothing else.
 * Booleans are spelled out because guacd tests for the string "true".
 */
/** Which data may cross, as the deciding policy allows; the app's own switches can only narrow it. */
export interface DataPaths {
  clipboardCopy: boolean;
  clipboardPaste: boolean;
  fileUpload: boolean;
  fileDownload: boolean;
  microphone: boolean;
}

/** The user's own drive folder, as guacd sees it, when the app redirects a drive. */
export interface DriveFolder {
  guacdPath: string;
  name: string;
}

/** 16 MiB: room for 8 MB of text in UTF-16 inside Windows, as the clipboard holds it. */
export const CLIPBOARD_BUFFER_BYTES = 16 * 1024 * 1024;

export function rdpParams(app: AppConfig, display: BrowserDisplay, creds: RdpCredentials, data: DataPaths, target: { host: string; port: number } = app, drive?: DriveFolder): Record<string, string> {
  const r = app.rdp;
  const p: Record<string, string> = {
    hostname: target.host,
    port: String(target.port),
    security: r.security,
    'ignore-cert': String(r.ignoreCert),
    'resize-method': r.resizeMethod === 'none' ? '' : r.resizeMethod,
    width: String(display.width),
    height: String(display.height),
    dpi: String(display.dpi),
    'disable-copy': String(!(r.clipboard.copy && data.clipboardCopy)),
    'disable-paste': String(!(r.clipboard.paste && data.clipboardPaste)),
    'disable-audio': String(!r.audio),
    'enable-audio-input': String(r.audio && data.microphone),
    'client-name': 'Drawbridge',
    // guacd builds that know this parameter (KCM patches, newer guacamole-server) keep up to this
    // much clipboard; stock 1.5.5/1.6.0 do not list it and stop at 256 KB, whatever we send
    'clipboard-buffer-size': String(CLIPBOARD_BUFFER_BYTES),
  };
  if (display.timezone) p.timezone = display.timezone;
  if (r.domain) p.domain = r.domain;
  if (r.colorDepth) p['color-depth'] = String(r.colorDepth);
  const layout = display.layout ?? r.serverLayout;
  if (layout) p['server-layout'] = layout;
  if (drive) {
    p['enable-drive'] = 'true';
    p['drive-name'] = drive.name;
    p['drive-path'] = drive.guacdPath;
    p['create-drive-path'] = 'true';
    p['disable-upload'] = String(!data.fileUpload);
    p['disable-download'] = String(!data.fileDownload);
  }
  // printed pages leave the desktop as PDF files: a download like any other
  if (r.printing && data.fileDownload) {
    p['enable-printing'] = 'true';
    p['printer-name'] = 'Drawbridge PDF';
  }
  if (creds.username) p.username = creds.username;
  if (creds.password) p.password = creds.password;
  return p;
}

const TZ = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,3}$/;

/** Parses what the browser may choose; anything else in the query is ignored. */
export function parseBrowserDisplay(query: URLSearchParams): BrowserDisplay | string {
  const int = (name: string, min: number, max: number, dflt: number): number | string => {
    const raw = query.get(name);
    if (raw === null || raw === '') return dflt;
    if (!/^[0-9]{1,5}$/.test(raw)) return `${name} must be a whole number`;
    const n = Number(raw);
    if (n < min || n > max) return `${name} must be between ${min} and ${max}`;
    return n;
  };
  const width = int('width', 64, 8192, 1024);
  const height = int('height', 64, 8192, 768);
  const dpi = int('dpi', 48, 480, 96);
  for (const v of [width, height, dpi]) if (typeof v === 'string') return v;
  const tz = query.get('timezone') ?? undefined;
  if (tz !== undefined && (tz.length > 64 || !TZ.test(tz))) return 'timezone must be an IANA time zone name';
  const layout = query.get('layout') || undefined;
  if (layout !== undefined && !isServerLayout(layout)) return 'layout must be a guacd server layout such as en-us-qwerty, de-de-qwertz or failsafe';
  return { width: width as number, height: height as number, dpi: dpi as number, timezone: tz || undefined, layout };
}
