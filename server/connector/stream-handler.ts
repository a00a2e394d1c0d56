import { lookup } from 'node:dns/promises';
import { constants as h2, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { connect, isIP, type Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { MetricSet } from '../metrics/prometheus.js';
import { HEADER_REFUSAL } from '../tunnel/tunnel-wire.js';
import { isUnspecifiedAddress, matchIngress, nameMayBeAllowed, type IngressRule } from './ingress.js';
import { adaptiveRead } from '../tunnel/adaptive-read.js';
import { pipeCoalesced } from '../tunnel/coalescing-pipe.js';
import { countSocketBytes } from '../metrics/socket-bytes.js';

export type Resolver = (name: string) => Promise<string[]>;

export const systemResolver: Resolver = async (name) => (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);

/** A name lookup that has not answered by then fails the stream; a slow DNS server must not hold streams open. */
const RESOLVE_TIMEOUT_MS = 5000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEOUT' })), ms);
    p.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e)),
    );
  });
}

export interface StreamHandlerOptions {
  rules: readonly IngressRule[];
  dialTimeoutMs: number;
  log: Logger;
  metrics: MetricSet;
  resolve?: Resolver;
  resolveTimeoutMs?: number;
  /** False while draining: new streams are refused. */
  accepting(): boolean;
}

/** `host:port` or `[v6]:port` from a CONNECT :authority. */
export function parseAuthority(authority: string | undefined): { host: string; port: number } | undefined {
  if (!authority) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(authority);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!.toLowerCase(), port };
}

function refuse(stream: ServerHttp2Stream, status: number, why: string): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ ':status': status, [HEADER_REFUSAL]: why }, { endStream: true });
}

/**
 * One CONNECT stream from the gateway. The connector is the authority on what it reaches:
 * whatever the gateway asks, only destinations its ingress rules allow are dialled, and a name is
 * checked again after it is resolved, against the very address that will be dialled.
 */
export function handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, opts: StreamHandlerOptions): void {
  const { log, metrics } = opts;
  stream.on('error', () => undefined);
  // The gateway reset the stream. Node waits to end the stream gracefully when the reset says
  // NO_ERROR (a plain destroy() on the other side), and a write still in flight then never
  // completes: the stream, and the desktop connection with it, would stay open for good.
  stream.once('aborted', () => stream.destroy());
  if (headers[':method'] !== 'CONNECT') return refuse(stream, 405, 'only CONNECT streams are served');
  const dest = parseAuthority(headers[':authority']);
  if (!dest) return refuse(stream, 400, 'the destination must be HOST:PORT');
  if (!opts.accepting()) return refuse(stream, 503, 'the connector is shutting down');
  const target = `${dest.host.includes(':') ? `[${dest.host}]` : dest.host}:${dest.port}`;

  const denied = (why: string, fields: Record<string, unknown>) => {
    metrics.add('drawbridge_connector_refused_total', 'Streams refused because no ingress rule allows the destination');
    log.warn({ dest: target, ...fields }, `refused ${target}: ${why}`);
    refuse(stream, 403, `${target} is not allowed by the connector's ingress rules (${why})`);
  };
  const byName = isIP(dest.host) === 0;
  if (byName && !nameMayBeAllowed(opts.rules, dest.host, dest.port)) return denied('no rule could allow this name; it was not looked up', {});

  void (async () => {
    let addresses: string[];
    try {
      addresses = byName ? await withTimeout((opts.resolve ?? systemResolver)(dest.host), opts.resolveTimeoutMs ?? RESOLVE_TIMEOUT_MS) : [dest.host];
    } catch (err) {
      metrics.add('drawbridge_connector_dial_failures_total', 'Destinations that could not be reached', 1, { reason: 'dns' satisfies DialFailureReason });
      log.warn({ dest: target, err: (err as NodeJS.ErrnoException).code ?? String(err) }, 'destination name does not resolve');
      return refuse(stream, 502, `${dest.host} does not resolve inside the private network`);
    }
    const here = addresses.filter(isUnspecifiedAddress);
    if (here.length) return denied(`${here[0]} means this machine, not a host in the network`, { resolved: byName ? addresses : undefined });
    let chosen: string | undefined;
    let deniedBy: number | undefined;
    for (const address of addresses) {
      const d = matchIngress(opts.rules, { name: byName ? dest.host : undefined, address, port: dest.port });
      if (d.allowed) {
        chosen = address;
        break;
      }
      deniedBy ??= d.rule.index;
    }
    if (chosen === undefined) return denied(`denied by ingress rule ${deniedBy ?? '?'}`, { resolved: byName ? addresses : undefined, rule: deniedBy });
    if (stream.destroyed) return;
    dial(stream, chosen, dest.port, target, opts);
  })();
}

/** The reasons dial failures are counted under: few and fixed, so each series exists from the start. */
export const DIAL_FAILURE_REASONS = ['dns', 'refused', 'timeout', 'unreachable', 'other'] as const;
type DialFailureReason = (typeof DIAL_FAILURE_REASONS)[number];

function dialFailureReason(code: string | undefined): DialFailureReason {
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT') return 'timeout';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'unreachable';
  return 'other';
}

function dial(stream: ServerHttp2Stream, address: string, port: number, target: string, opts: StreamHandlerOptions): void {
  const { log, metrics } = opts;
  const reader = adaptiveRead(stream);
  const sock: Socket = connect({ host: address, port, noDelay: true, onread: reader.onread });
  reader.attach(sock);
  const timer = setTimeout(() => sock.destroy(Object.assign(new Error(`no answer within ${opts.dialTimeoutMs} ms`), { code: 'ETIMEDOUT' })), opts.dialTimeoutMs);
  // the gateway gave up (browser left, guacd closed) before or after we connected
  stream.once('close', () => {
    clearTimeout(timer);
    sock.destroy();
  });
  sock.once('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    if (!stream.headersSent) {
      metrics.add('drawbridge_connector_dial_failures_total', 'Destinations that could not be reached', 1, { reason: dialFailureReason(err.code) });
      log.warn({ dest: target, address, err: err.code ?? err.message }, 'destination did not accept the connection');
      return refuse(stream, 502, `${target} did not accept the connection (${err.code ?? err.message})`);
    }
    if (!stream.destroyed) stream.close(h2.NGHTTP2_CONNECT_ERROR);
  });
  sock.once('connect', () => {
    clearTimeout(timer);
    if (stream.destroyed) return sock.destroy();
    stream.respond({ ':status': 200 });
    metrics.add('drawbridge_connector_streams_total', 'Streams opened to destinations');
    metrics.set('drawbridge_connector_active_streams', 'Streams open now', metrics.value('drawbridge_connector_active_streams') + 1);
    pipeCoalesced(stream, sock);
    countSocketBytes(sock, (fn) => metrics.collect(fn), (read, written) => {
      if (read) metrics.add('drawbridge_connector_bytes_total', 'Bytes carried for streams', read, { direction: 'to_gateway' });
      if (written) metrics.add('drawbridge_connector_bytes_total', 'Bytes carried for streams', written, { direction: 'from_gateway' });
    });
    sock.once('close', () => {
      metrics.set('drawbridge_connector_active_streams', 'Streams open now', metrics.value('drawbridge_connector_active_streams') - 1);
    });
  });
}
