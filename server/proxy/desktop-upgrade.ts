import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AuditLog } from '../audit/audit-log.js';
import { refuseUpgrade } from '../http/refuse-upgrade.js';
import type { RefusalThrottle } from '../http/refusal-throttle.js';
import type { AppConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { encodeInstruction } from './guac-protocol.js';
import { guacdHandshake, HandshakeError } from './guacd-handshake.js';
import { LaunchTokenError, type LaunchTokens } from './launch-token.js';
import type { LiveSessions } from './live-sessions.js';
import { effectiveCredentials, parseBrowserDisplay, rdpParams, type DataPaths, type RdpCredentials } from './rdp-params.js';
import { DEFAULT_LIMITS, RelaySession, type RelayLimits } from './relay-session.js';
import type { DriveFolders } from './drive-folders.js';
import type { SessionRecording } from '../recording/recording-store.js';

export const DESKTOP_WS_PATH = '/ws/desktop';

/** What the proxy needs to know about the caller; the authenticate module supplies it. */
export interface UpgradeCaller<P = unknown> {
  user: string;
  username: string;
  sessionId: string;
  /** The signed-in principal, handed back to `authorize` untouched. */
  principal: P;
}

/** The access decision for this connection, made outside the proxy. */
export interface UpgradeDecision<C = unknown> {
  allowed: boolean;
  status: number;
  code: string;
  message: string;
  data: DataPaths;
  /** The policy wants this session recorded. */
  record?: boolean;
  /** Kept with the live session so access can be re-decided later. */
  context: C;
}

/** Where guacd dials for one session: the desktop itself, or a stand-in the gateway provides (a tunnel). */
export interface DesktopRoute {
  host: string;
  port: number;
  /** Settles with a message for the user when the path to the desktop is lost mid-session. */
  lost?: Promise<string>;
  close(): void;
}

/** The desktop cannot be reached; `publicMessage` is for the user, the message for the log. */
export class RouteError extends Error {
  constructor(
    readonly status: number,
    readonly publicMessage: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'RouteError';
  }
}

export interface DesktopUpgradeOptions<P = unknown, C = unknown> {
  /** Defaults to the app's own host and port. */
  route?(app: AppConfig, session: string): Promise<DesktopRoute>;
  allowedOrigins: ReadonlySet<string>;
  identify(req: IncomingMessage): Promise<UpgradeCaller<P> | null>;
  authorize(caller: UpgradeCaller<P>, req: IncomingMessage, app: AppConfig, purpose: string | undefined): UpgradeDecision<C>;
  tokens: LaunchTokens;
  app(id: string): AppConfig | undefined;
  credentials(app: AppConfig): RdpCredentials;
  guacd(): { host: string; port: number; connectTimeoutMs: number };
  /** Told of every connection the gateway opens to guacd (the tunnel handoff asks who is at their far end). */
  onGuacdConnection?(sock: Socket): void;
  live: LiveSessions<C>;
  audit: AuditLog;
  log: Logger;
  clientIp(req: IncomingMessage): string | undefined;
  limits?: RelayLimits;
  /** May this caller watch that live session? (admin.policies, decided outside the proxy) */
  authorizeWatch?(caller: UpgradeCaller<P>, req: IncomingMessage): { allowed: boolean; message: string };
  /** Starts a recording of one session (when the decision says to record). */
  recorder?(meta: { id: string; user: string; username: string; app: string }): SessionRecording;
  /** Per-user drive folders for apps with rdp.drive, and the upload size limit. */
  drives?: { folders: DriveFolders; maxUploadBytes: number };
  /**
   * Holds back the log lines of refusals before a sign-in is known (wrong origin, not signed in),
   * which anyone on the internet can cause; without one, each is logged.
   */
  refusals?: RefusalThrottle;
}

function connectGuacd(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      reject(new HandshakeError(`no answer from guacd at ${host}:${port} within ${timeoutMs} ms`, 514));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(t);
      reject(new HandshakeError(`guacd at ${host}:${port}: ${err.message}`, 520));
    });
  });
}

const PUBLIC_HANDSHAKE_MESSAGE: Record<number, string> = {
  514: 'The remote desktop service did not answer in time. Try again; if it keeps happening, tell your administrator.',
  520: 'The remote desktop service (guacd) is not reachable. Tell your administrator.',
  512: 'The remote desktop service failed while connecting. Try again.',
};

/**
 * The only door into guacd. Before a WebSocket exists the caller must come from our own origin,
 * hold a live sign-in, and present a launch token minted for that very sign-in; everything that
 * reaches guacd is chosen here from the gateway's config.
 */
export function createDesktopUpgradeHandler<P, C>(opts: DesktopUpgradeOptions<P, C>): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 1 << 20,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has('guacamole') ? 'guacamole' : false),
  });
  const { log, audit } = opts;

  return (req, socket, head) => {
    void (async () => {
      const ip = opts.clientIp(req);
      const url = new URL(req.url ?? '/', 'http://gateway.invalid');
      const origin = req.headers.origin;
      const logged = () => opts.refusals?.shouldLog(ip ?? 'unknown') ?? true;
      if (!origin || !opts.allowedOrigins.has(origin)) {
        if (logged()) {
          log.warn({ ip, origin: origin?.slice(0, 200) }, 'desktop upgrade refused: origin');
          audit.write({ event: 'access-denied', result: 'denied', ip, reason: `websocket origin ${origin?.slice(0, 200) ?? '(none)'} not allowed` });
        }
        return refuseUpgrade(socket, 403, 'origin_rejected', 'This connection did not come from the Drawbridge page.');
      }
      const caller = await opts.identify(req);
      if (!caller) {
        if (logged()) audit.write({ event: 'access-denied', result: 'denied', ip, reason: 'websocket without a signed-in session' });
        return refuseUpgrade(socket, 401, 'not_signed_in', 'You are not signed in, or your session has ended. Sign in again.');
      }
      let claims;
      try {
        claims = opts.tokens.verify(url.searchParams.get('token') ?? '', { user: caller.user, session: caller.sessionId });
      } catch (err) {
        const reason = err instanceof LaunchTokenError ? err.reason : 'malformed';
        audit.write({ event: 'access-denied', result: 'denied', user: caller.user, ip, reason: `launch token ${reason}` });
        log.warn({ ip, user: caller.user, reason }, 'desktop upgrade refused: launch token');
        return refuseUpgrade(socket, 403, 'launch_token_rejected', 'This desktop link is not valid for you (expired or already used). Open the desktop again from your launcher.');
      }
      if (claims.watch !== undefined) {
        const target = opts.live.get(claims.watch);
        const may = opts.authorizeWatch?.(caller, req);
        if (!may?.allowed) {
          audit.write({ event: 'access-denied', result: 'denied', user: caller.user, ip, reason: 'watch: not an administrator' });
          return refuseUpgrade(socket, 403, 'admin_only', may?.message ?? 'Only administrators can watch sessions.');
        }
        if (!target || !target.guacdConnection) return refuseUpgrade(socket, 404, 'session_not_found', 'That session has ended.');
        const display = parseBrowserDisplay(url.searchParams);
        if (typeof display === 'string') return refuseUpgrade(socket, 400, 'bad_display', display);
        wss.handleUpgrade(req, socket, head, (ws) => void openWatch(ws, socket, caller, target, display, ip));
        return;
      }
      const app = opts.app(claims.app);
      if (!app) return refuseUpgrade(socket, 404, 'app_not_found', 'There is no such desktop.');
      // decided again here, not trusted from the launch: the config or the user may have changed
      const decision = opts.authorize(caller, req, app, claims.purpose);
      if (!decision.allowed) return refuseUpgrade(socket, decision.status, decision.code, decision.message);
      const display = parseBrowserDisplay(url.searchParams);
      if (typeof display === 'string') return refuseUpgrade(socket, 400, 'bad_display', display);
      if (req.headers['sec-websocket-protocol']?.split(',').map((s) => s.trim()).includes('guacamole') !== true) {
        return refuseUpgrade(socket, 400, 'bad_subprotocol', 'The WebSocket must use the "guacamole" subprotocol.');
      }
      wss.handleUpgrade(req, socket, head, (ws) => void openDesktop(ws, socket, caller, app, display, ip, decision));
    })().catch((err: unknown) => {
      log.error({ err: String(err) }, 'desktop upgrade failed');
      refuseUpgrade(socket, 400, 'bad_request', 'The connection could not be opened.');
    });
  };

  /** An admin joins a live session read-only (guacd's connection join); the owner is told by guacd. */
  async function openWatch(ws: WebSocket, socket: Duplex, caller: UpgradeCaller<P>, target: import('./live-sessions.js').LiveSession<C>, display: ReturnType<typeof parseBrowserDisplay> & object, ip: string | undefined) {
    const id = randomUUID();
    const g = opts.guacd();
    let guacd: Socket | undefined;
    ws.once('close', () => guacd?.destroy());
    try {
      guacd = await connectGuacd(g.host, g.port, g.connectTimeoutMs);
      opts.onGuacdConnection?.(guacd);
      const result = await guacdHandshake(guacd, {
        protocol: target.guacdConnection!,
        params: { 'read-only': 'true' },
        width: display.width,
        height: display.height,
        dpi: display.dpi,
        audio: [],
        video: [],
        image: ['image/png', 'image/jpeg', 'image/webp'],
        name: `${caller.username} (administrator)`,
        timeoutMs: g.connectTimeoutMs,
      });
      if (ws.readyState !== ws.OPEN) return guacd.destroy();
      ws.removeAllListeners('close');
      const relay = new RelaySession(id, ws, guacd, log, opts.limits ?? DEFAULT_LIMITS, socket, { clipboardCopy: false, clipboardPaste: false, fileUpload: false, fileDownload: false, microphone: false });
      relay.viewOnly();
      // the watcher goes when the watched session goes
      target.relay.onEnd(() => relay.end({ code: 0x020b, message: 'The session you were watching has ended.' }, 'watched session ended'));
      opts.live.add({ id, user: caller.user, username: caller.username, signInSession: caller.sessionId, app: target.app, startedAt: Date.now(), relay, context: target.context, watching: target.id });
      relay.onEnd((status, reason) => audit.write({ event: 'session-end', result: 'success', user: caller.user, username: caller.username, app: target.app, ip, session: id, watched: target.id, code: status.code, reason }));
      ws.send(encodeInstruction(['', id], 'utf16'));
      relay.start(result.leftover);
      audit.write({ event: 'session-start', result: 'success', user: caller.user, username: caller.username, app: target.app, ip, session: id, watched: target.id, reason: `watching ${target.username ?? target.user} read-only` });
    } catch (err) {
      guacd?.destroy();
      log.warn({ err: String(err) }, 'watch could not start');
      if (ws.readyState === ws.OPEN) {
        ws.send(encodeInstruction(['error', 'The session could not be joined.', '512'], 'utf16'));
        ws.close(4512, '512');
      }
    }
  }

  async function openDesktop(ws: WebSocket, socket: Duplex, caller: UpgradeCaller<P>, app: AppConfig, display: ReturnType<typeof parseBrowserDisplay> & object, ip: string | undefined, decision: UpgradeDecision<C>) {
    const id = randomUUID();
    const g = opts.guacd();
    const fail = (status: number, message: string, reason: string) => {
      audit.write({ event: 'session-start', result: 'failure', user: caller.user, username: caller.username, app: app.id, ip, reason, session: id });
      log.warn({ session: id, app: app.id, reason }, 'desktop session could not start');
      if (ws.readyState === ws.OPEN) {
        ws.send(encodeInstruction(['error', message, String(status)], 'utf16'));
        ws.close(4000 + (status % 1000), String(status));
      }
    };
    let guacd: Socket | undefined;
    let route: DesktopRoute | undefined;
    let recording: SessionRecording | undefined;
    // the browser may leave while we are still dialling guacd
    ws.once('close', () => {
      guacd?.destroy();
      route?.close();
      recording?.abandon();
    });
    const drives = opts.drives;
    const drive = app.rdp.drive && drives ? drives.folders.forUser(caller.user) : undefined;
    try {
      recording = decision.record && opts.recorder ? opts.recorder({ id, user: caller.user, username: caller.username, app: app.id }) : undefined;
      route = opts.route ? await opts.route(app, id) : { host: app.host, port: app.port, close: () => undefined };
      if (ws.readyState !== ws.OPEN) return route.close();
      guacd = await connectGuacd(g.host, g.port, g.connectTimeoutMs);
      opts.onGuacdConnection?.(guacd);
      if (ws.readyState !== ws.OPEN) return guacd.destroy();
      const result = await guacdHandshake(guacd, {
        protocol: 'rdp',
        params: { ...rdpParams(app, display, effectiveCredentials(app, opts.credentials(app), caller.username), decision.data, route, drive), ...recording?.params },
        width: display.width,
        height: display.height,
        dpi: display.dpi,
        timezone: display.timezone,
        audio: app.rdp.audio ? ['audio/L16', 'audio/L8'] : [],
        video: [],
        image: ['image/png', 'image/jpeg', 'image/webp'],
        name: caller.username,
        timeoutMs: g.connectTimeoutMs,
      });
      if (ws.readyState !== ws.OPEN) {
        route.close();
        return guacd.destroy();
      }
      ws.removeAllListeners('close');
      const relay = new RelaySession(id, ws, guacd, log, opts.limits ?? DEFAULT_LIMITS, socket, decision.data, {
        maxUploadBytes: drives?.maxUploadBytes ?? 0,
        onUploadAborted: (name) => drives?.folders.removeUpload(caller.user, name),
      });
      if (recording?.tap) relay.record(recording.tap);
      opts.live.add({ id, user: caller.user, username: caller.username, guacdConnection: result.connectionId, signInSession: caller.sessionId, app: app.id, startedAt: Date.now(), relay, context: decision.context });
      const r = route;
      void r.lost?.then((message) => relay.end({ code: 519, message }, 'route to the desktop lost'));
      const rec = recording;
      relay.onEnd((status, reason) => {
        r.close();
        rec?.end();
        audit.write({ event: 'session-end', result: 'success', user: caller.user, username: caller.username, app: app.id, ip, session: id, code: status.code, reason, durationMs: Date.now() - relay.stats.startedAt });
      });
      // guacamole-common-js treats the first instruction as the tunnel's UUID and opens the tunnel
      ws.send(encodeInstruction(['', id], 'utf16'));
      relay.start(result.leftover);
      audit.write({ event: 'session-start', result: 'success', user: caller.user, username: caller.username, app: app.id, ip, session: id, guacdConnection: result.connectionId, protocolVersion: result.version, recorded: Boolean(recording) });
      log.info({ session: id, app: app.id, user: caller.user, version: result.version }, 'desktop session started');
    } catch (err) {
      guacd?.destroy();
      route?.close();
      recording?.abandon();
      if (err instanceof RouteError) return fail(err.status, err.publicMessage, err.message);
      if (err instanceof HandshakeError) {
        const message = PUBLIC_HANDSHAKE_MESSAGE[err.status] ?? err.upstreamMessage ?? 'The remote desktop could not be opened.';
        return fail(err.status, message, err.message);
      }
      fail(512, 'The remote desktop could not be opened.', String(err));
    }
  }
}
