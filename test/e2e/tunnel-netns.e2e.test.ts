/// <reference lib="dom" />
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { stringify } from 'yaml';
import { ensureDevCa, issueServerCert } from '../../server/dev-idp/dev-ca.js';
import { artifactPath, canvasColours, CHROMIUM } from '../support/browser.js';
import { outputLines } from '../support/child-output.js';
import { CLI, spawnConnector, until, type ConnectorProcess } from '../support/connector.js';
import { guacdBinary } from '../support/guacd.js';
import { createLab, netnsUnavailable, type Lab } from '../support/netns.js';
import { rdpServerUnavailable, startRdpServer, type RdpServer } from '../support/rdp-server.js';
import { tcpSocketsOf, tcpSocketsUnavailable } from '../support/tcp-sockets.js';

/**
 * The point of the tunnel, proven: the desktop and the connector live in a "private" network
 * namespace that the "edge" namespace (gateway, guacd, the browser) cannot open a single
 * connection into. Chromium in edge signs in and opens the desktop anyway, because the connector
 * dialled out. The RDP server is the real one; guacd is real when this machine has one.
 */
const why = netnsUnavailable() ?? rdpServerUnavailable();
if (why) process.stderr.write(`SKIP tunnel network-namespace e2e: ${why}\n`);
const noSocketReader = why ? undefined : tcpSocketsUnavailable();
if (noSocketReader) process.stderr.write(`SKIP tunnel network-namespace e2e, Nagle's flag at both ends: ${noSocketReader}\n`);

const GATEWAY_PORT = 8443;
/** A port something listens on inside private, to show the firewall drops what edge sends to it. */
const PROBE_PORT = 9922;
const IDP_PORT = 9443;
const GUACD_PORT = 4822;
const CLIENT_SECRET = 'netns-client-secret-0123456789';

interface Child {
  proc: ChildProcess;
  lines: string[];
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

function child(cmd: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(cmd[0]!, cmd.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = outputLines(proc);
  return {
    proc,
    lines,
    waitFor: (re, timeoutMs = 20_000) => until(`${cmd.slice(0, 6).join(' ')} to print ${re}`, () => lines.find((l) => re.test(l)) ?? (proc.exitCode !== null ? Promise.reject(new Error(`${cmd.join(' ')} exited ${proc.exitCode}: ${lines.slice(-5).join(' | ')}`)) : undefined), timeoutMs, 100),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await new Promise((r) => proc.once('exit', r));
      clearTimeout(t);
    },
  };
}

describe.skipIf(Boolean(why))('tunnel across network namespaces, in Chromium', () => {
  let lab: Lab;
  let dir: string;
  let rdp: RdpServer;
  const children: Child[] = [];
  let guacd: Child;
  let gateway: Child;
  let connector: ConnectorProcess;
  let connectorCfg: Parameters<typeof spawnConnector>[2];
  let token: string;
  let browser: Browser;
  let page: Page;
  const guacdBin = guacdBinary();
  const gatewayUrl = `https://localhost:${GATEWAY_PORT}`;

  beforeAll(async () => {
    lab = createLab();
    dir = mkdtempSync(path.join(tmpdir(), 'dbt-netns-'));
    const ca = ensureDevCa(dir);
    // the browser (in edge) calls the gateway localhost; the connector (in private) calls it by the edge address
    const cert = issueServerCert(ca, ['localhost'], ['127.0.0.1', lab.edgeIp]);
    writeFileSync(path.join(dir, 'gw.pem'), cert.certPem);
    writeFileSync(path.join(dir, 'gw-key.pem'), cert.keyPem);

    rdp = await startRdpServer({
      width: 1024,
      height: 768,
      bindAddress: lab.hostIp,
      port: 3389,
      wrap: lab.wrap(lab.priv),
      waitReady: (host, port) => until('RDP server listening inside private', () => lab.canConnect(lab.priv, host, port, 500), 15_000, 200).then(() => undefined),
    });

    const idp = child([...lab.wrap(lab.edge), process.execPath, ...CLI, 'dev-idp', '--host', '127.0.0.1', '--port', String(IDP_PORT), '--state-dir', dir, '--client-id', 'drawbridge-netns', '--client-secret-env', 'DBT_CLIENT_SECRET', '--redirect-uri', `${gatewayUrl}/auth/callback`], { DBT_CLIENT_SECRET: CLIENT_SECRET });
    children.push(idp);
    const issuerLine = await idp.waitFor(/issuer:/, 30_000);
    const tenantId = /\/([0-9a-f-]{36})\/v2\.0/.exec(issuerLine)![1]!;

    guacd = guacdBin
      ? child([...lab.wrap(lab.edge), guacdBin, '-f', '-b', '127.0.0.1', '-l', String(GUACD_PORT), '-L', 'info'])
      : child([...lab.wrap(lab.edge), process.execPath, '--import', 'tsx', path.resolve('test/support/guacd-standin/main.ts'), '127.0.0.1', String(GUACD_PORT)]);
    children.push(guacd);
    if (!guacdBin) await guacd.waitFor(/"listening"/);
    process.stderr.write(`tunnel netns e2e runs against ${guacdBin ? `real guacd (${guacdBin})` : 'the guacd stand-in'}\n`);

    const configFile = path.join(dir, 'drawbridge.yml');
    writeFileSync(
      configFile,
      stringify({
        server: {
          mode: 'development',
          listen: { host: '0.0.0.0', port: GATEWAY_PORT },
          publicUrl: gatewayUrl,
          tls: { certFile: path.join(dir, 'gw.pem'), keyFile: path.join(dir, 'gw-key.pem') },
          sessionSecret: { value: 'netns-session-secret-0123456789abcdef' },
        },
        identity: { provider: 'entra', tenantId, clientId: 'drawbridge-netns', clientSecret: { env: 'DBT_CLIENT_SECRET' }, authority: `https://localhost:${IDP_PORT}`, caFile: ca.certFile },
        guacd: { host: '127.0.0.1', port: GUACD_PORT },
        tunnels: { stateFile: path.join(dir, 'tunnels.json') },
        apps: [
          {
            id: 'office-pc',
            name: 'Office PC',
            description: 'Behind the connector, no inbound port',
            host: lab.hostIp,
            port: 3389,
            via: 'office-1',
            rdp: { security: 'any', ignoreCert: true },
            policies: [{ name: 'everyone (test)', action: 'allow', include: [{ everyone: true }] }],
          },
        ],
      }),
    );
    const created = spawnSync(process.execPath, [...CLI, 'tunnel', 'create', 'office-1', '--config', configFile], { encoding: 'utf8' });
    expect(created.status, created.stderr).toBe(0);
    token = /^(dbt1_\S+)$/m.exec(created.stdout)![1]!;

    gateway = child([...lab.wrap(lab.edge), process.execPath, ...CLI, 'gateway', '--config', configFile], { DBT_CLIENT_SECRET: CLIENT_SECRET });
    children.push(gateway);
    await gateway.waitFor(/gateway listening/, 30_000);

    connectorCfg = {
      gateway: `https://${lab.edgeIp}:${GATEWAY_PORT}`,
      caFile: ca.certFile,
      connections: 2,
      metrics: { listen: '127.0.0.1:9300' },
      drainSeconds: 2,
      ingress: [{ allow: `rdp://${lab.hostIp}` }, { deny: 'all' }],
    };

    // Chromium lives in edge too: a wrapper puts it there, playwright drives it over a pipe
    const wrapper = path.join(dir, 'chromium-in-edge.sh');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${lab.edge} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'], headless: true });
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 800 } });
    page = await context.newPage();
  }, 120_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') {
      await page?.screenshot({ path: artifactPath(`failed-netns-${ctx.task.name.replace(/\W+/g, '-')}.png`) }).catch(() => undefined);
      for (const c of children) process.stderr.write(c.lines.slice(-8).join('\n') + '\n');
      if (connector) process.stderr.write(connector.lines.slice(-8).join('\n') + '\n');
    }
  });

  afterAll(async () => {
    await browser?.close();
    await connector?.kill('SIGKILL');
    for (const c of children.reverse()) await c.stop();
    await rdp?.close();
    lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('edge cannot open a connection into private; private can reach edge', async () => {
    expect(await lab.canConnect(lab.priv, lab.hostIp, 3389)).toBe(true);
    expect(await lab.canConnect(lab.edge, lab.hostIp, 3389)).toBe(false);
    expect(await lab.canConnect(lab.edge, lab.privUpIp, 3389)).toBe(false);
    expect(await lab.canConnect(lab.priv, lab.edgeIp, GATEWAY_PORT)).toBe(true);
    // the firewall itself, not only a missing route or an empty port: a service listening on every
    // address in private, on the very address edge has a route to, and edge's attempt is dropped
    const open = spawn('ip', ['netns', 'exec', lab.priv, process.execPath, '-e', `require('net').createServer((s) => s.on('error', () => {}).end('hi')).listen(${PROBE_PORT}, '0.0.0.0', () => console.log('listening'))`], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise<void>((resolve) => open.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()));
      expect(await lab.tryConnect(lab.priv, lab.privUpIp, PROBE_PORT)).toBe('connected');
      const dropped = lab.firewallDrops();
      expect(await lab.tryConnect(lab.edge, lab.privUpIp, PROBE_PORT)).toBe('timeout');
      expect(lab.firewallDrops()).toBeGreaterThan(dropped);
    } finally {
      open.kill();
    }
  });

  it('the tile says offline until the connector dials out, then ready', async () => {
    await page.goto(gatewayUrl);
    await page.waitForURL((u) => u.port === String(IDP_PORT));
    await page.fill('#username', 'alice@contoso.example');
    await page.fill('#password', 'alice');
    await page.click('button[type=submit]');
    await page.waitForURL(`${gatewayUrl}/`);
    await page.waitForSelector('.tile[data-app-id="office-pc"]');
    expect(await page.getAttribute('.tile[data-app-id="office-pc"]', 'data-status')).toBe('offline');
    await page.screenshot({ path: artifactPath('netns-01-tile-offline.png') });

    connector = spawnConnector(dir, token, connectorCfg, { wrap: lab.wrap(lab.priv) });
    await until('connector connected', () => connector.lines.filter((l) => l.includes('connected to the gateway')).length === 2, 30_000, 100);
    // the launcher polls; no reload needed
    await page.waitForSelector('.tile[data-app-id="office-pc"][data-status="ready"]', { timeout: 15_000 });
    await page.screenshot({ path: artifactPath('netns-02-tile-ready.png') });
    const ready = JSON.parse(await lab.node(lab.priv, `fetch('http://127.0.0.1:9300/ready').then(r=>r.text()).then(t=>console.log(t))`)) as { ready: boolean; connections: number };
    expect(ready).toMatchObject({ ready: true, connections: 2 });
  }, 60_000);

  it('opens the desktop through the tunnel: real X.224 (stand-in) or real pixels (guacd)', async () => {
    await page.click('.tile[data-app-id="office-pc"]');
    await page.waitForURL(`${gatewayUrl}/desktop/office-pc`);
    await page.waitForSelector('#status[data-state="connected"]', { state: 'attached', timeout: 30_000 });
    await expect.poll(() => canvasColours(page, '#desktop'), { timeout: 30_000 }).toBeGreaterThan(3);
    if (!guacdBin) {
      const line = await guacd.waitFor(/"event":"session".*"rdp":"(confirmed|failed)"/, 20_000);
      const s = JSON.parse(line) as { hostname: string; port: string; rdp: string; selectedProtocol: number };
      // guacd dialled the gateway's one-connection handoff in edge, never the desktop's address
      expect(s.hostname).toBe('127.0.0.1');
      expect(s.rdp).toBe('confirmed');
      expect(s.selectedProtocol).toBe(1);
    }
    await page.screenshot({ path: artifactPath('netns-03-desktop-through-tunnel.png') });
    const metrics = await lab.node(lab.priv, `fetch('http://127.0.0.1:9300/metrics').then(r=>r.text()).then(t=>console.log(t))`);
    // guacd (and the stand-in, like it) holds the RDP connection for the whole session
    expect(metrics).toMatch(/drawbridge_connector_active_streams 1/);
    expect(metrics).toMatch(/drawbridge_connector_connections 2/);
    // the desktop's bytes while it is open, and the round trip to the gateway on each connection
    expect(Number(/^drawbridge_connector_bytes_total\{direction="to_gateway"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    for (const c of ['0', '1']) expect(metrics).toMatch(new RegExp(`^drawbridge_connector_rtt_ms\\{connection="${c}"\\} [\\d.]+$`, 'm'));
  }, 90_000);

  it.skipIf(Boolean(noSocketReader))('Nagle is off on every TCP socket the open desktop crosses in the connector and the gateway, asked of the kernel', () => {
    // a keystroke must not wait for the previous segment's ACK. At the connector: its two tunnel
    // connections and the desktop; at the gateway: the same tunnel connections, the one-time
    // handoff guacd dialled, its own connection to guacd and the browser's. Asking the kernel
    // counts whoever set the flag: on the gateway's accepted sockets Node's https server does by
    // default (and HTTP/2 again on the tunnel's), while the desktop, handoff and guacd sockets
    // have only ours (each caught when removed). Chromium's, guacd's and the RDP server's own
    // sockets are theirs, not checked here.
    const open = (pid: number) => tcpSocketsOf(pid).filter((s) => s.state === 'ESTABLISHED');
    const atConnector = open(connector.proc.pid!);
    expect(atConnector.filter((s) => s.remote === `${lab.edgeIp}:${GATEWAY_PORT}`)).toHaveLength(2);
    expect(atConnector.filter((s) => s.remote === `${lab.hostIp}:3389`)).toHaveLength(1);
    expect(atConnector.filter((s) => !s.noDelay)).toEqual([]);
    const atGateway = open(gateway.proc.pid!);
    expect(atGateway.filter((s) => s.remote.startsWith(`${lab.privUpIp}:`))).toHaveLength(2);
    expect(atGateway.filter((s) => s.remote === `127.0.0.1:${GUACD_PORT}`)).toHaveLength(1);
    const handoff = atGateway.filter((s) => s.local.startsWith('127.0.0.1:') && !s.local.endsWith(`:${GATEWAY_PORT}`) && s.remote.startsWith('127.0.0.1:') && ![GUACD_PORT, IDP_PORT].some((p) => s.remote.endsWith(`:${p}`)));
    expect(handoff).toHaveLength(1);
    expect(atGateway.filter((s) => s.local.endsWith(`:${GATEWAY_PORT}`) && s.remote.startsWith('127.0.0.1:')).length).toBeGreaterThan(0);
    expect(atGateway.filter((s) => !s.noDelay)).toEqual([]);
  });

  it('killing the connector ends the session with a message and turns the tile offline; a restart brings it back', async () => {
    // the launcher open in another tab the whole time: its tile must turn offline by itself
    const launcher = await page.context().newPage();
    await launcher.goto(gatewayUrl);
    await launcher.waitForSelector('.tile[data-app-id="office-pc"][data-status="ready"]', { timeout: 15_000 });
    await connector.kill('SIGKILL');
    const killedAt = Date.now();
    // timed on its own, from the kill: the launcher polls every 5 s
    const offlineAfter = launcher.waitForSelector('.tile[data-app-id="office-pc"][data-status="offline"]', { timeout: 15_000 }).then(() => Date.now() - killedAt);
    await page.waitForSelector('#status[data-state="ended"]', { state: 'attached', timeout: 15_000 });
    // the table's headline for the code, and the gateway's own sentence naming the tunnel
    expect(await page.textContent('#status-detail')).toMatch(/network \(office-1\) was lost/);
    await page.screenshot({ path: artifactPath('netns-04-connector-killed.png') });
    expect(await offlineAfter).toBeLessThan(12_000);
    await launcher.close();
    await page.goto(gatewayUrl);
    await page.waitForSelector('.tile[data-app-id="office-pc"][data-status="offline"]', { timeout: 15_000 });
    connector = spawnConnector(dir, token, connectorCfg, { wrap: lab.wrap(lab.priv) });
    await page.waitForSelector('.tile[data-app-id="office-pc"][data-status="ready"]', { timeout: 30_000 });
    expect(await connector.kill('SIGTERM')).toBe(0);
  }, 90_000);
});
