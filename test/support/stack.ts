import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { AuditLog } from '../../server/audit/audit-log.js';
import { parseConfig } from '../../server/config/load-config.js';
import { ensureDevCa, issueServerCert } from '../../server/dev-idp/dev-ca.js';
import { startDevIdp, type DevIdp } from '../../server/dev-idp/dev-idp.js';
import { demoUsersFile, loadDevUsers, type DevUser } from '../../server/dev-idp/users.js';
import { startGateway, type Gateway, type GatewayOptions } from '../../server/gateway.js';
import { freePort } from './free-port.js';
import { HttpClient } from './http-client.js';

export interface StackOptions {
  guacd: { host: string; port: number };
  apps?: unknown[];
  users?: DevUser[];
  /** Overrides merged into the gateway config (shallow per section). */
  server?: Record<string, unknown>;
  identity?: Record<string, unknown>;
  gateway?: Partial<GatewayOptions>;
  /** Log lines land here so tests can check what was (not) logged. */
  logLines?: string[];
  accessGroups?: Record<string, unknown>;
  /** Merged into the gateway's tunnels section; the state file and admin socket default into stateDir. */
  tunnels?: Record<string, unknown>;
  /** admin.policies: who may use /admin. */
  admin?: { policies: unknown[] };
  /** Merged into the gateway's drives section; the root defaults into stateDir. */
  drives?: Record<string, unknown>;
  recordings?: Record<string, unknown>;
  /** The gateway's Prometheus endpoint (`metrics.listen`); port 0 picks a free one (Gateway.metricsPort). */
  metrics?: { listen: string };
  /** Serve the gateway over plain http (benchmarks measure the relay, not TLS). */
  plainHttp?: boolean;
  /** A directory whose development CA the test already uses (see `testCa`). */
  stateDir?: string;
}

export interface Stack {
  idp: DevIdp;
  gateway: Gateway;
  url: string;
  caPem: string;
  audit: AuditLog;
  logLines: string[];
  stateDir: string;
  client(): HttpClient;
  close(): Promise<void>;
}

export const ALLOW_EVERYONE = { name: 'everyone (test default)', action: 'allow', include: [{ everyone: true }] };
export const CLIENT_ID = 'drawbridge-test';
export const CLIENT_SECRET = 'test-client-secret-0123456789';
export const SESSION_SECRET = 'test-session-secret-0123456789abcdef';

/** A fresh state directory with a development CA, for tests that need the CA before the stack. */
export function testCa() {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'dbx-stack-'));
  return { stateDir, ...ensureDevCa(stateDir) };
}

/** Dev IdP + gateway, both over https with a CA only this test process trusts. */
export async function startStack(opts: StackOptions): Promise<Stack> {
  const stateDir = opts.stateDir ?? testCa().stateDir;
  const ca = ensureDevCa(stateDir);
  const port = await freePort();
  const url = `${opts.plainHttp ? 'http' : 'https'}://localhost:${port}`;
  const logLines = opts.logLines ?? [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
  const idp = await startDevIdp({
    port: 0,
    log,
    users: opts.users ?? loadDevUsers(demoUsersFile()),
    clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`${url}/auth/callback`] }],
    stateDir,
  });
  const cert = issueServerCert(ca, ['localhost'], ['127.0.0.1']);
  writeFileSync(path.join(stateDir, 'gw.pem'), cert.certPem);
  writeFileSync(path.join(stateDir, 'gw-key.pem'), cert.keyPem);
  const audit = new AuditLog(path.join(stateDir, 'audit.jsonl'), { keepInMemory: true });
  const config = parseConfig({
    server: {
      mode: 'development',
      listen: { host: '127.0.0.1', port },
      publicUrl: url,
      ...(opts.plainHttp ? {} : { tls: { certFile: path.join(stateDir, 'gw.pem'), keyFile: path.join(stateDir, 'gw-key.pem') } }),
      sessionSecret: { value: SESSION_SECRET },
      ...opts.server,
    },
    identity: {
      provider: 'entra',
      tenantId: idp.tenantId,
      clientId: CLIENT_ID,
      clientSecret: { value: CLIENT_SECRET },
      authority: idp.origin,
      caFile: idp.caFile,
      ...opts.identity,
    },
    guacd: { host: opts.guacd.host, port: opts.guacd.port, connectTimeoutMs: 5000 },
    // deny by default is the product's rule; tests about other things give their apps an
    // explicit allow-everyone policy unless they bring their own
    apps: (opts.apps ?? []).map((a) => ({ policies: [ALLOW_EVERYONE], ...(a as object) })),
    accessGroups: opts.accessGroups ?? {},
    tunnels: { stateFile: path.join(stateDir, 'tunnels.json'), ...opts.tunnels },
    drives: { root: path.join(stateDir, 'drives'), ...opts.drives },
    recordings: { dir: path.join(stateDir, 'recordings'), ...opts.recordings },
    admin: opts.admin ?? { policies: [] },
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  });
  let gateway: Gateway;
  try {
    gateway = await startGateway({ config, log, audit, env: {}, ...opts.gateway });
  } catch (err) {
    await idp.close();
    throw err;
  }
  return {
    idp,
    gateway,
    url,
    caPem: ca.certPem,
    audit,
    logLines,
    stateDir,
    client: () => new HttpClient(ca.certPem),
    async close() {
      await gateway.close();
      await idp.close();
      await audit.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
