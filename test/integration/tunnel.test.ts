import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { request as httpRequest } from 'node:http';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { performServerHandshake, type ServerHttp2Session } from 'node:http2';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { readdirSync, readlinkSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import diagnostics from 'node:diagnostics_channel';
import { runInNewContext } from 'node:vm';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startStack, type Stack } from '../support/stack.js';
import { startTestGuacd, type TestGuacd } from '../support/guacd.js';
import { rdpServerUnavailable, startRdpServer, type RdpServer } from '../support/rdp-server.js';
import { signIn, type HttpClient } from '../support/http-client.js';
import { launchToken, openDesktop } from '../support/desktop-client.js';
import { echoThrough, spawnConnector, startConnector, until } from '../support/connector.js';
import { CLOSE_GATEWAY_SHUTDOWN, CLOSE_REVOKED, HTTP2_SETTINGS, readGoawayData, TUNNEL_PATH, TUNNEL_SUBPROTOCOL, TUNNEL_UPGRADE } from '../../server/tunnel/tunnel-wire.js';
import { directUpgrade, startWebSocketOnlyFront } from '../support/tunnel-upgrade-client.js';
import { tcpSocketsOf, tcpSocketsUnavailable } from '../support/tcp-sockets.js';

/**
 * The tunnel on loopback, with the real RDP server behind it: launches through the connector,
 * refusals by the connector's ingress rules, revocation, a connector killed mid-session, and a
 * leak count after many streams. (Network-namespace isolation is proven in tunnel-netns.e2e.)
 */
const noRdp = rdpServerUnavailable();
if (noRdp) process.stderr.write(`SKIP tunnel integration: ${noRdp}\n`);
// A full collection on demand, for the leak tests: sockets no one holds any more must go. Node's
// flag when the worker was started with it, otherwise turned on here (vitest starts its workers).
const gc: () => void = (globalThis as { gc?: () => void }).gc ?? (setFlagsFromString('--expose-gc'), runInNewContext('gc') as () => void);

describe.skipIf(noRdp)('tunnel (loopback, real RDP server)', () => {
  let guacd: TestGuacd;
  let rdp: RdpServer;
  let stack: Stack;
  let alice: HttpClient;
  let caFile: string;
  let echo: Server;
  let echoPort: number;

  beforeAll(async () => {
    // the stand-in keeps the RDP connection open like guacd, so a tunnel drop mid-session shows
    guacd = await startTestGuacd({ holdUpstream: true });
    rdp = await startRdpServer({ width: 1024, height: 768 });
    echo = createServer((s) => s.pipe(s).on('error', () => undefined));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as { port: number }).port;
    stack = await startStack({
      guacd,
      // short pings, so the test of a connector that stops reading does not wait 20 s
      // the refusal tests refuse hundreds of upgrades from 127.0.0.1; the throttle has its own test
      gateway: { tunnelPingMs: 1500, refusalLimit: 100_000 },
      metrics: { listen: '127.0.0.1:0' },
      apps: [
        { id: 'office-pc', name: 'Office PC', host: rdp.host, port: rdp.port, via: 'office-1', rdp: { ignoreCert: true } },
        // a destination the connector's rules do not name: the connector must refuse it
        { id: 'forbidden', name: 'Forbidden', host: '127.0.0.1', port: echoPort, via: 'office-1', rdp: { ignoreCert: true } },
        { id: 'other-site', name: 'Other site', host: rdp.host, port: rdp.port, via: 'office-2', rdp: { ignoreCert: true } },
      ],
    });
    caFile = path.join(stack.stateDir, 'dev-ca.pem');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(caFile, stack.caPem);
    alice = stack.client();
    await signIn(alice, stack.url, 'alice@contoso.example', 'alice');
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
    await rdp?.close();
    await guacd?.close();
    echo?.close();
  });

  const rules = () => [{ allow: `tcp://127.0.0.1:${rdp.port}` }, { deny: 'all' }];
  /** A desktop that sends as fast as it is read, on every connection. */
  async function startFlood(): Promise<{ port: number; close(): void }> {
    const chunk = Buffer.alloc(256 * 1024, 0x42);
    const server = createServer((s) => {
      s.on('error', () => undefined);
      const pump = () => {
        while (!s.destroyed && s.write(chunk));
        if (!s.destroyed) s.once('drain', pump);
      };
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as { port: number }).port, close: () => void server.close() };
  }
  /** How many of `refs` still live once collections have had up to 10 s to take them. */
  async function aliveAfterCollection(refs: readonly WeakRef<object>[]): Promise<number> {
    const alive = () => refs.filter((w) => w.deref() !== undefined).length;
    await until('collected', () => (gc(), alive() === 0), 10_000, 100).catch(() => undefined);
    return alive();
  }
  /** Sockets open in this process: the gateway's, the in-process connectors' and the test's own. */
  const fds = () => readdirSync('/proc/self/fd').map((f) => { try { return readlinkSync(`/proc/self/fd/${f}`); } catch { return ''; } }).filter((l) => l.startsWith('socket:')).length;
  /** The gateway's per-tunnel figures, as `drawbridge` admin commands read them. */
  const adminMetrics = () =>
    new Promise<string>((resolve, reject) => {
      const req = httpRequest({ socketPath: stack.gateway.tunnels.adminSocket, path: '/metrics' }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c.toString()));
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.end();
    });
  /** One series' value in a Prometheus text exposition (NaN when absent). */
  const num = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const tileStatus = async (id: string) => {
    const res = await alice.request(`${stack.url}/api/apps/status`);
    const body = (await res.json()) as { apps: Array<{ id: string; status: string; statusMessage?: string }> };
    if (!body.apps) throw new Error(`status answered ${res.status}: ${JSON.stringify(body)}`);
    return body.apps.find((a) => a.id === id);
  };

  it('opens a desktop through the connector; guacd reaches the RDP server only via the tunnel', async () => {
    const { token } = stack.gateway.tunnels.store.create('office-1', stack.url);
    expect((await tileStatus('office-pc'))?.status).toBe('offline');
    const connector = await startConnector(token, { ingress: rules(), caFile, connections: 2 });
    try {
      await until('both connections up', () => current().length === 2);
      expect((await tileStatus('office-pc'))?.status).toBe('ready');
      const conn = await openDesktop(alice, stack.url, stack.caPem, { token: await launchToken(alice, stack.url, 'office-pc') });
      await conn.waitFor((i) => i[0] === 'sync', 15_000);
      if (guacd.kind === 'standin') {
        const s = await guacd.standin.waitForSession((x) => x.rdp.state !== 'pending' && !!x.connectArgs.hostname);
        await until('X.224 answer', () => s.rdp.state !== 'pending');
        // guacd was given the gateway's one-time handoff address, never the desktop's own
        expect(s.connectArgs.hostname).toBe('127.0.0.1');
        expect(Number(s.connectArgs.port)).not.toBe(rdp.port);
        expect(s.rdp.state).toBe('confirmed');
      }
      expect(stack.gateway.tunnels.registry.connections('office-1').reduce((n, c) => n + c.streams, 0)).toBe(1);
      // both ends' figures while the desktop is still open: bytes so far, and a round trip per connection
      // (a real guacd draws its first frame before the desktop has answered: wait for the answer)
      const live = await until('bytes both ways, counted while the desktop is open', () => {
        const text = connector.metrics.render();
        return num(text, 'drawbridge_connector_bytes_total{direction="to_gateway"}') > 0 && num(text, 'drawbridge_connector_bytes_total{direction="from_gateway"}') > 0 ? text : undefined;
      });
      for (const c of ['0', '1']) expect(num(live, `drawbridge_connector_rtt_ms{connection="${c}"}`)).toBeGreaterThanOrEqual(0);
      expect(num(live, 'drawbridge_connector_connections')).toBe(2);
      expect(num(live, 'drawbridge_connector_active_streams')).toBe(1);
      const gwLive = await until('the gateway counts them too', async () => {
        const text = await adminMetrics();
        return num(text, 'drawbridge_tunnel_bytes_total{direction="from_connector",tunnel="office-1"}') > 0 && num(text, 'drawbridge_tunnel_bytes_total{direction="to_connector",tunnel="office-1"}') > 0 ? text : undefined;
      });
      expect(num(gwLive, 'drawbridge_tunnel_active_streams{tunnel="office-1"}')).toBe(1);
      // named as `tunnel list` names the row: the connector's id as shown there, and its slot
      const shown = current()[0]!.connectorId.slice(0, 8);
      expect(gwLive).toMatch(new RegExp(`^drawbridge_tunnel_rtt_ms\\{connection="[01]",connector="${shown}",tunnel="office-1"\\} [\\d.]+$`, 'm'));
      conn.ws.close();
      await conn.closed;
      await until('stream closed', () => stack.gateway.tunnels.registry.connections('office-1').every((c) => c.streams === 0));
      await until('connector stream closed', () => connector.metrics.value('drawbridge_connector_active_streams') === 0);
      expect(connector.metrics.value('drawbridge_connector_streams_total')).toBe(1);
      // what the session carried in all: never less than what was counted while it ran
      const done = connector.metrics.render();
      expect(num(done, 'drawbridge_connector_bytes_total{direction="to_gateway"}')).toBeGreaterThanOrEqual(num(live, 'drawbridge_connector_bytes_total{direction="to_gateway"}'));
      expect(num(await adminMetrics(), 'drawbridge_tunnel_bytes_total{direction="from_connector",tunnel="office-1"}')).toBeGreaterThanOrEqual(num(gwLive, 'drawbridge_tunnel_bytes_total{direction="from_connector",tunnel="office-1"}'));
      // the gateway going away is retryable: the connector comes back on both connections and counts it
      expect(connector.metrics.value('drawbridge_connector_reconnects_total')).toBe(0);
      stack.gateway.tunnels.registry.closeAll(CLOSE_GATEWAY_SHUTDOWN, 'test: gateway restarting');
      await until('connector reconnected', () => connector.metrics.value('drawbridge_connector_reconnects_total') >= 2 && current().length === 2, 15_000);
      // the gateway's round-trip series are the live connections', not the ended ones' too
      const rttSeries = (text: string) => text.split('\n').filter((l) => l.startsWith('drawbridge_tunnel_rtt_ms{') && l.includes('tunnel="office-1"'));
      await until('a round trip per new connection', async () => rttSeries(await adminMetrics()).length === 2);
      const ids = current().map((c) => `connection="${c.index}",connector="${c.connectorId.slice(0, 8)}"`);
      for (const line of rttSeries(await adminMetrics())) expect(ids.some((id) => line.includes(id))).toBe(true);
    } finally {
      await connector.stop();
    }
    await until('tile offline', async () => (await tileStatus('office-pc'))?.status === 'offline');
  }, 60_000);

  it('the connector refuses a destination outside its ingress rules, whatever the gateway asks', async () => {
    const token = reissue('office-1');
    const connector = await startConnector(token, { ingress: rules(), caFile, connections: 1 });
    try {
      await until('connected', () => current().length === 1);
      const conn = await openDesktop(alice, stack.url, stack.caPem, { token: await launchToken(alice, stack.url, 'forbidden') });
      const err = await conn.waitFor((i) => i[0] === 'error');
      expect(err[1]).toMatch(/does not allow this destination/);
      expect(err[2]).toBe('519');
      expect(connector.metrics.value('drawbridge_connector_refused_total')).toBe(1);
      expect(connector.lines.some((l) => l.includes(`refused 127.0.0.1:${echoPort}: denied by ingress rule 1`))).toBe(true);
      // and straight at the registry, bypassing the app config entirely
      await expect(stack.gateway.tunnels.registry.openStream('office-1', '10.1.2.3', 3389, 2000)).rejects.toMatchObject({ kind: 'refused' });
      await expect(stack.gateway.tunnels.registry.openStream('office-1', 'localhost', echoPort, 2000)).rejects.toMatchObject({ kind: 'refused' });
      expect(connector.metrics.value('drawbridge_connector_refused_total')).toBe(3);
    } finally {
      await connector.stop();
    }
  }, 30_000);

  it('tunnel list shows live connections, versions, addresses and uptime from the running gateway', async () => {
    const token = reissue('office-1');
    const connector = await startConnector(token, { ingress: rules(), caFile, connections: 2 });
    try {
      await until('connected, round trips known', () => current().length === 2 && current().every((c) => c.rttMs !== undefined));
      const { tunnelList, tunnelTarget } = await import('../../server/tunnel/tunnel-cli.js');
      const out: string[] = [];
      expect(await tunnelList(tunnelTarget(stack.gateway.config()), true, { out: (t) => out.push(t), err: (t) => out.push(t) })).toBe(0);
      const listed = JSON.parse(out.join('')) as { gatewayRunning: boolean; tunnels: Array<{ name: string; up: boolean; revokedAt?: string; connections: Array<{ version: string; address: string; uptimeSeconds: number; connector: string }> }> };
      expect(listed.gatewayRunning).toBe(true);
      const t = listed.tunnels.find((x) => x.name === 'office-1' && !x.revokedAt)!;
      expect(t.up).toBe(true);
      expect(t.connections).toHaveLength(2);
      // the default transport: HTTP/2 straight on the upgraded TLS connection
      expect(t.connections[0]).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), address: '127.0.0.1', connector: connector.connectorId, transport: 'direct' });
      for (const c of t.connections) expect(c.uptimeSeconds).toBeGreaterThanOrEqual(0);
      const table: string[] = [];
      await tunnelList(tunnelTarget(stack.gateway.config()), false, { out: (x) => table.push(x), err: (x) => table.push(x) });
      // uptime, open streams and the mean round trip (each connection pings once as it comes up)
      const text = table.join('');
      expect(text).toMatch(/^office-1\s+up\s+2 connections\s+0$/m);
      // then each live connection: its index, connector, version, address, transport, uptime, streams, round trip
      const id = connector.connectorId.slice(0, 8);
      for (const i of [0, 1]) expect(text).toMatch(new RegExp(`^  #${i}\\s+${id}\\s+\\d+\\.\\d+\\.\\d+\\S*\\s+127\\.0\\.0\\.1\\s+direct\\s+\\d+s\\s+0\\s+[\\d.]+ms$`, 'm'));
      const metrics = await adminMetrics();
      expect(metrics).toMatch(/drawbridge_tunnel_connections\{tunnel="office-1"\} 2/);
      expect(metrics).toMatch(/drawbridge_tunnel_up\{tunnel="office-1"\} 1/);
    } finally {
      await connector.stop();
    }
  });

  it("the gateway's per-tunnel figures on its metrics port: every series from the start, reconnects, streams, refusals, bytes and round trip", async () => {
    // a tunnel of its own: counters never go back, and other tests count on office-1
    const token = reissue('metrics-test');
    const mine = () => stack.gateway.tunnels.registry.connections('metrics-test');
    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${stack.gateway.metricsPort}/metrics`);
      return res.text();
    };
    const of = (name: string, extra = '') => `${name}{${extra}tunnel="metrics-test"}`;
    // a tunnel no connector ever reached is there at zero, so "down" can alert from the start
    const fresh = await until('declared', async () => {
      const t = await scrape();
      return num(t, of('drawbridge_tunnel_connects_total')) === 0 ? t : undefined;
    });
    for (const series of [of('drawbridge_tunnel_up'), of('drawbridge_tunnel_connections'), of('drawbridge_tunnel_active_streams'), of('drawbridge_tunnel_reconnects_total'), of('drawbridge_tunnel_streams_total'), of('drawbridge_tunnel_refused_total'), of('drawbridge_tunnel_bytes_total', 'direction="to_connector",'), of('drawbridge_tunnel_bytes_total', 'direction="from_connector",')]) {
      expect(num(fresh, series), series).toBe(0);
    }
    const connector = await startConnector(token, { ingress: [{ allow: `tcp://127.0.0.1:${echoPort}` }, { deny: 'all' }], caFile, connections: 1 });
    try {
      await until('connected', () => mine().length === 1);
      expect(num(await scrape(), of('drawbridge_tunnel_up'))).toBe(1);
      // the connector's own series are there before its first stream too
      const own = connector.metrics.render();
      for (const series of ['drawbridge_connector_streams_total', 'drawbridge_connector_refused_total', 'drawbridge_connector_reconnects_total', 'drawbridge_connector_active_streams', 'drawbridge_connector_bytes_total{direction="to_gateway"}', 'drawbridge_connector_bytes_total{direction="from_gateway"}', ...['dns', 'refused', 'timeout', 'unreachable', 'other'].map((r) => `drawbridge_connector_dial_failures_total{reason="${r}"}`)]) {
        expect(num(own, series), series).toBe(0);
      }
      expect(num(own, 'drawbridge_connector_connections')).toBe(1);
      // the gateway drops the connection: the connector makes it again in the same slot
      stack.gateway.tunnels.registry.closeAll(CLOSE_GATEWAY_SHUTDOWN, 'test: gateway restarting');
      await until('reconnected', async () => num(await scrape(), of('drawbridge_tunnel_reconnects_total')) === 1);
      await until('up again', () => mine().length === 1);
      const { stream } = await stack.gateway.tunnels.registry.openStream('metrics-test', '127.0.0.1', echoPort, 5000);
      expect(await echoThrough(stream, 'figures')).toBe('figures');
      await expect(stack.gateway.tunnels.registry.openStream('metrics-test', '10.1.2.3', 3389, 5000)).rejects.toMatchObject({ kind: 'refused' });
      const t = await scrape();
      expect(num(t, of('drawbridge_tunnel_connects_total'))).toBe(2);
      expect(num(t, of('drawbridge_tunnel_streams_total'))).toBe(2);
      expect(num(t, of('drawbridge_tunnel_refused_total'))).toBe(1);
      expect(num(t, of('drawbridge_tunnel_active_streams'))).toBe(1);
      expect(t).toMatch(/^drawbridge_tunnel_rtt_ms\{connection="0",connector="[0-9a-f]{8}",tunnel="metrics-test"\} [\d.]+$/m);
      stream.destroy();
    } finally {
      await connector.stop();
    }
  });

  it('TLS: a gateway certificate the connector does not trust is refused and logged; the system bundle (SSL_CERT_FILE) or caFile makes it trusted; caFileOnly pins', async () => {
    const token = reissue('office-1');
    const ingress = rules();
    // no caFile, and the machine's own bundle does not hold the test gateway's CA
    const untrusting = await startConnector(token, { ingress, connections: 1 });
    try {
      const refusal = await until('a refusal logged', () => untrusting.lines.find((l) => l.includes("the gateway's certificate is not trusted")), 10_000);
      expect(refusal).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER_CERT/);
      expect(refusal).toContain('caFile');
      expect(current()).toHaveLength(0);
      expect(untrusting.lines.join('\n')).toMatch(/"trusted":\["node's \d+ bundled roots"/);
    } finally {
      await untrusting.stop();
    }
    // the company CA in the system bundle, as an admin installs it: trusted without any caFile
    const viaSystem = await startConnector(token, { ingress, connections: 1 }, [], { SSL_CERT_FILE: caFile });
    try {
      await until('connected through the system bundle', () => current().length === 1);
    } finally {
      await viaSystem.stop();
    }
    await until('disconnected', () => current().length === 0);
    // pinned to another CA: refused, though the system bundle would trust the gateway (as a
    // TLS-inspecting proxy's root would be trusted, and would see the token)
    const { ensureDevCa } = await import('../../server/dev-idp/dev-ca.js');
    const other = ensureDevCa(path.join(stack.stateDir, 'other-ca'));
    const pinnedElsewhere = await startConnector(token, { ingress, connections: 1, caFile: other.certFile, caFileOnly: true }, [], { SSL_CERT_FILE: caFile });
    try {
      await until('refused', () => pinnedElsewhere.lines.find((l) => l.includes("the gateway's certificate is not trusted")), 10_000);
      expect(current()).toHaveLength(0);
    } finally {
      await pinnedElsewhere.stop();
    }
    const pinned = await startConnector(token, { ingress, connections: 1, caFile, caFileOnly: true });
    try {
      await until('connected, pinned to the gateway CA', () => current().length === 1);
    } finally {
      await pinned.stop();
    }
    await until('disconnected', () => current().length === 0);
  }, 30_000);

  it('dials through HTTPS_PROXY with CONNECT when one is set (both transports), and not for a host NO_PROXY names', async () => {
    const token = reissue('office-1');
    const { createServer: createHttpServer } = await import('node:http');
    const seen: string[] = [];
    const proxy = createHttpServer();
    proxy.on('connect', (req, client: Socket, head: Buffer) => {
      seen.push(String(req.url));
      const [h, p] = String(req.url).split(':');
      const up = connect({ host: h, port: Number(p) }, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        up.write(head);
        up.pipe(client);
        client.pipe(up);
      });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const { parseConnectorConfig } = await import('../../server/connector/connector-config.js');
    const { runConnector } = await import('../../server/connector/run-connector.js');
    const { pino } = await import('pino');
    const HTTPS_PROXY = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    try {
      for (const transport of ['direct', 'websocket'] as const) {
        seen.length = 0;
        const c = await runConnector({ config: parseConnectorConfig({ ingress: rules(), caFile, connections: 1, transport }), token, log: pino({ level: 'silent' }), env: { HTTPS_PROXY } });
        try {
          await until(`connected via the proxy (${transport})`, () => current().length === 1);
          expect(seen).toEqual([new URL(stack.url).host]);
          expect(current().map((x) => x.transport)).toEqual([transport]);
        } finally {
          await c.stop();
        }
        await until('disconnected', () => current().length === 0);
      }
      // NO_PROXY naming the gateway's host: straight there, the proxy never asked
      seen.length = 0;
      const direct = await runConnector({ config: parseConnectorConfig({ ingress: rules(), caFile, connections: 1 }), token, log: pino({ level: 'silent' }), env: { HTTPS_PROXY, NO_PROXY: `example.org,${new URL(stack.url).hostname}` } });
      try {
        await until('connected without the proxy', () => current().length === 1);
        expect(seen).toEqual([]);
      } finally {
        await direct.stop();
      }
    } finally {
      proxy.close();
    }
  });

  it('behind a proxy that passes only WebSocket upgrades: auto falls back to a WebSocket and stays there; direct says why it cannot connect', async () => {
    const token = reissue('office-1');
    const front = await startWebSocketOnlyFront(stack.url, stack.caPem);
    // the front speaks plain http: the connector refuses it unless told this is a test setup
    await expect(startConnector(token, { ingress: rules(), caFile, gateway: front.url })).rejects.toThrow(/gateway: http:\/\/[^ ]+ is not https: the connector's token would cross the network in clear text/);
    const auto = await startConnector(token, { ingress: rules(), caFile, connections: 2, gateway: front.url, insecureHttp: true });
    try {
      await until('connected through the front', () => current().length === 2);
      expect(current().map((c) => c.transport)).toEqual(['websocket', 'websocket']);
      expect(auto.lines.some((l) => l.includes('trying a WebSocket'))).toBe(true);
      expect(auto.lines.some((l) => l.includes('passes only WebSocket upgrades'))).toBe(true);
      // a desktop works over the fallback too
      const conn = await openDesktop(alice, stack.url, stack.caPem, { token: await launchToken(alice, stack.url, 'office-pc') });
      await conn.waitFor((i) => i[0] === 'sync', 15_000);
      await rdpConnected();
      conn.ws.close();
      // once settled, reconnects go straight to the WebSocket: kill the connections and count upgrades
      const directTries = front.upgrades.filter((u) => u !== 'websocket').length;
      stack.gateway.tunnels.registry.closeAll(4503, 'test');
      await until('reconnected', () => current().length === 2, 10_000);
      expect(front.upgrades.filter((u) => u !== 'websocket').length).toBe(directTries);
    } finally {
      await auto.stop();
    }
    const direct = await startConnector(token, { ingress: rules(), caFile, connections: 1, gateway: front.url, transport: 'direct', insecureHttp: true });
    try {
      await until('retry logged', () => direct.lines.find((l) => l.includes('could not connect to the gateway; retrying')));
      expect(direct.lines.find((l) => l.includes('could not connect to the gateway; retrying'))).toMatch(/the gateway answered HTTP 400/);
      expect(current()).toHaveLength(0);
    } finally {
      await direct.stop();
      front.close();
    }
  });

  it('an unknown tunnel makes a clear message, not a hang', async () => {
    const conn = await openDesktop(alice, stack.url, stack.caPem, { token: await launchToken(alice, stack.url, 'other-site') });
    const err = await conn.waitFor((i) => i[0] === 'error');
    expect(err[1]).toMatch(/connector for this desktop's network \(office-2\) is offline/);
  });

  /** guacd holds an RDP connection through the tunnel now (checked with the stand-in; a real guacd has one once drawing). */
  async function rdpConnected() {
    if (guacd.kind !== 'standin') return;
    const s = guacd.standin.sessions.at(-1)!;
    await until('X.224 confirmed through the tunnel', () => s.rdp.state === 'confirmed', 10_000);
  }

  /** Connections of the tunnel's current token (a revoked one may linger for a moment). */
  const current = () => {
    const id = stack.gateway.tunnels.store.get('office-1')?.id;
    return stack.gateway.tunnels.registry.connections('office-1').filter((c) => c.tunnelId === id);
  };

  function reissue(name: string): string {
    if (stack.gateway.tunnels.store.get(name)) stack.gateway.tunnels.store.revoke(name);
    return stack.gateway.tunnels.store.create(name, stack.url).token;
  }

  it('refuses wrong tokens, a second connector with another secret, and browsers', async () => {
    const good = reissue('office-1');
    const wrongSecret = 'dbt1_' + Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(good.slice(5), 'base64url').toString()), s: 'x'.repeat(43) })).toString('base64url');
    const url = `${stack.url.replace(/^http/, 'ws')}${TUNNEL_PATH}`;
    const attempt = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, [TUNNEL_SUBPROTOCOL], { headers, ca: stack.caPem });
        ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => (ws.close(), resolve(101)));
        ws.on('error', () => resolve(-1));
      });
    const direct = async (headers: Record<string, string>, upgrade = TUNNEL_UPGRADE) => {
      const r = await directUpgrade(`${stack.url}${TUNNEL_PATH}`, stack.caPem, headers, upgrade);
      if ('socket' in r) r.socket.destroy();
      return r;
    };
    const attemptDirect = async (h: Record<string, string>) => {
      const r = await direct(h);
      return 'status' in r ? r.status : 101;
    };
    for (const tryIt of [attempt, attemptDirect]) {
      expect(await tryIt({})).toBe(401);
      expect(await tryIt({ authorization: 'Bearer dbt1_garbage' })).toBe(401);
      expect(await tryIt({ authorization: `Bearer ${wrongSecret}` })).toBe(401);
      // a web page can open a WebSocket to us, but every browser sends its Origin
      expect(await tryIt({ authorization: `Bearer ${good}`, origin: stack.url })).toBe(403);
    }
    const unknown = await direct({ authorization: `Bearer ${good}` }, 'h2c');
    expect(unknown).toMatchObject({ status: 400, code: 'bad_upgrade' });
    const denied = stack.audit.entries!.filter((e) => e.event === 'tunnel-connect' && e.result === 'denied');
    expect(denied.map((e) => e.reason)).toEqual(expect.arrayContaining(['no bearer token', 'wrong secret']));
    expect(stack.logLines.join('\n')).not.toContain(good.slice(10, 40));
    expect(stack.gateway.tunnels.registry.isUp('office-1')).toBe(false);
  });

  it('a second connector with another secret is refused while the real one is up, and the real one is left alone', async () => {
    const good = reissue('office-1');
    const forged = 'dbt1_' + Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(good.slice(5), 'base64url').toString()), s: 'y'.repeat(43) })).toString('base64url');
    const ingress = [{ allow: `tcp://127.0.0.1:${echoPort}` }, { deny: 'all' }];
    const real = await startConnector(good, { ingress, caFile, connections: 2 });
    try {
      await until('connected', () => current().length === 2);
      const before = current().map((c) => c.id).sort();
      const { stream } = await stack.gateway.tunnels.registry.openStream('office-1', '127.0.0.1', echoPort, 5000);
      expect(await echoThrough(stream, 'before')).toBe('before');
      for (const transport of ['direct', 'websocket'] as const) {
        const impostor = await startConnector(forged, { ingress, caFile, connections: 1, transport });
        const fatal = await Promise.race([impostor.fatal, new Promise<undefined>((r) => setTimeout(r, 10_000))]);
        await impostor.stop();
        // refused for good (no retry loop against the gateway), and said so
        expect(fatal?.permanent).toBe(true);
        expect(impostor.lines.join('\n')).toMatch(/401|token/i);
      }
      expect(current().map((c) => c.id).sort()).toEqual(before);
      expect(await echoThrough(stream, 'after')).toBe('after');
      const denied = stack.audit.entries!.filter((e) => e.event === 'tunnel-connect' && e.result === 'denied' && e.reason === 'wrong secret');
      expect(denied.length).toBeGreaterThanOrEqual(2);
      stream.destroy();
    } finally {
      await real.stop();
    }
  }, 60_000);

  it('garbage after the upgrade ends only that connection, at once, with the reason logged (both transports)', async () => {
    const noise = Buffer.from('this is not an HTTP/2 preface, just noise\r\n\r\n'.repeat(20));
    const token = reissue('office-1');
    const connector = await startConnector(token, { ingress: rules(), caFile, connections: 1 });
    try {
      await until('connected', () => current().length === 1);
      const live = current()[0]!.id;
      for (const transport of ['websocket', 'direct'] as const) {
        const seen = stack.logLines.length;
        let sock: { once(e: 'close', f: () => void): void };
        let send: () => void;
        if (transport === 'websocket') {
          const ws = new WebSocket(`${stack.url.replace(/^http/, 'ws')}${TUNNEL_PATH}`, [TUNNEL_SUBPROTOCOL], { headers: { authorization: `Bearer ${token}` }, ca: stack.caPem });
          await new Promise((r) => ws.once('open', r));
          sock = ws;
          send = () => ws.send(noise);
        } else {
          const r = await directUpgrade(`${stack.url}${TUNNEL_PATH}`, stack.caPem, { authorization: `Bearer ${token}` });
          if (!('socket' in r)) throw new Error(`not upgraded: ${r.status}`);
          r.socket.on('error', () => undefined);
          r.socket.resume();
          sock = r.socket;
          send = () => r.socket.write(noise);
        }
        const closed = new Promise<void>((res) => sock.once('close', res));
        const started = Date.now();
        send();
        await closed;
        // cut by the garbage itself, well before the setup deadline (the test stack's 1.5 s ping interval)
        expect(Date.now() - started).toBeLessThan(1000);
        const line = await until('logged', () => stack.logLines.slice(seen).find((l) => l.includes('connector connection failed before it was up')));
        const logged = JSON.parse(line) as { reason: string; transport: string };
        expect(logged.transport).toBe(transport);
        expect(logged.reason).not.toMatch(/no HTTP\/2 settings/);
        expect(logged.reason).toMatch(/session error|closed/);
        // the connector that speaks properly is untouched
        expect(current().map((c) => c.id)).toEqual([live]);
      }
    } finally {
      await connector.stop();
    }
  });

  it('a forbidden frame inside a session that is up ends only that connection, within two ping intervals, with a log line', async () => {
    const token = reissue('office-1');
    const connector = await startConnector(token, { ingress: rules(), caFile, connections: 1 });
    try {
      await until('connected', () => current().length === 1);
      const live = current()[0]!.id;
      const r = await directUpgrade(`${stack.url}${TUNNEL_PATH}`, stack.caPem, { authorization: `Bearer ${token}` });
      if (!('socket' in r)) throw new Error(`not upgraded: ${r.status}`);
      r.socket.on('error', () => undefined);
      // a well-behaved HTTP/2 server (it answers the gateway's pings) over a pass-through, so the
      // test can slip raw bytes in between its frames
      const pass = new Duplex({ read() {}, write: (chunk: Buffer, _e, cb) => void r.socket.write(chunk, cb) });
      r.socket.on('data', (c: Buffer) => pass.push(c));
      r.socket.on('end', () => pass.push(null));
      const session = performServerHandshake(pass, { settings: HTTP2_SETTINGS });
      session.on('error', () => undefined);
      const fake = await until('up, its first ping answered', () => current().find((c) => c.id !== live && c.rttMs !== undefined));
      const seen = stack.logLines.length;
      const closed = new Promise((res) => r.socket.once('close', res));
      const started = Date.now();
      // a frame HTTP/2 forbids: DATA on stream 0, the connection's own (random bytes are not
      // enough: they may read as a frame of an unknown type, which the spec says to skip)
      r.socket.write(Buffer.concat([Buffer.from([0, 0, 8, 0, 0, 0, 0, 0, 0]), Buffer.from('garbage!')]));
      await closed;
      // nghttp2 answers with GOAWAY and stops, but Node's session reports nothing: the next ping
      // cannot go out, and the missed ping cuts it (the test stack pings every 1.5 s)
      expect(Date.now() - started).toBeLessThan(4000);
      await until('logged', () => stack.logLines.slice(seen).find((l) => l.includes('did not answer a ping') && l.includes('it could not even be sent')));
      await until('ended', () => stack.logLines.slice(seen).find((l) => l.includes('connector connection ended')));
      // the one cut is the fake (it sent no connector id), not the real connector
      expect(fake.connectorId).toBe('unknown');
      expect(stack.logLines.slice(seen).find((l) => l.includes('connector connection ended'))).toContain('"connector":"unknown"');
      expect(current().map((c) => c.id)).toEqual([live]);
      const { stream } = await stack.gateway.tunnels.registry.openStream('office-1', rdp.host, rdp.port, 5000);
      stream.destroy();
    } finally {
      await connector.stop();
    }
  });

  it('refused tokens and garbage, many times over, leave no sockets behind and nothing that holds on to them (both transports)', async () => {
    const token = reissue('office-1');
    const noise = Buffer.from('PRI * HTTP/2.0 but not really\r\n\r\n'.repeat(10));
    const wsUrl = `${stack.url.replace(/^http/, 'ws')}${TUNNEL_PATH}`;
    const round = async () => {
      for (const bearer of ['dbt1_garbage', token.slice(0, -4) + 'AAAA']) {
        const r = await directUpgrade(`${stack.url}${TUNNEL_PATH}`, stack.caPem, { authorization: `Bearer ${bearer}` });
        if ('socket' in r) r.socket.destroy();
        expect('status' in r && r.status).toBe(401);
        const status = await new Promise<number>((resolve) => {
          const ws = new WebSocket(wsUrl, [TUNNEL_SUBPROTOCOL], { headers: { authorization: `Bearer ${bearer}` }, ca: stack.caPem });
          ws.on('unexpected-response', (_q, res) => (res.destroy(), resolve(res.statusCode ?? 0)));
          ws.on('error', () => resolve(-1));
        });
        expect(status).toBe(401);
      }
      const r = await directUpgrade(`${stack.url}${TUNNEL_PATH}`, stack.caPem, { authorization: `Bearer ${token}` });
      if (!('socket' in r)) throw new Error(`not upgraded: ${r.status}`);
      r.socket.on('error', () => undefined);
      r.socket.resume();
      const closed = new Promise((res) => r.socket.once('close', res));
      r.socket.write(noise);
      await closed;
      const ws = new WebSocket(wsUrl, [TUNNEL_SUBPROTOCOL], { headers: { authorization: `Bearer ${token}` }, ca: stack.caPem });
      ws.on('error', () => undefined);
      await new Promise((res) => ws.once('open', res));
      const wsClosed = new Promise((res) => ws.once('close', res));
      ws.send(noise);
      await wsClosed;
    };
    await round();
    await new Promise((r) => setTimeout(r, 200));
    const before = fds();
    // every connection the gateway accepts from here on, as a TCP socket and as a TLS socket
    const accepted: WeakRef<object>[] = [];
    const track = (s: object) => void accepted.push(new WeakRef(s));
    stack.gateway.server.on('connection', track).on('secureConnection', track);
    try {
      for (let i = 0; i < 20; i++) await round();
    } finally {
      stack.gateway.server.off('connection', track).off('secureConnection', track);
    }
    await until('sockets back to where they were', () => fds() <= before, 5000).catch(() => undefined);
    expect(fds()).toBeLessThanOrEqual(before);
    expect(stack.gateway.tunnels.registry.connections('office-1')).toHaveLength(0);
    // no leak in memory either: once collected, none of them is left, so nothing of the gateway's
    // (a map, a timer, a listener, an HTTP/2 session or WebSocket on one) still holds the socket
    // of a refused or cut connection
    expect(accepted).toHaveLength(20 * 6 * 2);
    expect(await aliveAfterCollection(accepted)).toBe(0);
  }, 90_000);

  it('an upgrade that never starts HTTP/2 is cut after the ping interval, with a log line', async () => {
    const token = reissue('office-1');
    const r = await directUpgrade(`${stack.url}${TUNNEL_PATH}`, stack.caPem, { authorization: `Bearer ${token}` });
    if (!('socket' in r)) throw new Error(`not upgraded: ${r.status}`);
    r.socket.on('error', () => undefined);
    r.socket.resume();
    const started = Date.now();
    await new Promise((res) => r.socket.once('close', res));
    // the test stack pings every 1.5 s
    expect(Date.now() - started).toBeLessThan(4000);
    await until('logged', () => stack.logLines.some((l) => l.includes('no HTTP/2 settings within')));
  });

  it('a connection still setting up when its tunnel is revoked is cut, never let in', async () => {
    const token = reissue('office-1');
    const r = await directUpgrade(`${stack.url}${TUNNEL_PATH}`, stack.caPem, { authorization: `Bearer ${token}` });
    if (!('socket' in r)) throw new Error(`not upgraded: ${r.status}`);
    r.socket.on('error', () => undefined);
    const seen = stack.logLines.length;
    let wasUp = false;
    const watchUp = () => (wasUp ||= stack.gateway.tunnels.registry.isUp('office-1'));
    stack.gateway.tunnels.registry.on('change', watchUp);
    try {
      // revoked between the upgrade and the connector's first HTTP/2 settings
      stack.gateway.tunnels.store.revoke('office-1');
      const session = performServerHandshake(r.socket, { settings: HTTP2_SETTINGS });
      session.on('error', () => undefined);
      const goaway = new Promise((res) => session.once('goaway', (_c: number, _l: number, data?: Buffer) => res(readGoawayData(data))));
      await new Promise((res) => r.socket.once('close', res));
      expect(await goaway).toMatchObject({ code: CLOSE_REVOKED, reason: expect.stringMatching(/^tunnel revoked/) });
    } finally {
      stack.gateway.tunnels.registry.off('change', watchUp);
    }
    expect(wasUp).toBe(false);
    expect(stack.gateway.tunnels.registry.connectionCount('office-1')).toBe(0);
    expect(stack.logLines.slice(seen).some((l) => l.includes('tunnel revoked'))).toBe(true);
  });

  it('the cap of 16 connections per tunnel holds for upgrades that arrive together', async () => {
    const token = reissue('office-1');
    const sessions: ServerHttp2Session[] = [];
    // each connection that gets in speaks HTTP/2 at once and stays up, so none leaves early to make room
    const attempt = () =>
      directUpgrade(`${stack.url}${TUNNEL_PATH}`, stack.caPem, { authorization: `Bearer ${token}` }).then((r) => {
        if (!('socket' in r)) return r;
        r.socket.on('error', () => undefined);
        const session = performServerHandshake(r.socket, { settings: HTTP2_SETTINGS });
        session.on('error', () => undefined);
        sessions.push(session);
        return { status: 101, code: undefined };
      });
    try {
      const results = await Promise.all(Array.from({ length: 20 }, attempt));
      expect(results.filter((x) => x.status === 101)).toHaveLength(16);
      expect(results.filter((x) => x.status !== 101)).toEqual(Array.from({ length: 4 }, () => ({ status: 429, code: 'too_many_connections' })));
      await until('all up', () => current().length === 16);
      expect(await attempt()).toEqual({ status: 429, code: 'too_many_connections' });
    } finally {
      for (const s of sessions) s.destroy();
    }
    await until('all gone', () => stack.gateway.tunnels.registry.connectionCount('office-1') === 0);
  }, 30_000);

  it('a refused upgrade is closed by the gateway even when the client never closes its side', async () => {
    const token = reissue('office-1');
    const port = Number(new URL(stack.url).port);
    const accepted: Socket[] = [];
    const track = (s: Socket) => void accepted.push(s);
    stack.gateway.server.on('secureConnection', track);
    const clients: Socket[] = [];
    /** A request by hand over a socket that stays half-open: it reads the answer and never ends. */
    const halfOpen = (path: string, headers: string) =>
      new Promise<string>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: stack.caPem, allowHalfOpen: true } as ConnectionOptions, () => s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n${headers}\r\n`));
        clients.push(s);
        let got = '';
        s.on('data', (d: Buffer) => {
          got += d.toString();
          if (got.includes('\r\n\r\n')) resolve(got.split('\r\n')[0]!);
        });
        s.on('error', reject);
      });
    try {
      const bad = token.slice(0, -4) + 'AAAA';
      const answers = [];
      for (let i = 0; i < 5; i++) {
        answers.push(await halfOpen(TUNNEL_PATH, `Upgrade: ${TUNNEL_UPGRADE}\r\nAuthorization: Bearer ${bad}\r\n`));
        answers.push(await halfOpen('/no-such-path', 'Upgrade: websocket\r\n'));
        answers.push(await halfOpen('/ws/desktop', `Upgrade: websocket\r\nOrigin: ${stack.url}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 1).toString('base64')}\r\n`));
      }
      expect(new Set(answers)).toEqual(new Set(['HTTP/1.1 401 Unauthorized', 'HTTP/1.1 404 Not Found']));
      expect(accepted).toHaveLength(15);
      await until('the gateway closed every refused socket', () => accepted.every((s) => s.destroyed), 6000);
      // the clients' sides are still open: the gateway did not wait for them
      expect(clients.every((c) => !c.destroyed)).toBe(true);
    } finally {
      stack.gateway.server.off('secureConnection', track);
      for (const c of clients) c.destroy();
    }
  });

  for (const transport of ['direct', 'websocket'] as const) {
    it(`a connector that stops reading is cut after one unanswered ping, with a log line, and nothing holds on to it (${transport})`, async () => {
      const token = reissue('office-1');
      const { performServerHandshake } = await import('node:http2');
      const headers = { authorization: `Bearer ${token}` };
      // the gateway's socket for this connection, as TCP and as TLS (once: nothing to undo if the
      // test fails; the port shows it was this connection and not another)
      const accepted: { ref: WeakRef<Socket>; port: number | undefined }[] = [];
      const track = (sock: Socket) => void accepted.push({ ref: new WeakRef(sock), port: sock.remotePort });
      stack.gateway.server.once('connection', track).once('secureConnection', track);
      let underlying: Duplex;
      if (transport === 'websocket') {
        const ws = new WebSocket(`${stack.url.replace(/^http/, 'ws')}${TUNNEL_PATH}`, [TUNNEL_SUBPROTOCOL], { headers, ca: stack.caPem });
        const { websocketDuplex } = await import('../../server/tunnel/websocket-duplex.js');
        const duplex = websocketDuplex(ws);
        await new Promise((r) => ws.once('open', r));
        performServerHandshake(duplex).on('error', () => undefined);
        underlying = (ws as unknown as { _socket: Duplex })._socket;
      } else {
        const r = await directUpgrade(`${stack.url}${TUNNEL_PATH}`, stack.caPem, headers);
        if (!('socket' in r)) throw new Error(`not upgraded: ${r.status}`);
        r.socket.on('error', () => undefined);
        // HTTP/2 given the socket itself would read it natively, out of pause()'s reach: so it
        // gets a JavaScript stream that reads from the socket only while the socket flows
        underlying = r.socket;
        const sock = r.socket;
        const relay = new Duplex({
          read: () => void sock.resume(),
          write: (chunk: Buffer, _enc, cb) => void sock.write(chunk, cb),
        });
        sock.on('data', (c: Buffer) => relay.push(c) || sock.pause());
        performServerHandshake(relay).on('error', () => undefined);
      }
      const pingLogs = () => stack.logLines.filter((l) => l.includes('did not answer a ping')).length;
      const before = pingLogs();
      await until('attached', () => current().length === 1);
      expect(current()[0]!.transport).toBe(transport);
      // a real HTTP/2 peer answers the pings: it stays for several intervals (the test stack pings every 1.5 s)
      await new Promise((r) => setTimeout(r, 4000));
      expect(current()).toHaveLength(1);
      expect(current()[0]!.rttMs).toBeTypeOf('number');
      // stop reading: the gateway's pings (and anything else) go unanswered
      underlying.pause();
      const started = Date.now();
      await until('dropped', () => current().length === 0, 8000);
      expect(Date.now() - started).toBeLessThan(4000);
      expect(pingLogs()).toBeGreaterThan(before);
      const port = (underlying as Socket).localPort;
      underlying.destroy();
      // cut while it read nothing: nothing at the gateway (the registry, the HTTP/2 session or
      // WebSocket on it, a timer) still holds its socket
      expect(accepted.map((a) => a.port)).toEqual([port, port]);
      expect(await aliveAfterCollection(accepted.map((a) => a.ref))).toBe(0);
    }, 30_000);
  }

  for (const transport of ['direct', 'websocket'] as const) it(`revoking cuts the connector at once, ends its desktops with a message, and the connector stops for good (${transport})`, async () => {
    const token = reissue('office-1');
    const connector = await startConnector(token, { ingress: rules(), caFile, connections: 2, transport });
    await until('connected', () => current().length === 2);
    expect(current().map((c) => c.transport)).toEqual([transport, transport]);
    const conn = await openDesktop(alice, stack.url, stack.caPem, { token: await launchToken(alice, stack.url, 'office-pc') });
    await conn.waitFor((i) => i[0] === 'sync', 15_000);
    await rdpConnected();
    const { tunnelRevoke, tunnelTarget } = await import('../../server/tunnel/tunnel-cli.js');
    const out: string[] = [];
    const started = Date.now();
    expect(await tunnelRevoke(tunnelTarget(stack.gateway.config()), 'office-1', { out: (t) => out.push(t), err: (t) => out.push(t) })).toBe(0);
    expect(out.join('')).toMatch(/cut its live connections/);
    const err = await conn.waitFor((i) => i[0] === 'error', 5000);
    // told that it was revoked, not invited to open it again
    expect(err[1]).toMatch(/An administrator revoked the connector of this desktop's network \(office-1\)/);
    expect(Date.now() - started).toBeLessThan(3000);
    const fatal = await connector.fatal;
    expect(fatal.permanent).toBe(true);
    expect(fatal.message).toMatch(/revoked/);
    await connector.stop();
    expect(stack.gateway.tunnels.registry.isUp('office-1')).toBe(false);
    expect(stack.audit.entries!.some((e) => e.event === 'tunnel-revoke' && e.tunnel === 'office-1')).toBe(true);
  }, 30_000);

  it('a connector killed mid-session ends its desktops cleanly, and only its own; the tile goes offline, and comes back after a restart', async () => {
    const token = reissue('office-1');
    const first = spawnConnector(stack.stateDir, token, { ingress: rules(), caFile, connections: 2 });
    // another site's connector, with a desktop open through it the whole time
    const otherSite = await startConnector(reissue('office-2'), { ingress: rules(), caFile, connections: 1 });
    try {
      await until('connected', () => current().length === 2, 20_000);
      await until('office-2 connected', () => stack.gateway.tunnels.registry.connections('office-2').length === 1);
      const conn = await openDesktop(alice, stack.url, stack.caPem, { token: await launchToken(alice, stack.url, 'office-pc') });
      await conn.waitFor((i) => i[0] === 'sync', 15_000);
      await rdpConnected();
      const other = await openDesktop(alice, stack.url, stack.caPem, { token: await launchToken(alice, stack.url, 'other-site') });
      await other.waitFor((i) => i[0] === 'sync', 15_000);
      const office2Streams = () => stack.gateway.tunnels.registry.connections('office-2').reduce((n, c) => n + c.streams, 0);
      expect(office2Streams()).toBe(1);
      await first.kill('SIGKILL');
      const err = await conn.waitFor((i) => i[0] === 'error', 5000);
      expect(err[1]).toMatch(/office-1/);
      await conn.closed;
      await until('tile offline', async () => (await tileStatus('office-pc'))?.status === 'offline', 5000);
      expect((await tileStatus('office-pc'))?.statusMessage).toMatch(/office-1/);
      // the other site's desktop never noticed: no error, still open, its tunnel stream still there
      expect(other.instructions.some((i) => i[0] === 'error')).toBe(false);
      expect(other.ws.readyState).toBe(WebSocket.OPEN);
      expect(office2Streams()).toBe(1);
      expect((await tileStatus('other-site'))?.status).toBe('ready');
      if (guacd.kind === 'standin') {
        // and it still answers: a key press comes back as a new frame
        const seen = other.instructions.length;
        other.send('3.key,2.97,1.1;3.key,2.97,1.0;');
        await until('a frame after the key', () => other.instructions.slice(seen).some((i) => i[0] === 'sync'), 5000);
      }
      other.ws.close();
      await other.closed;
    } finally {
      await first.kill('SIGKILL');
      await otherSite.stop();
    }
    const second = spawnConnector(stack.stateDir, token, { ingress: rules(), caFile, connections: 2 });
    try {
      await until('tile ready again', async () => (await tileStatus('office-pc'))?.status === 'ready', 20_000);
      const again = await openDesktop(alice, stack.url, stack.caPem, { token: await launchToken(alice, stack.url, 'office-pc') });
      await again.waitFor((i) => i[0] === 'sync', 15_000);
      again.ws.close();
      // SIGTERM drains and exits 0
      expect(await second.kill('SIGTERM')).toBe(0);
    } finally {
      await second.kill('SIGKILL');
    }
  }, 90_000);

  it('stopping (SIGTERM) drains: open desktops keep working, new ones are refused, and it ends when they do or at the deadline', async () => {
    for (const leaveOpen of [false, true]) {
      const token = reissue('office-1');
      const connector = await startConnector(token, { ingress: [{ allow: `tcp://127.0.0.1:${echoPort}` }, { deny: 'all' }], caFile, connections: 2, drainSeconds: leaveOpen ? 2 : 20 });
      await until('connected', () => current().length === 2);
      const { stream } = await stack.gateway.tunnels.registry.openStream('office-1', '127.0.0.1', echoPort, 5000);
      expect(await echoThrough(stream, 'before')).toBe('before');
      const t0 = Date.now();
      let stopped = false;
      const stopping = connector.stop().then(() => (stopped = true));
      await new Promise((r) => setTimeout(r, 300));
      // the open desktop still works, and nothing new is opened through a draining connector
      expect(await echoThrough(stream, 'while draining')).toBe('while draining');
      await expect(stack.gateway.tunnels.registry.openStream('office-1', '127.0.0.1', echoPort, 3000)).rejects.toMatchObject({ kind: expect.stringMatching(/offline|refused|lost/) });
      expect(stopped).toBe(false);
      if (leaveOpen) {
        // nobody closes it: the deadline (drainSeconds: 2) ends it
        await stopping;
        expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
        expect(Date.now() - t0).toBeLessThan(6000);
        await until('stream closed at the deadline', () => stream.destroyed || stream.closed);
      } else {
        // the desktop closes: the connector stops then, long before its 20 s deadline
        stream.destroy();
        await stopping;
        expect(Date.now() - t0).toBeLessThan(5000);
      }
      await until('tunnel down', () => current().length === 0);
    }
  }, 60_000);

  it('SIGTERM to the connector process while a desktop is open: it keeps working, then the process exits 0 once it closes', async () => {
    const connector = spawnConnector(stack.stateDir, reissue('office-1'), { ingress: [{ allow: `tcp://127.0.0.1:${echoPort}` }, { deny: 'all' }], caFile, connections: 1, drainSeconds: 20 });
    try {
      await until('connected', () => current().length === 1, 20_000);
      const { stream } = await stack.gateway.tunnels.registry.openStream('office-1', '127.0.0.1', echoPort, 5000);
      expect(await echoThrough(stream, 'before')).toBe('before');
      connector.proc.kill('SIGTERM');
      await until('draining', () => connector.lines.some((l) => l.includes('stopping: draining open streams')));
      expect(await echoThrough(stream, 'while draining')).toBe('while draining');
      expect(connector.proc.exitCode).toBe(null);
      const t0 = Date.now();
      stream.destroy();
      expect(await connector.exited).toBe(0);
      // it ended because the desktop did, not at its 20 s deadline
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await connector.kill('SIGKILL');
    }
  }, 40_000);

  const noSocketReader = tcpSocketsUnavailable();
  if (noSocketReader) process.stderr.write(`SKIP tunnel, Nagle's flag at both ends: ${noSocketReader}\n`);
  for (const transport of ['direct', 'websocket'] as const) {
    it.skipIf(noSocketReader)(`Nagle is off on the tunnel's sockets at both ends and on the desktop's at the connector, asked of the kernel (${transport})`, async () => {
      const connector = spawnConnector(stack.stateDir, reissue('office-1'), { ingress: [{ allow: `tcp://127.0.0.1:${echoPort}` }, { deny: 'all' }], caFile, connections: 2, transport });
      try {
        await until('connected', () => current().length === 2, 20_000);
        const { stream } = await stack.gateway.tunnels.registry.openStream('office-1', '127.0.0.1', echoPort, 5000);
        expect(await echoThrough(stream, 'typed')).toBe('typed');
        const gatewayPort = new URL(stack.url).port;
        const atConnector = tcpSocketsOf(connector.proc.pid!).filter((s) => s.state === 'ESTABLISHED');
        const tunnels = atConnector.filter((s) => s.remote.endsWith(`:${gatewayPort}`));
        expect(tunnels).toHaveLength(2);
        expect(atConnector.filter((s) => s.remote === `127.0.0.1:${echoPort}`)).toHaveLength(1);
        expect(atConnector.filter((s) => !s.noDelay)).toEqual([]);
        // the gateway runs in this process: its ends of the connector's two connections (Node's
        // https server sets the flag on every socket it accepts, and we again; what counts is
        // that the kernel has it)
        const ends = new Set(tunnels.map((s) => s.local));
        const atGateway = tcpSocketsOf(process.pid).filter((s) => s.state === 'ESTABLISHED' && ends.has(s.remote));
        expect(atGateway).toHaveLength(2);
        expect(atGateway.filter((s) => !s.noDelay)).toEqual([]);
        stream.destroy();
      } finally {
        await connector.kill('SIGKILL');
      }
    }, 40_000);
  }

  it('bulk bytes arrive exact in both directions on several streams at once', async () => {
    const token = reissue('office-1');
    const connector = await startConnector(token, { ingress: [{ allow: `tcp://127.0.0.1:${echoPort}` }, { deny: 'all' }], caFile, connections: 2 });
    try {
      await until('connected', () => current().length === 2);
      const { createHash, randomBytes } = await import('node:crypto');
      const one = async (mib: number) => {
        const { stream } = await stack.gateway.tunnels.registry.openStream('office-1', '127.0.0.1', echoPort, 5000);
        const sent = createHash('sha256');
        const got = createHash('sha256');
        let received = 0;
        const total = mib * 1024 * 1024;
        const done = new Promise<void>((resolve, reject) => {
          stream.on('data', (d: Buffer) => {
            got.update(d);
            received += d.length;
            if (received === total) resolve();
          });
          stream.on('error', reject);
        });
        // uneven sizes, so reads fill, overflow and undershoot the connector's buffers
        for (let left = total; left > 0; ) {
          const n = Math.min(left, 1 + Math.floor(Math.random() * 700_000));
          const chunk = randomBytes(n);
          sent.update(chunk);
          left -= n;
          if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
        }
        await done;
        stream.destroy();
        expect(got.digest('hex')).toBe(sent.digest('hex'));
      };
      await Promise.all([one(24), one(16), one(8), one(8)]);
    } finally {
      await connector.stop();
    }
  }, 60_000);

  for (const transport of ['direct', 'websocket'] as const) {
    it(`desktops that stop reading or send in bulk do not hold up an interactive one on the same connection (${transport})`, async () => {
      const token = reissue('office-1');
      const flood = await startFlood();
      const floodPort = flood.port;
      const connector = await startConnector(token, { ingress: [{ allow: `tcp://127.0.0.1:${floodPort}` }, { allow: `tcp://127.0.0.1:${echoPort}` }, { deny: 'all' }], caFile, connections: 1, transport });
      const opened: Duplex[] = [];
      try {
        await until('connected', () => current().length === 1);
        expect(current()[0]!.transport).toBe(transport);
        const open = async (port: number) => {
          const { stream } = await stack.gateway.tunnels.registry.openStream('office-1', '127.0.0.1', port, 5000);
          opened.push(stream);
          return stream;
        };
        // six whose guacd side stopped reading: their windows fill and stay full
        for (let i = 0; i < 6; i++) (await open(floodPort)).pause();
        // four read as fast as they come
        let bulk = 0;
        for (let i = 0; i < 4; i++) (await open(floodPort)).on('data', (d: Buffer) => (bulk += d.length));
        await new Promise((r) => setTimeout(r, 500));
        const echo = await open(echoPort);
        const times: number[] = [];
        for (let i = 0; i < 20; i++) {
          const t0 = Date.now();
          const back = new Promise((r) => echo.once('data', r));
          echo.write(`k${i}`);
          await back;
          times.push(Date.now() - t0);
        }
        // a keystroke's round trip stays interactive (loopback: a few ms; the bound is for a loaded CI machine)
        expect(Math.max(...times)).toBeLessThan(1000);
        const bulkBefore = bulk;
        await new Promise((r) => setTimeout(r, 200));
        expect(bulk).toBeGreaterThan(bulkBefore);
      } finally {
        opened.forEach((s) => s.destroy());
        await connector.stop();
        flood.close();
      }
    }, 60_000);
  }

  it('160 busy streams on one connection: every one opens and moves data, and the connection survives', async () => {
    const token = reissue('office-1');
    const flood = await startFlood();
    const port = flood.port;
    const connector = await startConnector(token, { ingress: [{ allow: `tcp://127.0.0.1:${port}` }, { deny: 'all' }], caFile, connections: 1 });
    try {
      await until('connected', () => current().length === 1);
      const id = current()[0]!.id;
      const opened = await Promise.allSettled(Array.from({ length: 160 }, () => stack.gateway.tunnels.registry.openStream('office-1', '127.0.0.1', port, 10_000)));
      const refused = opened.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason));
      const streams = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value.stream] : []));
      const counts = streams.map(() => 0);
      const errors: string[] = [];
      streams.forEach((st, i) => {
        st.on('data', (d: Buffer) => (counts[i]! += d.length));
        st.on('error', (e) => errors.push(e.message));
      });
      // every stream moves data (a slow CI machine gets longer than the 1.5 s this takes here)
      await until('data on every stream', () => counts.every((c) => c > 0) || errors.length > 0, 15_000).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
      const seen = { refused, errors: [...new Set(errors)], idle: counts.filter((c) => c === 0).length, connections: current().map((c) => c.id) };
      streams.forEach((st) => st.destroy());
      expect(seen).toEqual({ refused: [], errors: [], idle: 0, connections: [id] });
      // the connector's side of each stream, and its desktop socket, go too
      await until('connector streams closed', () => connector.supervisor.activeStreams() === 0, 5000);
    } finally {
      await connector.stop();
      flood.close();
    }
  }, 60_000);

  it.skipIf(process.getuid?.() !== 0)('another local user cannot take the handoff meant for guacd, though it comes from the same loopback address', async () => {
    const token = reissue('office-1');
    const connector = await startConnector(token, { ingress: [{ allow: `tcp://127.0.0.1:${echoPort}` }, { deny: 'all' }], caFile, connections: 1 });
    try {
      await until('connected', () => current().length === 1);
      const seen = stack.logLines.length;
      const route = await stack.gateway.tunnels.route('office-1', '127.0.0.1', echoPort, 'hijack-test');
      // a process of user nobody. First it tries to look like guacd: it listens on guacd's port
      // number at other loopback addresses, and keeps a connection to the gateway open from
      // guacd's port number. Then it connects to the handoff, asks for an echo and reports what it got
      const gatewayPort = Number(new URL(stack.url).port);
      const thiefScript = `const net = require('net');
        let n = 0;
        const steal = () => {
          const s = net.connect(${route.port}, '127.0.0.1', () => s.write('steal'));
          let got = '';
          const done = () => { process.stdout.write(JSON.stringify({ got })); process.exit(0); };
          s.on('data', (d) => { got += d; done(); });
          s.on('error', () => {});
          s.on('close', done);
          setTimeout(done, 3000);
        };
        const ready = () => ++n === 3 && steal();
        for (const h of ['127.0.0.2', '::1']) net.createServer().listen(${guacd.port}, h, ready);
        const c = net.connect({ port: ${gatewayPort}, host: '127.0.0.1', localAddress: '127.0.0.3', localPort: ${guacd.port} }, () => { console.error('from-guacd-port: connected'); ready(); });
        c.on('error', (e) => { console.error('from-guacd-port: ' + e.code); ready(); });`;
      const thief = spawn(process.execPath, ['-e', thiefScript], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] });
      let thiefLog = '';
      thief.stderr!.on('data', (d: Buffer) => (thiefLog += d.toString()));
      let out = '';
      thief.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await new Promise((r) => thief.once('exit', r));
      expect(JSON.parse(out)).toEqual({ got: '' });
      // its connection from guacd's port number was made: the trick was tried
      expect(thiefLog).toContain('from-guacd-port: connected');
      const line = await until('logged', () => stack.logLines.slice(seen).find((l) => l.includes("connection that is not guacd's refused")));
      expect(line).toContain('opened by uid 65534');
      // guacd's user (here the test process, which runs the guacd stand-in) still gets its desktop
      const s: Socket = connect({ host: route.host, port: route.port });
      await new Promise((r) => s.once('connect', r));
      expect(await echoThrough(s, 'mine')).toBe('mine');
      s.destroy();
    } finally {
      await connector.stop();
    }
  });

  it('200 streams opened and closed leave no sockets or listeners behind, and nothing that holds on to them', async () => {
    const token = reissue('office-1');
    const connector = await startConnector(token, { ingress: [{ allow: `tcp://127.0.0.1:${echoPort}` }, { deny: 'all' }], caFile, connections: 2 });
    await until('connected', () => current().length === 2);
    const warm = async () => {
      const route = await stack.gateway.tunnels.route('office-1', '127.0.0.1', echoPort, 'leak-test');
      const s: Socket = connect({ host: route.host, port: route.port });
      await new Promise((r) => s.once('connect', r));
      s.write('ping');
      await new Promise((r) => s.once('data', r));
      // no route.close(): the handoff must clean up after guacd's connection on its own
      s.destroy();
    };
    await warm();
    await until('settled', () => connector.metrics.value('drawbridge_connector_active_streams') === 0);
    const before = fds();
    // every TCP socket made in this process from here on: guacd's side (the test), the handoff's
    // accepted one at the gateway, the connector's to the desktop and the desktop's (the echo)
    const made: WeakRef<Socket>[] = [];
    const track = (message: unknown) => void made.push(new WeakRef((message as { socket: Socket }).socket));
    const channels = ['net.client.socket', 'net.server.socket'].map((name) => diagnostics.channel(name));
    for (const c of channels) c.subscribe(track);
    try {
      for (let i = 0; i < 200; i++) await warm();
    } finally {
      for (const c of channels) c.unsubscribe(track);
    }
    await until('all streams closed on both sides', () => connector.metrics.value('drawbridge_connector_active_streams') === 0 && stack.gateway.tunnels.registry.connections('office-1').every((c) => c.streams === 0));
    await until('sockets back to where they were', () => fds() <= before, 5000).catch(() => undefined);
    expect(fds()).toBeLessThanOrEqual(before);
    expect(connector.metrics.value('drawbridge_connector_streams_total')).toBe(201);
    // and in memory: once collected, none is left, so neither end's stream bookkeeping, the
    // handoff's pipes nor a timer still holds one, nor a tunnel stream piped to one
    expect(made).toHaveLength(200 * 4);
    expect(await aliveAfterCollection(made)).toBe(0);
    await connector.stop();
  }, 60_000);
});
