import { EventEmitter } from 'node:events';
import { connect as http2Connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { Logger } from '../log/logger.js';
import { MetricSet } from '../metrics/prometheus.js';
import type { TunnelTransport } from './tunnel-transport.js';
import { CLOSE_REVOKED, CONNECTION_WINDOW, goawayData, HEADER_REFUSAL, HTTP2_SETTINGS, PING_INTERVAL_MS, SESSION_MEMORY_MB, type TransportKind } from './tunnel-wire.js';

export interface ConnectorInfo {
  tunnel: string;
  tunnelId: string;
  connectorId: string;
  version: string;
  index: number;
  address: string;
  transport: TransportKind;
}

/** One connector connection as the gateway sees it. */
export interface LiveConnection extends ConnectorInfo {
  id: number;
  connectedAt: number;
  rttMs?: number;
  streams: number;
  streamsTotal: number;
  bytesToConnector: number;
  bytesFromConnector: number;
}

/** An open stream, and a promise that settles only if it ends abnormally (its connection died, or a reset). */
export interface TunnelStream {
  stream: ClientHttp2Stream;
  lost: Promise<TunnelError>;
}

export type TunnelErrorKind = 'offline' | 'refused' | 'unreachable' | 'timeout' | 'lost' | 'revoked';

/** Why a stream could not be opened; `detail` is the connector's own words, for the log. */
export class TunnelError extends Error {
  constructor(
    readonly kind: TunnelErrorKind,
    readonly tunnel: string,
    readonly detail: string,
  ) {
    super(`tunnel ${tunnel}: ${kind}: ${detail}`);
    this.name = 'TunnelError';
  }
}

interface Entry {
  info: LiveConnection;
  transport: TunnelTransport;
  session: ClientHttp2Session;
  ping?: NodeJS.Timeout;
  /** Cut because its tunnel was revoked: its desktops are told that, not that it was lost. */
  revoked?: boolean;
}

/** The per-tunnel counters, named once: each is declared at zero (declare) and counted up in several places. */
const COUNTERS = {
  drawbridge_tunnel_connects_total: 'Connector connections accepted',
  drawbridge_tunnel_reconnects_total: 'Connections a connector made again in a slot it had up before',
  drawbridge_tunnel_streams_total: 'Streams opened through the tunnel',
  drawbridge_tunnel_refused_total: 'Streams the connector refused (outside its ingress rules)',
} as const;

/**
 * The connectors attached to this gateway, by tunnel. A new stream goes to the tunnel's connection
 * with the fewest open streams; when a connection drops, the streams on it fail (and with them the
 * desktops they carried), the others are untouched.
 */
export class TunnelRegistry extends EventEmitter {
  private readonly byTunnel = new Map<string, Set<Entry>>();
  /** Connections attached but not up yet (no HTTP/2 settings): revocation and the connection cap must see them too. */
  private readonly settingUp = new Set<Entry>();
  /** Upgrades accepted and not attached yet, by tunnel name (the 101 or the WebSocket handshake is in flight). */
  private readonly reserved = new Map<string, number>();
  private nextId = 1;
  /** Connection slots (tunnel id, connector run, index) seen up before: one coming up again is a reconnect. Oldest forgotten first. */
  private readonly seenSlots = new Set<string>();
  readonly metrics = new MetricSet();

  constructor(
    private readonly log: Logger,
    /** A connector that has not answered one ping by the time of the next is dropped. */
    private readonly pingIntervalMs = PING_INTERVAL_MS,
    /**
     * Asked again when a connection comes up: its token was checked at the upgrade, but the tunnel
     * may have been revoked while it was setting up. Returns why not, or undefined.
     */
    private readonly stillAllowed: (info: ConnectorInfo) => string | undefined = () => undefined,
  ) {
    super();
  }

  isUp(tunnel: string): boolean {
    return (this.byTunnel.get(tunnel)?.size ?? 0) > 0;
  }

  /** Every connection of the tunnel, up, setting up or still upgrading: what the per-tunnel cap counts. */
  connectionCount(tunnel: string): number {
    let n = (this.byTunnel.get(tunnel)?.size ?? 0) + (this.reserved.get(tunnel) ?? 0);
    for (const e of this.settingUp) if (e.info.tunnel === tunnel) n++;
    return n;
  }

  /**
   * Holds a place for an upgrade between its checks and `attach`, so that parallel upgrades cannot
   * all pass the cap. The returned release may be called any number of times.
   */
  reserve(tunnel: string): () => void {
    this.reserved.set(tunnel, (this.reserved.get(tunnel) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const n = (this.reserved.get(tunnel) ?? 1) - 1;
      if (n > 0) this.reserved.set(tunnel, n);
      else this.reserved.delete(tunnel);
    };
  }

  /** The tunnel ids of every attached connection, up or setting up. */
  tunnelIds(): Set<string> {
    const ids = new Set<string>();
    for (const set of this.byTunnel.values()) for (const e of set) ids.add(e.info.tunnelId);
    for (const e of this.settingUp) ids.add(e.info.tunnelId);
    return ids;
  }

  connections(tunnel?: string): LiveConnection[] {
    const sets = tunnel ? [this.byTunnel.get(tunnel) ?? new Set<Entry>()] : [...this.byTunnel.values()];
    return sets.flatMap((s) => [...s].map((e) => ({ ...e.info })));
  }

  /** Takes over an authenticated connector connection and runs the HTTP/2 client side over it. */
  attach(transport: TunnelTransport, info: ConnectorInfo): void {
    const session = http2Connect('http://drawbridge-tunnel.invalid', { createConnection: () => transport.stream, settings: HTTP2_SETTINGS, maxSessionMemory: SESSION_MEMORY_MB });
    const entry: Entry = {
      info: { ...info, id: this.nextId++, connectedAt: Date.now(), streams: 0, streamsTotal: 0, bytesToConnector: 0, bytesFromConnector: 0 },
      transport,
      session,
    };
    this.settingUp.add(entry);
    const labels = { tunnel: info.tunnel };
    let state: 'setup' | 'up' | 'ended' = 'setup';
    const detach = (why: string) => {
      if (state === 'ended') return;
      clearTimeout(setup);
      const wasUp = state === 'up';
      state = 'ended';
      this.settingUp.delete(entry);
      const fields = { tunnel: info.tunnel, connector: info.connectorId, connection: info.index, address: info.address, transport: info.transport, reason: why };
      if (!wasUp) return this.log.warn(fields, 'connector connection failed before it was up');
      clearInterval(entry.ping);
      const set = this.byTunnel.get(info.tunnel);
      set?.delete(entry);
      // the same slot may already be up again (the connector saw the end first): its series stays
      const slotUp = [...(set ?? [])].some((e) => e.info.connectorId === info.connectorId && e.info.index === info.index);
      if (!slotUp) this.metrics.forget('drawbridge_tunnel_rtt_ms', rttLabels(entry.info));
      if (set && set.size === 0) this.byTunnel.delete(info.tunnel);
      this.updateGauges(info.tunnel);
      this.log.warn(fields, 'connector connection ended');
      this.emit('change', info.tunnel);
    };
    // a peer that upgrades and then says nothing would hold its socket for good
    const setup = setTimeout(() => {
      if (state !== 'setup') return;
      detach(`no HTTP/2 settings within ${this.pingIntervalMs} ms`);
      session.destroy();
      transport.terminate();
    }, this.pingIntervalMs);
    setup.unref();
    session.on('error', (err) => {
      detach(`session error: ${err.message}`);
      session.destroy();
    });
    session.on('close', () => {
      detach('session closed');
      transport.close(1001, '');
    });
    transport.onClose(() => {
      detach(`${transport.kind === 'websocket' ? 'WebSocket' : 'connection'} closed`);
      session.destroy();
    });
    session.once('remoteSettings', () => {
      if (!transport.isOpen || state !== 'setup') return;
      const refusal = this.stillAllowed(info);
      if (refusal) {
        detach(refusal);
        this.cut(entry, CLOSE_REVOKED, refusal, 1000);
        return;
      }
      clearTimeout(setup);
      session.setLocalWindowSize(CONNECTION_WINDOW);
      state = 'up';
      this.settingUp.delete(entry);
      let set = this.byTunnel.get(info.tunnel);
      if (!set) this.byTunnel.set(info.tunnel, (set = new Set()));
      set.add(entry);
      this.count('drawbridge_tunnel_connects_total', 1, labels);
      const slot = `${info.tunnelId}/${info.connectorId}/${info.index}`;
      if (this.seenSlots.has(slot)) this.count('drawbridge_tunnel_reconnects_total', 1, labels);
      this.seenSlots.delete(slot);
      this.seenSlots.add(slot);
      if (this.seenSlots.size > 10_000) this.seenSlots.delete(this.seenSlots.values().next().value!);
      this.updateGauges(info.tunnel);
      this.log.info({ tunnel: info.tunnel, connector: info.connectorId, connection: info.index, version: info.version, address: info.address, transport: info.transport }, 'connector connected');
      this.startPings(entry);
      this.emit('change', info.tunnel);
    });
  }

  private startPings(entry: Entry): void {
    let outstanding = false;
    const ping = () => {
      if (entry.session.destroyed || entry.session.closed) return clearInterval(entry.ping);
      if (outstanding) {
        // Node's HTTP/2 says nothing when nghttp2 ends a session over a protocol error from the
        // peer: it just stops sending. A ping still queued here is how that shows.
        const unsent = entry.session.state.outboundQueueSize ?? 0;
        const why = unsent > 0 ? ` (it could not even be sent: ${unsent} frames wait in the session, which stops after a protocol error from the connector)` : '';
        this.log.warn({ tunnel: entry.info.tunnel, connection: entry.info.index, connector: entry.info.connectorId, unsentFrames: unsent }, `connector did not answer a ping within ${this.pingIntervalMs} ms${why}; dropping it`);
        entry.session.destroy();
        entry.transport.terminate();
        return;
      }
      outstanding = true;
      const sent = entry.session.ping((err, ms) => {
        outstanding = false;
        // an answer that lands after the connection ended must not bring its series back
        if (err || entry.session.destroyed) return;
        entry.info.rttMs = ms;
        this.metrics.set('drawbridge_tunnel_rtt_ms', 'Round-trip time to the connector (HTTP/2 ping)', ms, rttLabels(entry.info));
      });
      if (!sent) outstanding = false;
    };
    // one ping at once, so the round trip is known from the start, not only after the first interval
    ping();
    entry.ping = setInterval(ping, this.pingIntervalMs);
    entry.ping.unref();
  }

  /** Every per-tunnel series at its current value (zero for a tunnel never connected), so alerts on them work from the start. */
  declare(tunnel: string): void {
    const labels = { tunnel };
    this.updateGauges(tunnel);
    for (const name of Object.keys(COUNTERS) as Array<keyof typeof COUNTERS>) this.count(name, 0, labels);
    this.countBytes(tunnel, 0, 0);
  }

  private count(name: keyof typeof COUNTERS, by: number, labels: { tunnel: string }): void {
    this.metrics.add(name, COUNTERS[name], by, labels);
  }

  private updateGauges(tunnel: string): void {
    const set = this.byTunnel.get(tunnel);
    this.metrics.set('drawbridge_tunnel_connections', 'Connector connections up, per tunnel', set?.size ?? 0, { tunnel });
    this.metrics.set('drawbridge_tunnel_active_streams', 'Streams open through the tunnel', [...(set ?? [])].reduce((n, e) => n + e.info.streams, 0), { tunnel });
    this.metrics.set('drawbridge_tunnel_up', '1 while at least one connector connection is up', set?.size ? 1 : 0, { tunnel });
  }

  /**
   * Asks the tunnel's connector for a TCP connection to host:port. Resolves once the connector has
   * connected (HTTP/2 200); rejects with why not.
   */
  openStream(tunnel: string, host: string, port: number, timeoutMs: number): Promise<TunnelStream> {
    const set = this.byTunnel.get(tunnel);
    if (!set || set.size === 0) return Promise.reject(new TunnelError('offline', tunnel, 'no connector is connected'));
    let best: Entry | undefined;
    for (const e of set) if (!e.session.closed && !e.session.destroyed && (!best || e.info.streams < best.info.streams)) best = e;
    if (!best) return Promise.reject(new TunnelError('offline', tunnel, 'no connector connection is usable'));
    const entry = best;
    const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const labels = { tunnel };
    let markLost!: (e: TunnelError) => void;
    const lost = new Promise<TunnelError>((r) => (markLost = r));
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = entry.session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
      } catch (err) {
        return reject(new TunnelError('offline', tunnel, `cannot open a stream: ${(err as Error).message}`));
      }
      entry.info.streams++;
      entry.info.streamsTotal++;
      this.count('drawbridge_tunnel_streams_total', 1, labels);
      this.updateGauges(tunnel);
      let settled = false;
      const timer = setTimeout(() => {
        fail(new TunnelError('timeout', tunnel, `no answer from the connector for ${authority} within ${timeoutMs} ms`));
        stream.close(h2.NGHTTP2_CANCEL);
      }, timeoutMs);
      const fail = (err: TunnelError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      };
      stream.once('close', () => {
        // a stream whose connection was destroyed still reports rstCode 0 and an ended readable side
        if (entry.session.destroyed || entry.session.closed || stream.rstCode !== h2.NGHTTP2_NO_ERROR) {
          markLost(entry.revoked ? new TunnelError('revoked', tunnel, 'the tunnel was revoked') : new TunnelError('lost', tunnel, entry.session.destroyed ? 'the connector connection carrying it ended' : `reset with code ${stream.rstCode}`));
        }
        entry.info.streams--;
        this.updateGauges(tunnel);
        fail(new TunnelError('lost', tunnel, `the stream to ${authority} closed before the connector answered`));
      });
      stream.on('error', (err) => fail(new TunnelError('lost', tunnel, err.message)));
      // reset by the connector: see the connector's stream handler for why this is not left to Node
      stream.once('aborted', () => stream.destroy());
      stream.once('response', (headers) => {
        const status = Number(headers[':status']);
        const why = String(headers[HEADER_REFUSAL] ?? '');
        if (status === 200) {
          settled = true;
          clearTimeout(timer);
          return resolve({ stream, lost });
        }
        if (status === 403) {
          this.count('drawbridge_tunnel_refused_total', 1, labels);
          this.log.warn({ tunnel, dest: authority, reason: why }, 'connector refused the destination');
          fail(new TunnelError('refused', tunnel, why || `${authority} refused`));
        } else fail(new TunnelError('unreachable', tunnel, why || `connector answered ${status}`));
        stream.close();
      });
    });
  }

  /** Bytes a stream carried since it was last counted, taken from its TCP side at each scrape and at its close (no per-chunk accounting). */
  countBytes(tunnel: string, toConnector: number, fromConnector: number): void {
    this.metrics.add('drawbridge_tunnel_bytes_total', 'Bytes carried through the tunnel', toConnector, { tunnel, direction: 'to_connector' });
    this.metrics.add('drawbridge_tunnel_bytes_total', 'Bytes carried through the tunnel', fromConnector, { tunnel, direction: 'from_connector' });
  }

  /**
   * Cuts every connection made with one tunnel's token (revoked), those still setting up included:
   * the desktops on it end, the connector is told why. By id, not name: a tunnel issued again under
   * the same name is another tunnel, and its connector stays.
   */
  disconnect(tunnelId: string, reason: string): number {
    const doomed = [...this.settingUp, ...[...this.byTunnel.values()].flatMap((s) => [...s])].filter((e) => e.info.tunnelId === tunnelId);
    for (const e of doomed) {
      e.revoked = true;
      this.cut(e, CLOSE_REVOKED, reason, 1000);
    }
    return doomed.length;
  }

  closeAll(code: number, reason: string): void {
    for (const e of [...this.settingUp]) this.cut(e, code, reason, 500);
    for (const set of this.byTunnel.values()) for (const e of [...set]) this.cut(e, code, reason, 500);
  }

  /**
   * GOAWAY carrying the code and reason, then the session and its streams go at once; destroying
   * the session still writes what nghttp2 holds, so the GOAWAY reaches the connector first.
   */
  private cut(e: Entry, code: number, reason: string, graceMs: number): void {
    if (!e.session.destroyed) {
      e.session.goaway(h2.NGHTTP2_NO_ERROR, 0, goawayData(code, reason));
      e.session.destroy();
    }
    e.transport.close(code, reason);
    setTimeout(() => e.transport.terminate(), graceMs).unref();
  }
}

/**
 * A connection's round-trip series is named as `tunnel list` names its row (the connector's id as
 * shown there, and its slot), and as the connector names its own `rtt_ms{connection}`.
 */
function rttLabels(info: { tunnel: string; connectorId: string; index: number }): Record<string, string> {
  return { tunnel: info.tunnel, connector: info.connectorId.slice(0, 8), connection: String(info.index) };
}
