import { createServer, type IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { TUNNEL_UPGRADE } from '../../server/tunnel/tunnel-wire.js';

/** The connector's direct upgrade by hand: the socket on 101, else the status and error code. */
export function directUpgrade(url: string, ca: string, headers: Record<string, string>, upgrade = TUNNEL_UPGRADE): Promise<{ socket: Socket } | { status: number; code?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { ...headers, connection: 'Upgrade', upgrade } });
    req.on('upgrade', (_res, socket: Socket, head: Buffer) => {
      if (head.length) socket.unshift(head);
      resolve({ socket });
    });
    req.on('response', (res: IncomingMessage) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, code });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A reverse proxy in front of the gateway that, like some CDNs and inspecting proxies, passes
 * WebSocket upgrades and answers any other upgrade with 400. Plain http on its side, TLS to the
 * gateway.
 */
export async function startWebSocketOnlyFront(gatewayUrl: string, ca: string): Promise<{ url: string; upgrades: string[]; close(): void }> {
  const upgrades: string[] = [];
  const target = new URL(gatewayUrl);
  const front = createServer((_req, res) => res.writeHead(404).end());
  front.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const kind = String(req.headers.upgrade ?? '').toLowerCase();
    upgrades.push(kind);
    client.on('error', () => undefined);
    if (kind !== 'websocket') {
      client.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const up = tlsConnect({ host: target.hostname, port: Number(target.port), ca, ...(isIP(target.hostname) ? {} : { servername: target.hostname }) }, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(front.address() as { port: number }).port}`,
    upgrades,
    close: () => {
      front.closeAllConnections();
      front.close();
    },
  };
}
