import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { accessSync, constants, existsSync, readFileSync, realpathSync, watch, type FSWatcher } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import express from 'express';
import { AuditLog, auditFileProblem } from './audit/audit-log.js';
import { ConfigError, loadConfigFile, parseConfig, type ConfigProblem } from './config/load-config.js';
import { evaluate, publicReason, type Decision } from './authorize/evaluate.js';
import type { AccessRequest } from './authorize/access-request.js';
import { buildListingIndex, type ListingIndex } from './authorize/listing-index.js';
import type { Identity } from './authenticate/identity.js';
import type { AppConfig, Config } from './config/schema.js';
import { resolveSecret, SecretResolutionError, type SecretRef } from './config/secret-ref.js';
import { createLogger, type Logger } from './log/logger.js';
import { requireCsrfToken } from './authenticate/csrf.js';
import { createIdentityProvider } from './authenticate/identity-provider.js';
import { attachSignedIn, authRoutes, createAuthenticator, requireSignedInApi, requireSignedInPage } from './authenticate/routes.js';
import { createSessions, type SignedIn } from './authenticate/session.js';
import { clientIpOf, type TrustFn } from './http/client-ip.js';
import { errorHandler } from './http/error-handler.js';
import { requireSameOrigin } from './http/origin-check.js';
import { refuseUpgrade } from './http/refuse-upgrade.js';
import { RefusalThrottle } from './http/refusal-throttle.js';
import { packageRoot } from './runtime/package-root.js';
import { securityHeaders } from './http/security-headers.js';
import { RouteNotFound } from './http/wire-errors.js';
import { GuacdProbe } from './launcher/guacd-probe.js';
import { launcherRoutes } from './launcher/routes.js';
import { createDesktopUpgradeHandler, DESKTOP_WS_PATH, RouteError } from './proxy/desktop-upgrade.js';
import { guacdAddressWarning } from './proxy/guacd-address-check.js';
import { startMetricsServer } from './metrics/metrics-server.js';
import { listenFailure } from './http/listen-problem.js';
import { publicTunnelMessage, startTunnels, TunnelError } from './tunnel/tunnels.js';
import { TUNNEL_PATH } from './tunnel/tunnel-wire.js';
import { unknownTunnelWarnings } from './tunnel/unknown-tunnels.js';
import { deriveLaunchKey, LaunchTokens } from './proxy/launch-token.js';
import { LiveSessions } from './proxy/live-sessions.js';
import { DriveFolders } from './proxy/drive-folders.js';
import { RecordingStore } from './recording/recording-store.js';
import { adminRoutes } from './admin/routes.js';
import type { RdpCredentials } from './proxy/rdp-params.js';
import type { RelayLimits } from './proxy/relay-session.js';

export interface GatewayOptions {
  config: Config;
  /** Watched for changes and re-read on reload(); a bad new file is refused and the old one stays. */
  configFile?: string;
  log?: Logger;
  audit?: AuditLog;
  /** Built web UI (vite output). */
  webRoot?: string;
  /** How often live desktops are re-checked (ms); default server.policyRecheckSeconds. */
  liveRecheckMs?: number;
  relayLimits?: RelayLimits;
  launchTokenTtlSeconds?: number;
  /** How often connectors are pinged (tests shorten it). */
  tunnelPingMs?: number;
  /**
   * Refusals of callers not yet known (connector upgrades, desktop upgrades without a sign-in, failed
   * sign-ins) logged one by one per address and 10 s, for each of the three; tests that count log
   * lines of many refusals raise it.
   */
  refusalLimit?: number;
  env?: NodeJS.ProcessEnv;
}

export interface Gateway {
  url: string;
  port: number;
  server: Server;
  live: LiveSessions;
  tunnels: Awaited<ReturnType<typeof startTunnels>>;
  /** The port of the Prometheus endpoint (`metrics.listen`), when there is one. */
  metricsPort: number | undefined;
  audit: AuditLog;
  log: Logger;
  /** The config in force now. */
  config(): Config;
  /** Validates and applies a new config (raw, as parsed from YAML), or re-reads configFile; returns false and keeps the old one when it is invalid. */
  reload(raw?: unknown): boolean;
  /** Re-decides access for every live desktop now. */
  recheck(): Promise<void>;
  close(): Promise<void>;
}

/** What a live desktop needs to have its access decided again later. */
interface LiveAccess {
  identity: Identity;
  signedInAt: number;
  ip?: string;
  country?: string;
  purpose?: string;
}

/** Vite's output, `dist/web` at the package root, whether this runs from source or from the build. */
export const DEFAULT_WEB_ROOT = path.join(packageRoot() ?? fileURLToPath(new URL('..', import.meta.url)), 'dist', 'web');

/** Why the gateway could not read this file (as the user it runs as), or undefined. */
function unreadable(file: string): string | undefined {
  try {
    accessSync(file, constants.R_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `file ${file} does not exist` : `file ${file} cannot be read by this process (${code ?? String(err)})`;
  }
}

/**
 * What start-up needs of the config beyond its shape: secrets resolved, files readable, the audit
 * log writable. `config check` runs it too, so "valid" means the gateway will start.
 */
export function secretsOf(config: Config, env: NodeJS.ProcessEnv, source = 'config') {
  const problems: ConfigProblem[] = [];
  const get = (ref: SecretRef | undefined, at: string): string | undefined => {
    if (!ref) return undefined;
    try {
      return resolveSecret(ref, env);
    } catch (err) {
      problems.push({ path: at, message: err instanceof SecretResolutionError ? err.message : String(err) });
      return undefined;
    }
  };
  const sessionSecret = get(config.server.sessionSecret, 'server.sessionSecret');
  if (sessionSecret !== undefined && sessionSecret.length < 32) problems.push({ path: 'server.sessionSecret', message: 'must be at least 32 characters' });
  const clientSecret = get(config.identity.clientSecret, 'identity.clientSecret');
  const appCreds = new Map<string, RdpCredentials>();
  config.apps.forEach((app, i) => {
    appCreds.set(app.id, { username: get(app.rdp.username, `apps[${i}].rdp.username`), password: get(app.rdp.password, `apps[${i}].rdp.password`) });
  });
  for (const [at, file] of [
    ['server.tls.certFile', config.server.tls?.certFile],
    ['server.tls.keyFile', config.server.tls?.keyFile],
    ['identity.caFile', config.identity.caFile],
  ] as const) {
    const problem = file ? unreadable(file) : undefined;
    if (problem) problems.push({ path: at, message: problem });
  }
  const auditProblem = config.audit.file && config.audit.file !== '-' ? auditFileProblem(config.audit.file) : undefined;
  if (auditProblem) problems.push({ path: 'audit.file', message: auditProblem });
  if (problems.length) throw new ConfigError(source, problems);
  return { sessionSecret: sessionSecret!, clientSecret: clientSecret!, appCreds };
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  let config = opts.config;
  const env = opts.env ?? process.env;
  const log = opts.log ?? createLogger();
  let secrets = secretsOf(config, env, opts.configFile);
  const audit = opts.audit ?? new AuditLog(config.audit.file, { onError: (err) => log.error({ file: config.audit.file, err: err.message }, 'the audit log cannot be written') });
  const publicUrl = config.server.publicUrl.replace(/\/$/, '');
  const publicOrigin = new URL(publicUrl).origin;
  const allowedOrigins = new Set([publicOrigin, ...config.server.allowedOrigins.map((o) => new URL(o).origin)]);
  const secure = publicOrigin.startsWith('https:');
  const webRoot = opts.webRoot ?? DEFAULT_WEB_ROOT;

  const production = config.server.mode === 'production';
  const idp = createIdentityProvider(config.identity, { clientSecret: secrets.clientSecret, callbackUrl: `${publicUrl}/auth/callback`, log, refuseDevelopmentIdp: production });
  if (production) {
    // unreachable now: each sign-in checks it again before it starts
    const dev = await idp.isDevelopmentIdp().catch(() => false);
    if (dev) {
      throw new ConfigError('config', [{ path: 'identity', message: 'points at the Drawbridge development IdP, which is not for production; set server.mode: development for a demo' }]);
    }
  }

  const sessions = createSessions({ secret: secrets.sessionSecret, secure, ...config.server.session });
  const tokens = new LaunchTokens(deriveLaunchKey(secrets.sessionSecret), { ttlSeconds: opts.launchTokenTtlSeconds ?? 60 });
  const live = new LiveSessions<LiveAccess>();
  const apps = (): AppConfig[] => config.apps;
  const trustedPeer = (addr: string | undefined) => addr !== undefined && config.server.trustedProxies.length > 0 && trust(addr, 0);
  // the country header counts only when a trusted proxy set it; anyone can send the header
  const countryFrom = (headers: Record<string, string | string[] | undefined>, peer: string | undefined) => {
    const name = config.server.countryHeader?.toLowerCase();
    const v = name && trustedPeer(peer) ? headers[name] : undefined;
    return typeof v === 'string' && /^[A-Za-z]{2}$/.test(v) ? v.toUpperCase() : undefined;
  };
  const accessRequest = (access: LiveAccess, now = new Date()): AccessRequest => ({ user: access.identity, ip: access.ip, country: access.country, purpose: access.purpose, signedInAt: access.signedInAt, now });
  const decide = (a: AppConfig, access: LiveAccess): Decision => evaluate(a, config.accessGroups, accessRequest(access));
  // /admin and watching live sessions: admin.policies, decided like an app's
  const adminDecision = (req: AccessRequest): Decision => evaluate({ policies: config.admin.policies }, config.accessGroups, req);
  const launchDecision = (d: Decision) => ({ ...d, message: publicReason(d) });
  // one AccessRequest per HTTP request and purpose, so a listing normalises the user once
  const requestAccess = new WeakMap<express.Request, Map<string, AccessRequest>>();
  const accessFor = (req: express.Request, purpose: string | undefined): AccessRequest => {
    const byPurpose = requestAccess.get(req) ?? new Map<string, AccessRequest>();
    requestAccess.set(req, byPurpose);
    let r = byPurpose.get(purpose ?? '');
    if (!r) {
      const s = req.signedIn!;
      r = accessRequest({ identity: s.identity, signedInAt: s.signedInAt, ip: req.ip, country: countryFrom(req.headers, req.socket.remoteAddress), purpose });
      byPurpose.set(purpose ?? '', r);
    }
    return r;
  };
  const guacdTarget = () => ({ host: env.GUACD_HOST || config.guacd.host, port: Number(env.GUACD_PORT) || config.guacd.port, connectTimeoutMs: config.guacd.connectTimeoutMs });
  const guacdWarning = await guacdAddressWarning(guacdTarget().host);
  if (guacdWarning) log.warn({ guacd: guacdTarget().host }, guacdWarning);
  const probe = new GuacdProbe(guacdTarget);
  const recordings = new RecordingStore(
    config.recordings.dir,
    { days: config.recordings.retentionDays, maxTotalBytes: config.recordings.maxTotalMB * 1024 * 1024 },
    {
      writer: config.recordings.writer,
      guacdDir: config.recordings.guacdDir,
      onMissing: (file) => log.warn({ file }, 'guacd wrote no session recording: it needs write access to recordings.dir (as recordings.guacdDir when guacd runs elsewhere)'),
    },
  );
  const sweepRecordings = () => {
    const removed = recordings.sweep();
    if (removed.length) log.info({ removed: removed.length }, 'recordings removed by retention');
  };
  sweepRecordings();
  const sweepTimer = setInterval(sweepRecordings, 3600_000);
  sweepTimer.unref();
  // the gateway's open connections to guacd: a tunnel handoff admits a peer on this machine only if it is their far end's user
  const guacdSockets = new Set<Socket>();
  const tunnels = await startTunnels({ ...config.tunnels, pingIntervalMs: opts.tunnelPingMs, refusalLimit: opts.refusalLimit }, { guacdHost: () => guacdTarget().host, guacdPort: () => guacdTarget().port, guacdConnections: () => guacdSockets, audit, log, clientIp: (req) => clientIpOf(req, trust) });
  const tunnelUp = (name: string) => tunnels.registry.isUp(name);
  const warnUnknownTunnels = (c: Config) => {
    for (const w of unknownTunnelWarnings(c.apps, tunnels.store.list())) log.warn(w);
  };
  warnUnknownTunnels(config);
  const authenticator = createAuthenticator();

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.server.trustedProxies.length ? config.server.trustedProxies : false);
  app.use(securityHeaders(publicUrl));
  app.get('/healthz', (_req, res) => void res.json({ ok: true }));
  app.use(sessions.middleware);
  app.use(authenticator.session());
  app.use(attachSignedIn(sessions));
  app.use(requireSameOrigin(allowedOrigins));
  app.use(express.json({ limit: '16kb' }));

  const endDesktopsOf = (sessionId: string, message: string, reason: string) =>
    live.endWhere((s) => s.signInSession === sessionId, { code: 769, message }, reason);

  const signInRefusals = new RefusalThrottle((ip, n, windowMs) => {
    const reason = `${n} more failed sign-ins in ${windowMs / 1000} s, after too many to log one by one`;
    log.warn({ ip, failures: n }, `sign-in failed: ${reason}`);
    audit.write({ event: 'sign-in', result: 'failure', ip, reason });
  }, opts.refusalLimit);
  app.use(authRoutes({ idp, sessions, publicUrl, audit, log, refusals: signInRefusals, onSignOut: (s, message) => endDesktopsOf(s.sessionId, message, 'user signed out') }, authenticator));
  // rebuilt when a reload replaces the config
  const indexes = new WeakMap<Config, ListingIndex<AppConfig>>();
  const listingIndex = () => {
    let index = indexes.get(config);
    if (!index) indexes.set(config, (index = buildListingIndex(config.apps, config.accessGroups)));
    return index;
  };
  app.use(
    launcherRoutes({
      apps,
      candidates: (req) => listingIndex().candidates(accessFor(req, undefined)),
      decide: (req, a, purpose, explain) => {
        const d = evaluate(a, config.accessGroups, accessFor(req, purpose), { explain });
        // the listing asks for thousands of decisions and shows no messages
        return explain === false ? d : launchDecision(d);
      },
      tokens,
      probe,
      tunnelUp,
      audit,
      requireSignedIn: requireSignedInApi,
      requireCsrf: requireCsrfToken,
    }),
  );

  app.use(
    adminRoutes({
      isAdmin: (req) => adminDecision(accessFor(req, undefined)),
      recordings,
      live: () => live.list().map((s) => ({ id: s.id, user: s.user, username: s.username, app: s.app, startedAt: s.startedAt, watching: s.watching })),
      endSession: (id, message, reason) => {
        const s = live.get(id);
        if (!s) return false;
        // CLIENT_FORBIDDEN: an explained end, the page does not reconnect
        s.relay.end({ code: 771, message }, reason);
        return true;
      },
      watchTicket: (req, id) => {
        const s = live.get(id);
        if (!s || s.watching) return undefined;
        const me = req.signedIn!;
        return { token: tokens.mint({ user: me.identity.key, session: me.sessionId, app: s.app, watch: id }), websocketPath: DESKTOP_WS_PATH };
      },
      audit,
      requireSignedIn: requireSignedInApi,
      requireCsrf: requireCsrfToken,
    }),
  );

  const page = (file: string): express.RequestHandler => (_req, res) => {
    const full = path.join(webRoot, file);
    if (!existsSync(full)) return void res.status(503).type('text').send('The web UI is not built. Run `npm run build`.');
    res.set('Cache-Control', 'no-store').sendFile(full);
  };
  app.get('/', requireSignedInPage(publicUrl), page('index.html'));
  app.get('/desktop/:id', requireSignedInPage(publicUrl), page('desktop.html'));
  // deep link, as Cloudflare Access app URLs: sign in if needed, then straight to the desktop
  app.get('/apps/:id', requireSignedInPage(publicUrl), (req, res) => res.redirect(302, `/desktop/${encodeURIComponent(String(req.params.id))}`));
  app.get('/signed-out', page('signed-out.html'));
  app.get('/admin', requireSignedInPage(publicUrl), page('admin.html'));
  app.use(express.static(webRoot, { index: false, fallthrough: true }));
  app.use((req, _res, next) => next(new RouteNotFound(`${req.method} ${req.path}`)));
  app.use(errorHandler(log));

  const trust = app.get('trust proxy fn') as TrustFn;
  const server: Server = config.server.tls
    ? (createHttpsServer({ cert: readFileSync(config.server.tls.certFile), key: readFileSync(config.server.tls.keyFile) }, app) as unknown as Server)
    : createHttpServer(app);

  /** Who is asking, from where, for a WebSocket upgrade: what access is decided on then and later. */
  const upgradeAccess = (s: SignedIn, req: IncomingMessage, purpose: string | undefined): LiveAccess => ({
    identity: s.identity,
    signedInAt: s.signedInAt,
    ip: clientIpOf(req, trust),
    country: countryFrom(req.headers, req.socket.remoteAddress),
    purpose,
  });
  const desktopRefusals = new RefusalThrottle((ip, n, windowMs) => {
    const reason = `${n} more desktop connections refused before a sign-in in ${windowMs / 1000} s, after too many to log one by one`;
    log.warn({ ip, refusals: n }, `desktop upgrade refused: ${reason}`);
    audit.write({ event: 'access-denied', result: 'denied', ip, reason });
  }, opts.refusalLimit);
  const upgrade = createDesktopUpgradeHandler<SignedIn, LiveAccess>({
    refusals: desktopRefusals,
    onGuacdConnection(sock) {
      guacdSockets.add(sock);
      sock.once('close', () => guacdSockets.delete(sock));
    },
    allowedOrigins,
    async identify(req) {
      const s = await sessions.load(req);
      return s ? { user: s.identity.key, username: s.identity.username, sessionId: s.sessionId, principal: s } : null;
    },
    authorize(caller, req, a, purpose) {
      const context = upgradeAccess(caller.principal, req, purpose);
      const ip = context.ip;
      const d = decide(a, context);
      if (!d.allowed) {
        audit.write({ event: 'access-denied', result: 'denied', user: caller.user, username: caller.username, ip, app: a.id, reason: `websocket: ${d.code}`, decision: d.code, policy: d.policy, reasons: d.reasons });
      }
      const status = d.code === 'session_expired' ? 401 : 403;
      const code = d.code === 'session_expired' ? 'reauth_required' : d.code === 'purpose_required' ? 'purpose_required' : 'access_denied';
      return { allowed: d.allowed, status, code, message: publicReason(d), data: d.dataControls, record: d.recordSession, context };
    },
    tokens,
    async route(a, session) {
      if (!a.via) return { host: a.host, port: a.port, close: () => undefined };
      try {
        return await tunnels.route(a.via, a.host, a.port, session);
      } catch (err) {
        if (!(err instanceof TunnelError)) throw err;
        // UPSTREAM_NOT_FOUND ("could not be reached") fits every tunnel failure but a slow answer
        const status = err.kind === 'timeout' ? 514 : 519;
        throw new RouteError(status, publicTunnelMessage(err), err.message);
      }
    },
    app: (id) => apps().find((a) => a.id === id),
    credentials: (a) => secrets.appCreds.get(a.id) ?? {},
    guacd: guacdTarget,
    live,
    audit,
    log,
    clientIp: (req) => clientIpOf(req, trust),
    limits: opts.relayLimits,
    authorizeWatch(caller, req) {
      const d = adminDecision(accessRequest(upgradeAccess(caller.principal, req, undefined)));
      return { allowed: d.allowed, message: 'Only Drawbridge administrators can watch sessions.' };
    },
    recorder: (meta) => recordings.start(meta),
    drives: { folders: new DriveFolders(config.drives.root, config.drives.guacdRoot, config.drives.name), maxUploadBytes: config.drives.maxUploadMB * 1024 * 1024 },
  });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    if (pathname === DESKTOP_WS_PATH) return upgrade(req, socket, head);
    if (pathname === TUNNEL_PATH) return tunnels.upgrade(req, socket, head);
    refuseUpgrade(socket, 404);
  });

  // A desktop lives only as long as the sign-in that opened it and the policy that allowed it.
  const recheck = async () => {
    for (const s of live.list()) {
      if (!(await sessions.isLive(s.signInSession))) {
        s.relay.end({ code: 769, message: 'Your sign-in has ended. Sign in again to reopen the desktop.' }, 'sign-in session ended or expired');
        continue;
      }
      const a = apps().find((x) => x.id === s.app);
      const d = a ? decide(a, s.context) : undefined;
      if (d?.allowed) continue;
      const code = d?.code ?? 'app_removed';
      audit.write({ event: 'access-denied', result: 'denied', user: s.user, username: s.context.identity.username, ip: s.context.ip, app: s.app, reason: `live session re-check: ${code}`, decision: code, policy: d?.policy, reasons: d?.reasons, session: s.id });
      const message = !d ? 'This desktop was removed by your administrator.' : d.code === 'session_expired' ? publicReason(d) : 'Your access to this desktop was removed by a policy change. ' + publicReason(d);
      s.relay.end({ code: d?.code === 'session_expired' ? 769 : 771, message }, `access re-check: ${code}`);
    }
  };
  const recheckTimer = setInterval(() => void recheck(), opts.liveRecheckMs ?? config.server.policyRecheckSeconds * 1000);
  recheckTimer.unref();

  const reload = (raw?: unknown): boolean => {
    try {
      const next = raw === undefined ? loadConfigFile(opts.configFile!) : parseConfig(raw, 'reload');
      const nextSecrets = secretsOf(next, env, opts.configFile);
      // what was built from these at start (listeners, the IdP client, the audit file, the tunnel
      // store, the recorder) stays as it is until a restart; the rest applies now
      const fixed = ['server', 'identity', 'guacd', 'audit', 'metrics', 'tunnels', 'recordings', 'drives'] as const;
      const changed = fixed.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(config[k]));
      if (changed.length) log.warn({ sections: changed }, `config reload: changes to ${changed.join(', ')} take effect at the next restart`);
      config = { ...next, ...Object.fromEntries(fixed.map((k) => [k, config[k]])) };
      secrets = { ...secrets, appCreds: nextSecrets.appCreds };
      log.info({ apps: config.apps.length }, 'config reloaded');
      warnUnknownTunnels(config);
      audit.write({ event: 'config-reload', result: 'success', reason: `${config.apps.length} apps` });
      void recheck();
      return true;
    } catch (err) {
      const why = err instanceof ConfigError ? err.problems.map((p) => `${p.path}: ${p.message}`).join('; ') : String(err);
      log.error({ reason: why }, 'config reload refused; the previous config stays in force');
      audit.write({ event: 'config-reload', result: 'failure', reason: why });
      return false;
    }
  };
  let watchers: FSWatcher[] = [];
  if (opts.configFile) {
    const file = opts.configFile;
    let debounce: NodeJS.Timeout | undefined;
    const textOf = () => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
    };
    let seen = textOf();
    // Directories, not the file: a save by rename (editors, sed -i) leaves a watch on the file
    // looking at the old inode; a Kubernetes ConfigMap swaps a `..data` link and never touches the
    // file's own name; a symlinked file is edited where it really lives. So any change in either
    // directory is looked at, and the config is reloaded when its text changed.
    const dirs = new Set([path.dirname(path.resolve(file))]);
    try {
      dirs.add(path.dirname(realpathSync(file)));
    } catch {
      // not there now: its directory is watched for it
    }
    watchers = [...dirs].map((dir) =>
      watch(dir, () => {
        // not pushed back by each event: other files in the directory (the audit log, say) may
        // change all the time, and the check would never come
        if (debounce) return;
        debounce = setTimeout(() => {
          debounce = undefined;
          const text = textOf();
          if (text === undefined || text === seen) return;
          seen = text;
          reload();
        }, 200);
      }),
    );
    for (const w of watchers) w.unref();
  }
  const closeWatchers = () => {
    for (const w of watchers) w.close();
  };

  // not close(): that flushes the session store, which would write this instance's copy over the
  // state file of the gateway that may be holding the port
  const listenFailed = async (at: string, value: string, err: unknown) => {
    closeWatchers();
    clearInterval(recheckTimer);
    clearInterval(sweepTimer);
    await tunnels.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!opts.audit) await audit.close();
    return listenFailure('gateway config', at, value, err);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.server.listen.port, config.server.listen.host, () => resolve());
    });
  } catch (err) {
    throw await listenFailed('server.listen', `${config.server.listen.host}:${config.server.listen.port}`, err);
  }
  const port = (server.address() as AddressInfo).port;
  let metricsServer;
  try {
    metricsServer = config.metrics ? await startMetricsServer(config.metrics.listen, tunnels.registry.metrics, () => ({ ready: true })) : undefined;
  } catch (err) {
    throw await listenFailed('metrics.listen', config.metrics!.listen, err);
  }
  if (metricsServer) log.info({ listen: metricsServer.address }, 'metrics on /metrics');
  log.info({ url: publicUrl, listen: `${config.server.listen.host}:${port}` }, `Drawbridge gateway listening; open ${publicUrl}`);
  void probe.check().then((h) => {
    const g = guacdTarget();
    if (h.reachable) log.info({ guacd: `${g.host}:${g.port}` }, 'guacd is reachable');
    else log.warn({ guacd: `${g.host}:${g.port}`, error: h.error }, `guacd at ${g.host}:${g.port} is not answering (${h.error}); desktops will not open until it does`);
  });

  return {
    url: publicUrl,
    port,
    server,
    live,
    tunnels,
    metricsPort: metricsServer?.port,
    audit,
    log,
    config: () => config,
    reload,
    recheck,
    async close() {
      log.info({ live: live.size }, 'gateway stopping: ending live desktops and tunnel connections');
      clearInterval(recheckTimer);
      clearInterval(sweepTimer);
      closeWatchers();
      live.endWhere(() => true, { code: 523, message: 'The gateway is shutting down. Open the desktop again in a moment.' }, 'gateway shutdown');
      await tunnels.close();
      // after the doors: what they held back is logged now, and any refusal after this in full
      signInRefusals.close();
      desktopRefusals.close();
      await metricsServer?.close();
      sessions.store.flush();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (!opts.audit) await audit.close();
    },
  };
}
