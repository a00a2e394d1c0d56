import { EventEmitter } from 'node:events';
import { performServerHandshake, type ServerHttp2Session } from 'node:http2';
import type { Agent } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { websocketDuplex } from '../tunnel/websocket-duplex.js';
import type { Logger } from '../log/logger.js';
import type { MetricSet } from '../metrics/prometheus.js';
import {
  CLOSE_REVOKED,
  CONNECTION_WINDOW,
  HEADER_CONNECTION_INDEX,
  HEADER_CONNECTOR_ID,
  HEADER_CONNECTOR_VERSION,
  HTTP2_SETTINGS,
  MAX_WS_PAYLOAD,
  PING_INTERVAL_MS,
  TUNNEL_SUBPROTOCOL,
} from '../tunnel/tunnel-wire.js';
import { handleStream, type Resolver } from './stream-handler.js';
import type { IngressRule } from './ingress.js';

/** Why a connection ended: retryable errors are retried with backoff, permanent ones stop the connector. */
export class ConnectionError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'ConnectionError';
  }
}

export interface TunnelConnectionOptions {
  url: string;
  token: string;
  index: number;
  connectorId: string;
  version: string;
  ca?: Buffer[];
  agent?: Agent;
  rules: readonly IngressRule[];
  dialTimeoutMs: number;
  handshakeTimeoutMs?: number;
  log: Logger;
  metrics: MetricSet;
  resolve?: Resolver;
}

// The WebSocket mask protects caches from frames whose bytes a script chose; a connector runs no
// one else's scripts, so it sends the all-zero mask, which ws recognises and skips XOR-ing.
const zeroMask = (mask: Buffer) => void mask.fill(0);

const TLS_CIPHERS = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384'].join(':');

/**
 * One outbound connection to the gateway: a WebSocket whose bytes carry an HTTP/2 session in which
 * this side is the server. Emits 'up' once the session is established and 'closed' (with the
 * reason) exactly once.
 */
export class TunnelConnection extends EventEmitter {
  private ws: WebSocket | undefined;
  private session: ServerHttp2Session | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private accepting = true;
  upSince: number | undefined;
  rttMs: number | undefined;

  constructor(private readonly opts: TunnelConnectionOptions) {
    super();
  }

  private streamCount = 0;

  get activeStreams(): number {
    return this.streamCount;
  }

  start(): void {
    const { opts } = this;
    const ws = new WebSocket(opts.url, [TUNNEL_SUBPROTOCOL], {
      headers: {
        authorization: `Bearer ${opts.token}`,
        [HEADER_CONNECTOR_ID]: opts.connectorId,
        [HEADER_CONNECTOR_VERSION]: opts.version,
        [HEADER_CONNECTION_INDEX]: String(opts.index),
      },
      perMessageDeflate: false,
      maxPayload: MAX_WS_PAYLOAD,
      handshakeTimeout: opts.handshakeTimeoutMs ?? 15_000,
      generateMask: zeroMask,
      // AES-128-GCM first: as strong as needed here and measured 25% cheaper than AES-256 (the
      // connector encrypts every byte of every desktop); the gateway honours the client's order
      ciphers: TLS_CIPHERS,
      skipUTF8Validation: true,
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.agent ? { agent: opts.agent } : {}),
    });
    this.ws = ws;
    // the duplex must exist before the first message can arrive, or the HTTP/2 preface is lost
    const duplex = websocketDuplex(ws);
    duplex.on('error', () => undefined);

    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body = (body + c).slice(0, 2000)));
      res.on('end', () => {
        let code = '';
        try {
          code = (JSON.parse(body) as { error?: { code?: string } }).error?.code ?? '';
        } catch {
          /* not ours: a proxy or another server answered */
        }
        const status = res.statusCode ?? 0;
        const permanent = status === 401 || status === 403;
        const why =
          status === 401 || status === 403
            ? `the gateway refused this connector's token (${code || status}): it is wrong or the tunnel was revoked; create a new token with \`drawbridge tunnel create\``
            : `the gateway answered HTTP ${status}${code ? ` (${code})` : ''}`;
        this.finish(new ConnectionError(why, permanent));
      });
      res.on('error', () => this.finish(new ConnectionError(`the gateway answered HTTP ${res.statusCode ?? 0}`, false)));
    });
    ws.on('error', (err: NodeJS.ErrnoException) => this.finish(new ConnectionError(`cannot reach the gateway: ${err.code ?? err.message}`, false)));
    ws.on('close', (code, reason) => {
      const text = reason.toString('utf8');
      if (code === CLOSE_REVOKED) return this.finish(new ConnectionError(`the gateway revoked this tunnel${text ? `: ${text}` : ''}`, true));
      this.finish(new ConnectionError(`the gateway closed the connection (${code}${text ? ` ${text}` : ''})`, false));
    });
    ws.once('upgrade', (res: IncomingMessage) => {
      const sock = res.socket as IncomingMessage['socket'] & { getCipher?(): { name: string; version: string } };
      sock.setNoDelay(true);
      opts.log.debug({ connection: opts.index, tls: sock.getCipher?.() }, 'upgraded to the tunnel WebSocket');
    });
    ws.once('open', () => {
      const session = performServerHandshake(duplex, { settings: HTTP2_SETTINGS });
      this.session = session;
      session.on('error', (err) => this.finish(new ConnectionError(`tunnel session error: ${err.message}`, false)));
      session.on('close', () => this.finish(new ConnectionError('tunnel session closed', false)));
      session.on('stream', (stream, headers) => {
        this.streamCount++;
        stream.once('close', () => this.streamCount--);
        handleStream(stream, headers, { rules: opts.rules, dialTimeoutMs: opts.dialTimeoutMs, log: opts.log, metrics: opts.metrics, resolve: opts.resolve, accepting: () => this.accepting });
      });
      session.once('remoteSettings', () => {
        session.setLocalWindowSize(CONNECTION_WINDOW);
        this.upSince = Date.now();
        this.startPings(session);
        this.emit('up');
      });
    });
  }

  private startPings(session: ServerHttp2Session): void {
    let outstanding = false;
    this.pingTimer = setInterval(() => {
      if (outstanding) return this.finish(new ConnectionError(`the gateway did not answer a ping within ${PING_INTERVAL_MS} ms`, false));
      outstanding = true;
      const ok = session.ping((err, ms) => {
        outstanding = false;
        if (err) return;
        this.rttMs = ms;
        this.opts.metrics.set('drawbridge_connector_rtt_ms', 'Round-trip time to the gateway (HTTP/2 ping)', ms, { connection: String(this.opts.index) });
      });
      if (!ok) outstanding = false;
    }, PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  /** Refuse new streams, let the open ones finish, and close once they have (or at the deadline). */
  async drain(deadlineMs: number): Promise<void> {
    this.accepting = false;
    const session = this.session;
    if (session && !session.closed && !session.destroyed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadlineMs);
        t.unref();
        // GOAWAY: the gateway opens no new streams here; close() waits for the open ones
        session.close(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.finish(new ConnectionError('connector shutting down', false));
  }

  private finish(err: ConnectionError): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    this.opts.metrics.forget('drawbridge_connector_rtt_ms', { connection: String(this.opts.index) });
    this.session?.destroy();
    const ws = this.ws;
    if (ws && ws.readyState === ws.OPEN) ws.close(1000);
    setTimeout(() => ws?.terminate(), 1000).unref();
    this.emit('closed', err);
  }

  close(): void {
    this.finish(new ConnectionError('closed', false));
  }
}
