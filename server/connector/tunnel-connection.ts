import { EventEmitter } from 'node:events';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { performServerHandshake, type ServerHttp2Session } from 'node:http2';
import { request as httpsRequest, type Agent } from 'node:https';
import type { Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { WebSocket } from 'ws';
import type { Logger } from '../log/logger.js';
import type { MetricSet } from '../metrics/prometheus.js';
import { socketTransport, websocketTransport, type TunnelTransport } from '../tunnel/tunnel-transport.js';
import {
  CLOSE_REVOKED,
  CONNECTION_WINDOW,
  HEADER_CONNECTION_INDEX,
  HEADER_CONNECTOR_ID,
  HEADER_CONNECTOR_VERSION,
  HTTP2_SETTINGS,
  MAX_WS_PAYLOAD,
  PING_INTERVAL_MS,
  readGoawayData,
  SESSION_MEMORY_MB,
  TUNNEL_SUBPROTOCOL,
  TUNNEL_UPGRADE,
  type TransportKind,
} from '../tunnel/tunnel-wire.js';
import { ConnectionError } from './connection-error.js';
import { handleStream, type Resolver } from './stream-handler.js';
import type { IngressRule } from './ingress.js';
import type { TransportChoice } from './transport-choice.js';
import { judgeAnswer, readAnswer, type WebSocketWorth } from './upgrade-refusal.js';

export interface TunnelConnectionOptions {
  /** https://gateway/_drawbridge/tunnel (http:// only in tests). */
  url: string;
  token: string;
  index: number;
  connectorId: string;
  version: string;
  transport: TransportChoice;
  /** Built once for all dials (tunnelSecureContext): a context with a few hundred CAs takes ~30 ms of CPU to build. */
  secureContext?: SecureContext;
  agent?: Agent;
  rules: readonly IngressRule[];
  dialTimeoutMs: number;
  handshakeTimeoutMs?: number;
  /** Between pings to the gateway; one still unanswered at the next drops the connection. */
  pingIntervalMs?: number;
  log: Logger;
  metrics: MetricSet;
  resolve?: Resolver;
}

// The WebSocket mask protects caches from frames whose bytes a script chose; a connector runs no
// one else's scripts, so it sends the all-zero mask, which ws recognises and skips XOR-ing.
const zeroMask = (mask: Buffer) => void mask.fill(0);

// AES-128-GCM: as strong as needed here, and it is the connector and the gateway that encrypt every
// byte of every desktop (≈ 3% less CPU per MB than AES-256 on the tunnel bench). Node's TLS server,
// like most, picks by its own order, which puts AES-256 first; so for TLS 1.3 only its mandatory
// suite, TLS_AES_128_GCM_SHA256, is offered, which every TLS 1.3 server has
const TLS_CIPHERS = ['TLS_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384'].join(':');

/** The TLS context every dial to the gateway shares: the trusted CAs and our cipher order. */
export function tunnelSecureContext(ca: Buffer[]): SecureContext {
  return createSecureContext({ ca, ciphers: TLS_CIPHERS });
}

/** Why a dial failed, in words an admin can act on: a certificate refusal says where trust comes from. */
function dialFailure(err: NodeJS.ErrnoException): string {
  const code = err.code ?? err.message;
  if (/CERT_HAS_EXPIRED|CERT_NOT_YET_VALID/.test(code)) return `the gateway's certificate is outside its validity period (${code}): renew it, or check this machine's clock`;
  if (/ERR_TLS_CERT_ALTNAME_INVALID/.test(code)) return `the gateway's certificate does not name the host the connector dials (${code}): check the gateway URL in the token or connector.yml`;
  if (/CERT|UNABLE_TO_VERIFY|SELF_SIGNED/.test(code)) return `the gateway's certificate is not trusted (${code}): put its CA in caFile or in the system's CA bundle (or, behind an https proxy, the proxy's)`;
  return `cannot reach the gateway: ${code}`;
}

/** Whether the socket under a request got as far as the gateway (connected, and TLS done if TLS). */
function reachedGateway(req: ClientRequest): boolean {
  const sock = req.socket as (Socket & { getProtocol?(): string | null }) | null;
  if (!sock || sock.connecting || sock.destroyed) return false;
  return !sock.getProtocol || /^TLS/.test(sock.getProtocol() ?? '');
}

/**
 * One outbound connection to the gateway carrying an HTTP/2 session in which this side is the
 * server, over the direct upgrade or a WebSocket (see tunnel-wire). Emits 'up' once the session
 * is established and 'closed' (with the reason) exactly once.
 */
export class TunnelConnection extends EventEmitter {
  private transport: TunnelTransport | undefined;
  private pending: ClientRequest | WebSocket | undefined;
  private session: ServerHttp2Session | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private setupTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private accepting = true;
  /** What the gateway said in its GOAWAY, if it said why it cut us. */
  private goodbye: { code: number; reason: string } | undefined;
  upSince: number | undefined;
  rttMs: number | undefined;
  kind: TransportKind | undefined;
  /** What this attempt's failed direct upgrade was worth, once it fell back to a WebSocket. */
  private fallbackWorth: WebSocketWorth = 'no';

  constructor(private readonly opts: TunnelConnectionOptions) {
    super();
  }

  private streamCount = 0;

  get activeStreams(): number {
    return this.streamCount;
  }

  start(): void {
    if (this.opts.transport.current() === 'direct') this.dialDirect();
    else this.dialWebSocket();
  }

  private headers(): Record<string, string> {
    const { opts } = this;
    return {
      authorization: `Bearer ${opts.token}`,
      [HEADER_CONNECTOR_ID]: opts.connectorId,
      [HEADER_CONNECTOR_VERSION]: opts.version,
      [HEADER_CONNECTION_INDEX]: String(opts.index),
    };
  }

  /** The direct upgrade did not happen: on `auto`, try a WebSocket right away if that may help; otherwise give up this attempt. */
  private directFailed(err: ConnectionError, worth: WebSocketWorth): void {
    if (this.closed) return;
    if (worth !== 'no' && !err.permanent && this.opts.transport.tryWebSocket(err.message)) {
      this.fallbackWorth = worth;
      return this.dialWebSocket();
    }
    this.finish(err);
  }

  private dialDirect(): void {
    const { opts } = this;
    const url = new URL(opts.url);
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'GET',
      headers: { ...this.headers(), connection: 'Upgrade', upgrade: TUNNEL_UPGRADE },
      ciphers: TLS_CIPHERS,
      ...(opts.secureContext ? { secureContext: opts.secureContext } : {}),
      // never Node's global agent: it pools sockets under a key that leaves the secureContext
      // out, so a connection made under one trust could be handed to a dial under another
      agent: opts.agent ?? false,
    });
    this.pending = req;
    const timeoutMs = opts.handshakeTimeoutMs ?? 15_000;
    // a request that reached the gateway (or a proxy) and got no answer: some proxies hold an
    // upgrade they do not know instead of refusing it
    let heldAfterReaching = false;
    const timer = setTimeout(() => {
      heldAfterReaching = reachedGateway(req);
      req.destroy(new Error(heldAfterReaching ? `no answer to the upgrade within ${timeoutMs} ms` : 'ETIMEDOUT'));
    }, timeoutMs);
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      clearTimeout(timer);
      void readAnswer(res).then((answer) => {
        const verdict = judgeAnswer(answer);
        this.directFailed(verdict.error, verdict.websocket);
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (answered) return;
      // hung up on after the request went out: something on the way may not pass this upgrade,
      // or the gateway is restarting; a WebSocket is worth one try either way
      const ambiguous = heldAfterReaching || err.message === 'socket hang up';
      this.directFailed(new ConnectionError(dialFailure(err), false), ambiguous ? 'try' : 'no');
    });
    req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      answered = true;
      clearTimeout(timer);
      const upgrade = String(res.headers.upgrade ?? '');
      if (upgrade.toLowerCase() !== TUNNEL_UPGRADE) {
        socket.destroy();
        // whatever answered chose the header: bounded before it reaches the log
        return this.directFailed(new ConnectionError(`the gateway upgraded to ${JSON.stringify(upgrade.slice(0, 60))}, not ${TUNNEL_UPGRADE}`, false), 'switch');
      }
      if (this.closed) return void socket.destroy();
      if (head.length) socket.unshift(head);
      this.logTls(socket);
      this.run(socketTransport(socket));
    });
    req.end();
  }

  private dialWebSocket(): void {
    const { opts } = this;
    const url = new URL(opts.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url, [TUNNEL_SUBPROTOCOL], {
      headers: this.headers(),
      perMessageDeflate: false,
      maxPayload: MAX_WS_PAYLOAD,
      handshakeTimeout: opts.handshakeTimeoutMs ?? 15_000,
      generateMask: zeroMask,
      ciphers: TLS_CIPHERS,
      skipUTF8Validation: true,
      ...(opts.secureContext ? { secureContext: opts.secureContext } : {}),
      ...(opts.agent ? { agent: opts.agent } : {}),
    });
    this.pending = ws;
    // the transport (and its duplex) must exist before the first message can arrive, or the
    // HTTP/2 preface is lost
    const transport = websocketTransport(ws);
    ws.on('unexpected-response', (_req, res: IncomingMessage) => void readAnswer(res).then((answer) => this.finish(judgeAnswer(answer).error)));
    ws.on('error', (err: NodeJS.ErrnoException) => this.finish(new ConnectionError(dialFailure(err), false)));
    ws.on('close', (code, reason) => {
      const text = reason.toString('utf8');
      if (code === CLOSE_REVOKED) return this.finish(new ConnectionError(`the gateway revoked this tunnel${text ? `: ${text}` : ''}`, true));
      this.finish(this.goodbyeError() ?? new ConnectionError(`the gateway closed the connection (${code}${text ? ` ${text}` : ''})`, false));
    });
    ws.once('upgrade', (res: IncomingMessage) => this.logTls(res.socket));
    ws.once('open', () => this.run(transport));
  }

  private logTls(socket: Socket): void {
    socket.setNoDelay(true);
    const tls = (socket as Socket & { getCipher?(): { name: string; version: string } }).getCipher?.();
    this.opts.log.debug({ connection: this.opts.index, tls }, 'upgraded to the tunnel');
  }

  /** What the gateway's GOAWAY said, as the reason this connection ends. */
  private goodbyeError(): ConnectionError | undefined {
    const g = this.goodbye;
    if (!g) return undefined;
    if (g.code === CLOSE_REVOKED) return new ConnectionError(`the gateway revoked this tunnel${g.reason ? `: ${g.reason}` : ''}`, true);
    return new ConnectionError(`the gateway closed the connection (${g.code}${g.reason ? ` ${g.reason}` : ''})`, false);
  }

  private run(transport: TunnelTransport): void {
    const { opts } = this;
    this.transport = transport;
    this.kind = transport.kind;
    if (transport.kind === 'direct') {
      transport.onClose(() => {
        // an answer that is not HTTP/2 closes the socket first; before HTTP/2 is up, say so
        const why = this.upSince === undefined ? 'the connection closed before HTTP/2 started: whatever answered the upgrade does not speak HTTP/2 (a proxy or another server at this address?)' : 'the gateway closed the connection';
        this.finish(this.goodbyeError() ?? new ConnectionError(why, false));
      });
    }
    const session = performServerHandshake(transport.stream, { settings: HTTP2_SETTINGS, maxSessionMemory: SESSION_MEMORY_MB });
    this.session = session;
    // upgraded, but HTTP/2 never starts (something on the way answered 101 and went quiet)
    const setupMs = opts.handshakeTimeoutMs ?? 15_000;
    this.setupTimer = setTimeout(() => this.finish(new ConnectionError(`the gateway sent no HTTP/2 settings within ${setupMs} ms of the upgrade`, false)), setupMs);
    session.on('goaway', (_code, _last, data?: Buffer) => (this.goodbye = readGoawayData(data) ?? this.goodbye));
    session.on('error', (err) => this.finish(this.goodbyeError() ?? new ConnectionError(`tunnel session error: ${err.message}`, false)));
    session.on('close', () => this.finish(this.goodbyeError() ?? new ConnectionError('tunnel session closed', false)));
    session.on('stream', (stream, headers) => {
      this.streamCount++;
      stream.once('close', () => this.streamCount--);
      handleStream(stream, headers, { rules: opts.rules, dialTimeoutMs: opts.dialTimeoutMs, log: opts.log, metrics: opts.metrics, resolve: opts.resolve, accepting: () => this.accepting });
    });
    session.once('remoteSettings', () => {
      clearTimeout(this.setupTimer);
      session.setLocalWindowSize(CONNECTION_WINDOW);
      this.upSince = Date.now();
      opts.transport.worked(transport.kind, this.fallbackWorth);
      this.startPings(session);
      this.emit('up');
    });
  }

  private startPings(session: ServerHttp2Session): void {
    const interval = this.opts.pingIntervalMs ?? PING_INTERVAL_MS;
    let outstanding = false;
    const ping = () => {
      if (outstanding) return this.finish(new ConnectionError(`the gateway did not answer a ping within ${interval} ms`, false));
      outstanding = true;
      const ok = session.ping((err, ms) => {
        outstanding = false;
        // an answer that lands after the connection ended must not bring its series back
        if (err || this.closed) return;
        this.rttMs = ms;
        this.opts.metrics.set('drawbridge_connector_rtt_ms', 'Round-trip time to the gateway (HTTP/2 ping)', ms, { connection: String(this.opts.index) });
      });
      if (!ok) outstanding = false;
    };
    // one ping at once, so the round trip is known from the start, not only after the first interval
    ping();
    this.pingTimer = setInterval(ping, interval);
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
    clearTimeout(this.setupTimer);
    this.opts.metrics.forget('drawbridge_connector_rtt_ms', { connection: String(this.opts.index) });
    this.session?.destroy();
    const transport = this.transport;
    const pending = this.pending;
    if (transport) {
      transport.close(1000, '');
      setTimeout(() => transport.terminate(), 1000).unref();
    } else if (pending instanceof WebSocket) pending.terminate();
    else pending?.destroy();
    this.emit('closed', err);
  }

  close(): void {
    this.finish(new ConnectionError('closed', false));
  }
}
