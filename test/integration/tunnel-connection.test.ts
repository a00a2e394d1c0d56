import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { ConnectionError } from '../../server/connector/connection-error.js';
import { TransportChoice } from '../../server/connector/transport-choice.js';
import { TunnelConnection } from '../../server/connector/tunnel-connection.js';
import { MetricSet } from '../../server/metrics/prometheus.js';
import { websocketTransport } from '../../server/tunnel/tunnel-transport.js';
import { TUNNEL_SUBPROTOCOL, TUNNEL_UPGRADE } from '../../server/tunnel/tunnel-wire.js';

/**
 * One connector connection against fronts that misbehave in ways a real gateway never does but a
 * path to it can: each must end the attempt with a reason the admin can act on, in bounded time,
 * and choose the transport for the next attempt right.
 */
describe('a connector connection against a misbehaving front', () => {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const sessions: ClientHttp2Session[] = [];
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => (p.has(TUNNEL_SUBPROTOCOL) ? TUNNEL_SUBPROTOCOL : false) });
  afterEach(() => {
    for (const s of sessions.splice(0)) s.destroy();
    for (const s of sockets) s.destroy();
    sockets.clear();
    for (const s of servers.splice(0)) s.close();
  });
  afterAll(() => wss.close());

  async function front(onUpgrade: (kind: 'direct' | 'websocket', socket: Socket, req: IncomingMessage) => void, onRequest?: Parameters<typeof createServer>[1]): Promise<string> {
    const server = createServer(onRequest ?? ((_q, res) => res.writeHead(404).end()));
    server.on('connection', (s: Socket) => (sockets.add(s), s.once('close', () => sockets.delete(s))));
    server.on('upgrade', (req, socket: Socket) => onUpgrade(String(req.headers.upgrade).toLowerCase() === 'websocket' ? 'websocket' : 'direct', socket, req));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/_drawbridge/tunnel`;
  }

  function attempt(url: string, mode: 'auto' | 'direct' = 'auto', shared?: { choice: TransportChoice; lines: string[] }, pingIntervalMs?: number) {
    const lines = shared?.lines ?? [];
    const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    const choice = shared?.choice ?? new TransportChoice(mode, log);
    const conn = new TunnelConnection({ url, token: 'dbt1_x', index: 0, connectorId: 'test', version: 'test', transport: choice, rules: [], dialTimeoutMs: 1000, handshakeTimeoutMs: 400, pingIntervalMs, log, metrics: new MetricSet() });
    const started = Date.now();
    const closed = new Promise<{ err: ConnectionError; ms: number }>((resolve) => conn.once('closed', (err: ConnectionError) => resolve({ err, ms: Date.now() - started })));
    conn.start();
    return { conn, closed, lines, choice };
  }

  /** Until the connection is up; fails the test if it closes first. */
  const up = (conn: TunnelConnection) => new Promise<void>((resolve, reject) => (conn.once('up', resolve), conn.once('closed', reject)));

  it('a 101 followed by silence ends the attempt at the setup deadline, retryable', async () => {
    const url = await front((_k, socket) => socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${TUNNEL_UPGRADE}\r\n\r\n`));
    const { closed } = attempt(url, 'direct');
    const { err, ms } = await closed;
    expect(err.message).toMatch(/sent no HTTP\/2 settings within 400 ms of the upgrade/);
    expect(err.permanent).toBe(false);
    expect(ms).toBeLessThan(2000);
  });

  it('a 101 followed by garbage ends the attempt at once, retryable, saying what came', async () => {
    const url = await front((_k, socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${TUNNEL_UPGRADE}\r\n\r\n`);
      socket.write('<html>this is not HTTP/2</html>\r\n'.repeat(20));
    });
    const { closed } = attempt(url, 'direct');
    const { err, ms } = await closed;
    expect(err.message).toContain('closed before HTTP/2 started');
    expect(err.permanent).toBe(false);
    // at once: not at the 400 ms setup deadline (whose message is another)
    expect(ms).toBeLessThan(2000);
  });

  it('a gateway that stops reading once HTTP/2 is up is dropped after one unanswered ping, retryable', async () => {
    const frontUrl = await front((_k, socket) => {
      // as the gateway does: HTTP/2 takes the socket once the 101 is written
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${TUNNEL_UPGRADE}\r\n\r\n`, () => {
        const session = http2Connect('http://front.invalid', { createConnection: () => socket });
        session.on('error', () => undefined);
        sessions.push(session);
      });
    });
    // a relay in front of it, to hang the gateway's reading side (HTTP/2 reads its own socket natively)
    let fromConnector: Socket | undefined;
    const relay = createNetServer((c) => {
      fromConnector = c;
      const g = netConnect(Number(new URL(frontUrl).port), '127.0.0.1');
      c.pipe(g).on('error', () => undefined);
      g.pipe(c).on('error', () => undefined);
      c.on('close', () => g.destroy());
      g.on('close', () => c.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const { conn, closed } = attempt(`http://127.0.0.1:${(relay.address() as AddressInfo).port}/_drawbridge/tunnel`, 'direct', undefined, 300);
      await up(conn);
      fromConnector!.unpipe();
      fromConnector!.pause();
      const { err, ms } = await closed;
      expect(err.message).toBe('the gateway did not answer a ping within 300 ms');
      expect(err.permanent).toBe(false);
      expect(ms).toBeLessThan(3000);
    } finally {
      fromConnector?.destroy();
      relay.close();
    }
  });

  /** Answers a WebSocket upgrade the way the gateway does: accepts it and starts HTTP/2 over it as the client. */
  function answerWebSocket(socket: Socket, req: IncomingMessage): void {
    wss.handleUpgrade(req, socket, Buffer.alloc(0), (ws) => {
      const transport = websocketTransport(ws);
      const session = http2Connect('http://front.invalid', { createConnection: () => transport.stream });
      session.on('error', () => undefined);
      sessions.push(session);
    });
  }

  it('an upgrade held unanswered once it reached the front is worth one WebSocket try, and one that works settles nothing', async () => {
    const asked: string[] = [];
    const url = await front((kind, socket, req) => {
      asked.push(kind);
      // the direct upgrade is held; the WebSocket is answered and HTTP/2 starts over it
      if (kind === 'websocket') answerWebSocket(socket, req);
    });
    const { conn, closed, lines, choice } = attempt(url);
    await up(conn);
    expect(asked).toEqual(['direct', 'websocket']);
    expect(conn.kind).toBe('websocket');
    expect(lines.some((l) => l.includes('trying a WebSocket') && l.includes('no answer to the upgrade within 400 ms'))).toBe(true);
    // a restarting gateway holds or drops an upgrade too: the next connection dials direct again
    expect(choice.current()).toBe('direct');
    expect(lines.some((l) => l.includes('passes only WebSocket upgrades'))).toBe(false);
    conn.close();
    await closed;
  });

  it('an upgrade held unanswered, then a WebSocket that fails too, ends the attempt in bounded time, retryable', async () => {
    const asked: string[] = [];
    const url = await front((kind) => void asked.push(kind));
    const { closed, choice } = attempt(url);
    const { err, ms } = await closed;
    expect(asked).toEqual(['direct', 'websocket']);
    expect(err.permanent).toBe(false);
    expect(ms).toBeLessThan(3000);
    expect(choice.current()).toBe('direct');
  });

  it("one connection's proxy-shaped refusal is not settled by another connection's lucky try", async () => {
    // connection 0: a 400 to direct, and its WebSocket is refused as well (the gateway may be down)
    const first = await front((kind, socket) => {
      socket.end(kind === 'direct' ? 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n' : 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    const zero = attempt(first);
    const { err } = await zero.closed;
    expect(err.message).toBe('the gateway answered HTTP 503');
    // connection 1, sharing the connector's choice: hung up on, and its WebSocket works
    const second = await front((kind, socket, req) => (kind === 'websocket' ? answerWebSocket(socket, req) : socket.destroy()));
    const one = attempt(second, 'auto', zero);
    await up(one.conn);
    expect(one.conn.kind).toBe('websocket');
    expect(zero.choice.current()).toBe('direct');
    one.conn.close();
    await one.closed;
  });

  it('a proxy-shaped refusal whose WebSocket then works moves new connections to the WebSocket', async () => {
    const url = await front((kind, socket, req) => {
      if (kind === 'websocket') return answerWebSocket(socket, req);
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    const { conn, closed, lines, choice } = attempt(url);
    await up(conn);
    expect(conn.kind).toBe('websocket');
    expect(choice.current()).toBe('websocket');
    expect(lines.some((l) => l.includes('passes only WebSocket upgrades'))).toBe(true);
    conn.close();
    await closed;
  });

  it('a 502 from the way to the gateway is retried later on the same transport, without a WebSocket try', async () => {
    const asked: string[] = [];
    const url = await front((kind, socket) => {
      asked.push(kind);
      socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 11\r\n\r\nBad Gateway');
    });
    const { err } = await attempt(url).closed;
    expect(asked).toEqual(['direct']);
    expect(err.message).toBe('the gateway answered HTTP 502');
    expect(err.permanent).toBe(false);
  });

  it("a WAF's 403 is not taken for a refused token: the WebSocket is tried and the connector keeps trying", async () => {
    const asked: string[] = [];
    const url = await front((kind, socket) => {
      asked.push(kind);
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 19\r\n\r\n<h1>Blocked</h1>\r\n\r\n');
    });
    const { err } = await attempt(url).closed;
    expect(asked).toEqual(['direct', 'websocket']);
    expect(err.permanent).toBe(false);
  });

  it("the gateway's own token refusal stops the connector, with no WebSocket try", async () => {
    const body = JSON.stringify({ error: { code: 'tunnel_token_invalid', message: 'The connector token is not valid.' } });
    const asked: string[] = [];
    const url = await front((kind, socket) => {
      asked.push(kind);
      socket.end(`HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    const { err } = await attempt(url).closed;
    expect(asked).toEqual(['direct']);
    expect(err.permanent).toBe(true);
    expect(err.message).toMatch(/refused this connector's token \(tunnel_token_invalid\)/);
  });
});
