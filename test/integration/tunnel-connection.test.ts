import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionError } from '../../server/connector/connection-error.js';
import { TransportChoice } from '../../server/connector/transport-choice.js';
import { TunnelConnection } from '../../server/connector/tunnel-connection.js';
import { MetricSet } from '../../server/metrics/prometheus.js';
import { TUNNEL_UPGRADE } from '../../server/tunnel/tunnel-wire.js';

/**
 * One connector connection against fronts that misbehave in ways a real gateway never does but a
 * path to it can: each must end the attempt with a reason the admin can act on, in bounded time,
 * and choose the transport for the next attempt right.
 */
describe('a connector connection against a misbehaving front', () => {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  afterEach(() => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    for (const s of servers.splice(0)) s.close();
  });

  async function front(onUpgrade: (kind: 'direct' | 'websocket', socket: Socket) => void, onRequest?: Parameters<typeof createServer>[1]): Promise<string> {
    const server = createServer(onRequest ?? ((_q, res) => res.writeHead(404).end()));
    server.on('connection', (s: Socket) => (sockets.add(s), s.once('close', () => sockets.delete(s))));
    server.on('upgrade', (req, socket: Socket) => onUpgrade(String(req.headers.upgrade).toLowerCase() === 'websocket' ? 'websocket' : 'direct', socket));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/_drawbridge/tunnel`;
  }

  function attempt(url: string, mode: 'auto' | 'direct' = 'auto') {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    const choice = new TransportChoice(mode, log);
    const conn = new TunnelConnection({ url, token: 'dbt1_x', index: 0, connectorId: 'test', version: 'test', transport: choice, rules: [], dialTimeoutMs: 1000, handshakeTimeoutMs: 400, log, metrics: new MetricSet() });
    const started = Date.now();
    const closed = new Promise<{ err: ConnectionError; ms: number }>((resolve) => conn.once('closed', (err: ConnectionError) => resolve({ err, ms: Date.now() - started })));
    conn.start();
    return { closed, lines, choice };
  }

  it('a 101 followed by silence ends the attempt at the setup deadline, retryable', async () => {
    const url = await front((_k, socket) => socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${TUNNEL_UPGRADE}\r\n\r\n`));
    const { closed } = attempt(url, 'direct');
    const { err, ms } = await closed;
    expect(err.message).toMatch(/sent no HTTP\/2 settings within 400 ms of the upgrade/);
    expect(err.permanent).toBe(false);
    expect(ms).toBeLessThan(2000);
  });

  it('an upgrade held unanswered once it reached the front is worth one WebSocket try, which settles nothing', async () => {
    const asked: string[] = [];
    const url = await front((kind) => void asked.push(kind));
    const { closed, lines, choice } = attempt(url);
    const { err, ms } = await closed;
    expect(asked).toEqual(['direct', 'websocket']);
    expect(lines.some((l) => l.includes('trying a WebSocket') && l.includes('no answer to the upgrade within 400 ms'))).toBe(true);
    expect(err.permanent).toBe(false);
    expect(ms).toBeLessThan(3000);
    expect(choice.current()).toBe('direct');
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
