import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../config/load-config.js';
import { startDevIdp } from '../dev-idp/dev-idp.js';
import { startGateway } from '../gateway.js';
import { createLogger, type Logger } from '../log/logger.js';
import { demoUsersFile, loadDevUsers } from '../dev-idp/users.js';
import { tunnelTarget } from '../tunnel/tunnel-cli.js';
import { writeDemoTarget } from './demo-target.js';

/** The tunnel the demo's third desktop goes through (`drawbridge tunnel create office-1 --demo`). */
export const DEMO_TUNNEL = 'office-1';

export interface DemoOptions {
  host: string;
  port: number;
  idpPort: number;
  stateDir: string;
  /** The third desktop, reached through tunnel office-1 (default on). */
  tunnelApp?: boolean;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
}

/**
 * The whole demo in one process: the DEVELOPMENT IdP and a gateway in development mode that trusts
 * it. Secrets are random per run and never leave the process.
 */
export async function runDemo(opts: DemoOptions) {
  const env = opts.env ?? process.env;
  const log = opts.log ?? createLogger();
  const clientSecret = randomBytes(24).toString('base64url');
  const publicUrl = `http://localhost:${opts.port}`;
  const idp = await startDevIdp({
    host: opts.host,
    port: opts.idpPort,
    hostname: 'localhost',
    users: loadDevUsers(demoUsersFile()),
    clients: [{ clientId: 'drawbridge-demo', clientSecret, redirectUris: [`${publicUrl}/auth/callback`] }],
    stateDir: opts.stateDir,
    log,
  });
  // both demo apps reach the same desktop; what differs is who may open them, and how
  const desktop = {
    host: env.DEMO_RDP_HOST || '127.0.0.1',
    port: Number(env.DEMO_RDP_PORT) || 3389,
    rdp: { security: 'any', ignoreCert: true, ...(env.DEMO_RDP_USERNAME ? { username: { env: 'DEMO_RDP_USERNAME' }, password: { env: 'DEMO_RDP_PASSWORD' } } : {}) },
  };
  const tunnelDesktop = {
    id: 'tunnel-desktop',
    name: 'Demo desktop through a tunnel',
    description: `The same desktop, reached through a connector that dials out (tunnel ${DEMO_TUNNEL}): see "Try a tunnel" in the README`,
    icon: 'linux',
    ...desktop,
    via: DEMO_TUNNEL,
    policies: [{ name: 'engineering', action: 'allow', include: [{ group: '22222222-2222-4222-8222-222222222222', name: 'Engineering' }] }],
  };
  const config = parseConfig(
    {
      server: { mode: 'development', listen: { host: opts.host, port: opts.port }, publicUrl, sessionSecret: { value: randomBytes(32).toString('base64url') } },
      identity: { provider: 'entra', tenantId: idp.tenantId, clientId: 'drawbridge-demo', clientSecret: { value: clientSecret }, authority: idp.origin, caFile: idp.caFile },
      guacd: { host: env.GUACD_HOST || '127.0.0.1', port: Number(env.GUACD_PORT) || 4822 },
      tunnels: { stateFile: path.join(opts.stateDir, 'tunnels.json') },
      drives: { root: path.join(opts.stateDir, 'drives') },
      recordings: { dir: path.join(opts.stateDir, 'recordings') },
      // alice (Desktop Admins, MFA) may open /admin and play back the admin desktop's recordings
      admin: { policies: [{ name: 'desktop admins', action: 'allow', include: [{ accessGroup: 'desktop-admins' }] }] },
      accessGroups: {
        // the demo users' groups (server/dev-idp/demo-users.yml)
        'desktop-admins': { include: [{ group: '11111111-1111-4111-8111-111111111111', name: 'Desktop Admins' }], require: [{ authMethod: 'mfa' }] },
      },
      apps: [
        {
          id: 'admin-desktop',
          name: 'Admin desktop',
          description: 'For Desktop Admins signed in with MFA; asks for a reason (alice)',
          icon: 'server',
          ...desktop,
          sessionDuration: '8h',
          policies: [{ name: 'admins with MFA', action: 'allow', include: [{ accessGroup: 'desktop-admins' }], purposeJustification: true, recordSessions: true }],
        },
        {
          id: 'demo-desktop',
          name: 'Demo desktop',
          description: 'A Linux desktop over RDP (xrdp in Docker, or any RDP server at DEMO_RDP_HOST:DEMO_RDP_PORT)',
          icon: 'linux',
          ...desktop,
          // Engineering (alice, bob) may copy out; carol sees no tiles at all
          policies: [{ name: 'engineering', action: 'allow', include: [{ group: '22222222-2222-4222-8222-222222222222', name: 'Engineering' }] }],
        },
        ...(opts.tunnelApp === false ? [] : [tunnelDesktop]),
      ],
    },
    'demo',
  );
  let gateway;
  try {
    gateway = await startGateway({ config, log, env });
  } catch (err) {
    await idp.close();
    throw err;
  }
  try {
    writeDemoTarget(opts.stateDir, tunnelTarget(config));
  } catch (err) {
    await gateway.close();
    await idp.close();
    throw err;
  }
  log.warn(
    { idp: idp.issuer, users: 'alice@contoso.example / alice, bob@contoso.example / bob, carol@contoso.example / carol' },
    `DEMO MODE with the DEVELOPMENT identity provider (not for production). Open ${publicUrl} and sign in as alice@contoso.example (password alice). The IdP uses a development CA: your browser will warn about ${idp.origin} once.`,
  );
  return {
    gateway,
    idp,
    async close() {
      await gateway.close();
      await idp.close();
    },
  };
}
