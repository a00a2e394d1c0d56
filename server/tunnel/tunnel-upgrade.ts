import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { AuditLog } from '../audit/audit-log.js';
import { refuseUpgrade } from '../http/refuse-upgrade.js';
import { RefusalThrottle } from '../http/refusal-throttle.js';
import type { Logger } from '../log/logger.js';
import { decodeTunnelToken, TunnelTokenError } from './tunnel-token.js';
import type { TunnelRegistry } from './tunnel-registry.js';
import type { TunnelStore } from './tunnel-store.js';
import { socketTransport, websocketTransport } from './tunnel-transport.js';
import { HEADER_CONNECTION_INDEX, HEADER_CONNECTOR_ID, HEADER_CONNECTOR_VERSION, MAX_WS_PAYLOAD, TUNNEL_SUBPROTOCOL, TUNNEL_UPGRADE, type TransportKind } from './tunnel-wire.js';

export interface TunnelUpgradeOptions {
  store: TunnelStore;
  registry: TunnelRegistry;
  audit: AuditLog;
  log: Logger;
  clientIp(req: IncomingMessage): string | undefined;
  /** Re-reads the tunnel state if another process changed it, cutting what it revoked. */
  refreshStore(): void;
  /** Refused upgrades logged one by one per client address (IPv6: per /64) and 10 s; the rest are counted in one line (default 20). */
  refusalLimit?: number;
  /** Tests give their own (with a fake clock). */
  throttle?: RefusalThrottle;
  /** More connections than this for one tunnel are refused: a stolen token cannot pile them up. */
  maxConnectionsPerTunnel?: number;
}

const header = (req: IncomingMessage, name: string) => {
  const v = req.headers[name];
  return typeof v === 'string' ? v.slice(0, 100) : '';
};

/** Which transport the request asks for: `Upgrade: websocket` or `Upgrade: drawbridge-tunnel.v1`. */
function transportAsked(req: IncomingMessage): TransportKind | undefined {
  const asked = String(req.headers.upgrade ?? '').split(',').map((s) => s.trim().toLowerCase());
  if (asked.includes(TUNNEL_UPGRADE)) return 'direct';
  if (asked.includes('websocket')) return 'websocket';
  return undefined;
}

/**
 * The connectors' door. A connector is not a browser: it proves itself with its tunnel token in
 * the Authorization header, which a web page cannot set on a WebSocket, and a request carrying an
 * Origin (every browser sends one) is refused outright. Both transports pass the same checks.
 */
export function createTunnelUpgradeHandler(opts: TunnelUpgradeOptions): ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) & { close(): void } {
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_WS_PAYLOAD,
    skipUTF8Validation: true,
    handleProtocols: (p) => (p.has(TUNNEL_SUBPROTOCOL) ? TUNNEL_SUBPROTOCOL : false),
  });
  const max = opts.maxConnectionsPerTunnel ?? 16;
  const { log, audit } = opts;
  const throttle =
    opts.throttle ??
    new RefusalThrottle((from, n, windowMs) => {
      const reason = `${n} more refusals in ${windowMs / 1000} s, after too many to log one by one`;
      log.warn({ from, refusals: n }, `tunnel connections refused: ${reason}`);
      audit.write({ event: 'tunnel-connect', result: 'denied', ip: from, reason });
    }, opts.refusalLimit);

  let closed = false;
  const handler = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const ip = opts.clientIp(req);
    const deny = (status: number, code: string, message: string, reason: string, tunnel?: string) => {
      if (throttle.shouldLog(ip ?? 'unknown')) {
        log.warn({ ip, tunnel, reason }, `tunnel connection refused: ${reason}`);
        audit.write({ event: 'tunnel-connect', result: 'denied', ip, tunnel, reason });
      }
      refuseUpgrade(socket, status, code, message);
    };
    const transport = transportAsked(req);
    if (!transport) return deny(400, 'bad_upgrade', `Upgrade to "${TUNNEL_UPGRADE}" or to a WebSocket.`, `unknown upgrade (${String(req.headers.upgrade ?? '').slice(0, 60)})`);
    if (req.headers.origin) return deny(403, 'origin_rejected', 'Tunnel connections do not come from web pages.', `request carries an Origin (${String(req.headers.origin).slice(0, 100)})`);
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer (\S+)$/.exec(auth);
    if (!m) return deny(401, 'tunnel_token_missing', 'A connector token is required.', 'no bearer token');
    let token;
    try {
      token = decodeTunnelToken(m[1]!);
    } catch (err) {
      return deny(401, 'tunnel_token_invalid', 'The connector token is not valid.', err instanceof TunnelTokenError ? err.message : 'unreadable token');
    }
    opts.refreshStore();
    const check = opts.store.check(token);
    if (!check.ok) {
      // one answer for every failure: the caller learns nothing about which tunnels exist. The log
      // names the stored tunnel when the id is ours, never the name the caller wrote into the token
      const known = opts.store.list().find((t) => t.id === token.tunnelId)?.name;
      return deny(401, 'tunnel_token_invalid', 'The connector token is not valid.', check.reason.replace('_', ' '), known);
    }
    const tunnel = check.tunnel.name;
    if (opts.registry.connectionCount(tunnel) >= max) return deny(429, 'too_many_connections', `At most ${max} connections per tunnel.`, `over ${max} connections`, tunnel);
    if (transport === 'websocket' && !req.headers['sec-websocket-protocol']?.split(',').map((s) => s.trim()).includes(TUNNEL_SUBPROTOCOL)) {
      return deny(400, 'bad_subprotocol', `Use the "${TUNNEL_SUBPROTOCOL}" subprotocol.`, 'wrong subprotocol', tunnel);
    }
    const info = {
      tunnel,
      tunnelId: check.tunnel.id,
      connectorId: header(req, HEADER_CONNECTOR_ID) || 'unknown',
      version: header(req, HEADER_CONNECTOR_VERSION) || 'unknown',
      index: Number(header(req, HEADER_CONNECTION_INDEX)) || 0,
      address: ip ?? 'unknown',
      transport,
    };
    // held until the connection is attached (it then counts as setting up) or its socket closes
    const release = opts.registry.reserve(tunnel);
    socket.once('close', release);
    const accepted = () => audit.write({ event: 'tunnel-connect', result: 'success', ip, tunnel, reason: `connector ${info.connectorId} connection ${info.index} version ${info.version} over ${transport}` });
    if (transport === 'websocket') {
      return wss.handleUpgrade(req, socket, head, (ws) => {
        release();
        // the gateway began shutting down while this handshake was in flight
        if (closed) return ws.terminate();
        (socket as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
        accepted();
        opts.registry.attach(websocketTransport(ws), info);
      });
    }
    const sock = socket as Socket;
    // bytes the connector sent after its request belong to HTTP/2, which reads them from here
    if (head.length) sock.unshift(head);
    // HTTP/2 takes the socket's handle over: a write of ours still in flight would complete into
    // HTTP/2's hands (Node asserts on it), so the session starts once the 101 is written
    sock.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${TUNNEL_UPGRADE}\r\n\r\n`, (err) => {
      release();
      if (err || sock.destroyed) return;
      if (closed) return void sock.destroy();
      accepted();
      opts.registry.attach(socketTransport(sock), info);
    });
  };
  return Object.assign(handler, {
    /** At shutdown: upgrades still in flight are not attached, and what the throttle held back is logged. */
    close: () => {
      closed = true;
      throttle.close();
    },
  });
}
