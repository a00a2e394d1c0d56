import { z } from 'zod';
import { secretRefSchema } from './secret-ref.js';
import { SERVER_LAYOUTS } from './keyboard-layouts.js';
import { durationSchema, ipRange, policySchema, ruleSetSchema } from './policy-schema.js';

const port = z.number().int().min(1).max(65535);

const cidr = ipRange;

const httpUrl = z.url({ protocol: /^https?$/ }).refine((u) => {
  const url = new URL(u);
  return url.pathname === '/' && !url.search && !url.hash;
}, 'must be an origin without a path, e.g. https://desktops.example.com');

const guid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a GUID');

export const serverSchema = z.strictObject({
  mode: z.enum(['production', 'development']).default('production'),
  listen: z
    .strictObject({ host: z.string().min(1).default('0.0.0.0'), port: port.default(8443) })
    .prefault({}),
  publicUrl: httpUrl,
  tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
  trustedProxies: z.array(cidr).default([]),
  allowedOrigins: z.array(httpUrl).default([]),
  /** Header a trusted proxy sets with the client's country (e.g. CF-IPCountry); ignored from anyone else. */
  countryHeader: z.string().regex(/^[A-Za-z0-9-]+$/).optional(),
  /** How often live desktops are re-checked against the policies, in seconds. */
  policyRecheckSeconds: z.number().int().min(1).max(3600).default(60),
  sessionSecret: secretRefSchema,
  session: z
    .strictObject({
      idleMinutes: z.number().positive().max(24 * 60).default(30),
      absoluteHours: z.number().positive().max(24 * 30).default(12),
      maxSessions: z.number().int().min(1).default(10_000),
      /** Keep sign-ins across gateway restarts in this file (encrypted with the session secret), so open desktops reconnect. */
      stateFile: z.string().min(1).optional(),
    })
    .prefault({}),
});

const scopes = z.array(z.string().min(1)).default(['openid', 'profile', 'email']);

export const entraSchema = z.strictObject({
  provider: z.literal('entra'),
  tenantId: guid,
  clientId: z.string().min(1),
  clientSecret: secretRefSchema,
  /** Tenants whose users may sign in; defaults to the home tenant only. */
  allowedTenants: z.array(guid).optional(),
  /** Sovereign clouds (login.microsoftonline.us, …) and the development IdP change this. */
  authority: httpUrl.default('https://login.microsoftonline.com'),
  caFile: z.string().min(1).optional(),
  scopes,
});

export const oidcSchema = z.strictObject({
  provider: z.literal('oidc'),
  issuer: z.url({ protocol: /^https?$/ }),
  clientId: z.string().min(1),
  clientSecret: secretRefSchema,
  caFile: z.string().min(1).optional(),
  scopes,
  claims: z
    .strictObject({
      id: z.string().default('sub'),
      name: z.string().default('name'),
      username: z.string().default('preferred_username'),
      email: z.string().default('email'),
      groups: z.string().default('groups'),
      amr: z.string().default('amr'),
    })
    .prefault({}),
});

export const identitySchema = z.discriminatedUnion('provider', [entraSchema, oidcSchema]);

export const rdpSchema = z.strictObject({
  security: z.enum(['any', 'nla', 'nla-ext', 'tls', 'vmconnect', 'rdp']).default('any'),
  ignoreCert: z.boolean().default(false),
  domain: z.string().optional(),
  username: secretRefSchema.optional(),
  password: secretRefSchema.optional(),
  /**
   * Without a configured username, pass the signed-in user's name through: `upn` as signed in
   * (alice@contoso.com), `short` the part before the @ (with `domain` for DOMAIN\alice). guacd then
   * asks for the password and the page prompts for it.
   */
  ssoUsername: z.enum(['upn', 'short']).optional(),
  colorDepth: z.union([z.literal(8), z.literal(16), z.literal(24), z.literal(32)]).optional(),
  resizeMethod: z.enum(['display-update', 'reconnect', 'none']).default('display-update'),
  /** The desktop's keyboard layout as guacd should assume it; users may pick another (or failsafe) in the page. */
  serverLayout: z.enum(SERVER_LAYOUTS, 'must be a guacd server layout such as en-us-qwerty, de-de-qwertz or failsafe').optional(),
  clipboard: z
    .strictObject({ copy: z.boolean().default(true), paste: z.boolean().default(true) })
    .prefault({}),
  audio: z.boolean().default(true),
  /**
   * File transfer: a drive in the desktop backed by the user's own folder under drives.root
   * (never shared between users). Uploads and downloads still need the policy's dataControls.
   */
  drive: z.boolean().default(false),
  /** A "Drawbridge PDF" printer in the desktop; printed documents download in the browser (a download: needs dataControls.fileDownload). */
  printing: z.boolean().default(false),
});

export const appSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes'),
  name: z.string().min(1).max(80),
  description: z.string().max(300).default(''),
  icon: z.enum(['windows', 'linux', 'server', 'terminal']).default('windows'),
  protocol: z.literal('rdp').default('rdp'),
  host: z.string().min(1),
  port: port.default(3389),
  rdp: rdpSchema.prefault({}),
  /** Ordered; none matching means no access (deny by default). */
  policies: z.array(policySchema).default([]),
  /** After this long since sign-in the user must sign in again to use this app. */
  sessionDuration: durationSchema.optional(),
  /** Reach the host through this tunnel's connector (`drawbridge tunnel create NAME`) instead of directly. */
  via: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a tunnel name: lower-case letters, digits and dashes').optional(),
});

const ipAddress = z.string().refine((s) => ipRange.safeParse(s).success && !s.includes('/'), 'must be an IP address');

export const tunnelsSchema = z.strictObject({
  /** Tunnels and the hashes of their secrets; edited by `drawbridge tunnel create/revoke`. */
  stateFile: z.string().min(1).default('drawbridge-tunnels.json'),
  /** Unix socket for `drawbridge tunnel list/revoke`; defaults to STATEFILE.sock. */
  adminSocket: z.string().min(1).optional(),
  /** Where guacd dials a tunnelled desktop: a one-connection listener per session. */
  handoff: z
    .strictObject({
      listen: z.string().min(1).default('127.0.0.1'),
      /** The name guacd uses for this gateway when it runs elsewhere (e.g. the compose service name). */
      advertise: z.string().min(1).optional(),
      timeoutSeconds: z.number().min(1).max(120).default(10),
    })
    .prefault({}),
  /** Addresses guacd connects from; by default those guacd.host resolves to. */
  guacdAddresses: z.array(ipAddress).optional(),
  /** How long the connector may take to reach a desktop. */
  openTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
});

export const configSchema = z
  .strictObject({
    server: serverSchema,
    identity: identitySchema,
    guacd: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(4822),
        connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
      })
      .prefault({}),
    audit: z.strictObject({ file: z.string().min(1).optional() }).prefault({}),
    tunnels: tunnelsSchema.prefault({}),
    /** Session recordings, for policies with recordSessions: indexed by the gateway, played back on /admin. */
    recordings: z
      .strictObject({
        /** Where recordings are kept, as the gateway sees it. */
        dir: z.string().min(1).default('drawbridge-recordings'),
        /**
         * guacd: guacd writes them (recording-path), so it must be able to write to dir (guacd on this
         * host, or a volume both containers mount). gateway: the relay writes them, for a guacd that
         * shares no directory with the gateway.
         */
        writer: z.enum(['guacd', 'gateway']).default('guacd'),
        /** The same directory as guacd sees it, when guacd runs elsewhere with it mounted (default: dir). */
        guacdDir: z.string().regex(/^\//, 'must be an absolute path').optional(),
        /** Older recordings are deleted. */
        retentionDays: z.number().min(1).max(3650).default(90),
        /** Past this total the oldest recordings are deleted. */
        maxTotalMB: z.number().int().min(1).default(51_200),
      })
      .prefault({}),
    /** Who may use /admin (recordings); policies as for apps. Nobody by default. */
    admin: z.strictObject({ policies: z.array(policySchema).default([]) }).prefault({}),
    /** Per-user folders behind apps with rdp.drive. */
    drives: z
      .strictObject({
        /** Where the gateway keeps them (created as needed, mode 0700). */
        root: z.string().min(1).default('drawbridge-drives'),
        /** The same directory as guacd sees it, when guacd runs elsewhere with it mounted (default: root). */
        guacdRoot: z.string().min(1).optional(),
        /** Larger uploads are stopped at the gateway and their partial file removed. */
        maxUploadMB: z.number().int().min(1).max(10_240).default(100),
        /** The drive's name inside the desktop. */
        name: z.string().min(1).max(32).default('Drawbridge'),
      })
      .prefault({}),
    /** Prometheus /metrics (per tunnel) on a separate, normally local, port. */
    metrics: z.strictObject({ listen: z.string().regex(/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):[0-9]{1,5}$/i, 'must be HOST:PORT, e.g. 127.0.0.1:9301') }).optional(),
    /** Reusable named rule sets (Cloudflare's "Access groups"), referenced as { accessGroup: name }. */
    accessGroups: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lower-case letters, digits and dashes'), ruleSetSchema).default({}),
    apps: z.array(appSchema).default([]),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.apps.forEach((app, i) => {
      if (seen.has(app.id)) ctx.addIssue({ code: 'custom', path: ['apps', i, 'id'], message: `duplicate app id "${app.id}"` });
      seen.add(app.id);
    });
    const groups = new Set(Object.keys(cfg.accessGroups));
    const checkRefs = (rules: Array<Record<string, unknown>>, path: (string | number)[]) =>
      rules.forEach((r, k) => {
        if ('accessGroup' in r && !groups.has(r.accessGroup as string)) ctx.addIssue({ code: 'custom', path: [...path, k, 'accessGroup'], message: `no access group named "${String(r.accessGroup)}"` });
      });
    const parts = ['include', 'require', 'exclude'] as const;
    cfg.apps.forEach((app, i) => app.policies.forEach((p, j) => parts.forEach((part) => checkRefs(p[part], ['apps', i, 'policies', j, part]))));
    for (const [name, set] of Object.entries(cfg.accessGroups)) {
      parts.forEach((part) =>
        set[part].forEach((r, k) => {
          // groups may not nest: a cycle would make evaluation loop
          if ('accessGroup' in r) ctx.addIssue({ code: 'custom', path: ['accessGroups', name, part, k], message: 'access groups cannot reference other access groups' });
        }),
      );
    }
    if (cfg.server.mode !== 'production') return;
    if (new URL(cfg.server.publicUrl).protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', path: ['server', 'publicUrl'], message: 'must be https in production (set server.mode: development to test over http)' });
    }
    const inline: (string | number)[][] = [];
    if ('value' in cfg.server.sessionSecret) inline.push(['server', 'sessionSecret']);
    if ('value' in cfg.identity.clientSecret) inline.push(['identity', 'clientSecret']);
    cfg.apps.forEach((app, i) => {
      for (const k of ['username', 'password'] as const) {
        const ref = app.rdp[k];
        if (ref && 'value' in ref) inline.push(['apps', i, 'rdp', k]);
      }
    });
    for (const path of inline) {
      ctx.addIssue({ code: 'custom', path, message: 'inline secret values are for development only; use { env: NAME } or { file: PATH }' });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type AppConfig = z.infer<typeof appSchema>;
export type IdentityConfig = z.infer<typeof identitySchema>;
export type ServerConfig = z.infer<typeof serverSchema>;
