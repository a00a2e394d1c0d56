import { lookup } from 'node:dns/promises';
import { watch, type FSWatcher } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { isIP, type Socket } from 'node:net';
import path from 'node:path';
import type { AuditLog } from '../audit/audit-log.js';
import type { Logger } from '../log/logger.js';
import { AdminSocketInUse, adminSocketPath, startAdminSocket } from './admin-socket.js';
import { AddressInUse } from '../http/listen-problem.js';
import { ConfigError } from '../config/load-config.js';
import { isLoopbackAddress } from '../http/ip-address.js';
import { startHandoff } from './guacd-handoff.js';
import { listenersAt, peerSocketOwner, tcpRows } from './socket-owner.js';
import { TunnelError, TunnelRegistry } from './tunnel-registry.js';
import { TunnelStore } from './tunnel-store.js';
import { createTunnelUpgradeHandler } from './tunnel-upgrade.js';
import { CLOSE_GATEWAY_SHUTDOWN } from './tunnel-wire.js';

export interface TunnelsConfig {
  stateFile: string;
  adminSocket?: string;
  handoff: { listen: string; advertise?: string; timeoutSeconds: number };
  /** Addresses guacd connects from; defaults to what guacd's host name resolves to. */
  guacdAddresses?: string[];
  openTimeoutMs: number;
  /** Tests shorten it; the default is tunnel-wire's PING_INTERVAL_MS. */
  pingIntervalMs?: number;
  /** Refused connector upgrades logged one by one per address and 10 s; tests that count log lines of many refusals raise it. */
  refusalLimit?: number;
}

export interface TunnelRoute {
  host: string;
  port: number;
  lost: Promise<string>;
  close(): void;
}

/** What the user is told when a tunnelled desktop cannot be reached. */
export function publicTunnelMessage(err: TunnelError): string {
  switch (err.kind) {
    case 'offline':
      return `The connector for this desktop's network (${err.tunnel}) is offline. Try again when it is back, or tell your administrator.`;
    case 'refused':
      return `The connector for this desktop's network (${err.tunnel}) does not allow this destination. Tell your administrator (the connector's ingress rules).`;
    case 'timeout':
      return `The connector for this desktop's network (${err.tunnel}) did not answer in time. Try again.`;
    case 'unreachable':
      return `The desktop did not answer inside its network (via ${err.tunnel}). It may be turned off; try again or tell your administrator.`;
    case 'lost':
      return `The connection to this desktop's network (${err.tunnel}) was lost. Open the desktop again.`;
    case 'revoked':
      return `An administrator revoked the connector of this desktop's network (${err.tunnel}), so it cannot be opened until a new one is set up. Tell your administrator.`;
  }
}

async function addressesOf(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  try {
    return (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return [];
  }
}

/** Checks, per handoff, before a flood of local connections makes the check itself the load. */
const MAX_OWNER_CHECKS = 50;

/**
 * guacd's address alone does not tell guacd from another process on this machine: on loopback
 * every local user's processes come from it, and so they do from the machine's own addresses. So a
 * peer that is a process in this network namespace (its socket is in /proc/net/tcp) must also be
 * guacd's user: the owner of the far end of the gateway's own open connections to guacd (one is
 * open while guacd dials the handoff), or else of the socket listening at guacd's very address —
 * not of any listener on guacd's port number, which anyone may add at another address. A peer from
 * elsewhere (guacd in another container, on another host) is checked by its address alone.
 */
function guacdOwnerCheck(guacd: { host: string; port: number; connections(): Iterable<Socket> } | undefined): ((sock: Socket) => string | undefined) | undefined {
  if (!guacd?.port) return undefined;
  let checks = 0;
  return (sock) => {
    if (++checks > MAX_OWNER_CHECKS) return `more than ${MAX_OWNER_CHECKS} connections to this handoff; the rest are refused unchecked`;
    const rows = tcpRows([guacd.port, sock.localPort ?? 0]);
    if (!rows) return undefined;
    const uid = peerSocketOwner(rows, { address: sock.localAddress ?? '', port: sock.localPort ?? 0 }, { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 });
    if (uid === undefined) return isLoopbackAddress(sock.remoteAddress ?? '') ? 'the user that opened it cannot be told' : undefined;
    const own = [...guacd.connections()].filter((c) => c.remotePort === guacd.port);
    let guacdUsers = new Set(own.flatMap((c) => peerSocketOwner(rows, { address: c.localAddress ?? '', port: c.localPort ?? 0 }, { address: c.remoteAddress ?? '', port: c.remotePort ?? 0 }) ?? []));
    if (guacdUsers.size === 0 && isIP(guacd.host)) guacdUsers = listenersAt(rows, guacd.host, guacd.port);
    // deny by default: a process on this machine, and nobody here is known to be guacd
    if (guacdUsers.size === 0) return `opened by uid ${uid} on this machine, and which user runs guacd (${guacd.host}:${guacd.port}) cannot be told`;
    return guacdUsers.has(uid) ? undefined : `opened by uid ${uid}, not by guacd's user (uid ${[...guacdUsers].join(', ')})`;
  };
}

/**
 * The gateway's half of the tunnels: the connectors' door (direct upgrade or WebSocket), the live registry, the
 * per-session handoff listeners guacd dials, the tunnel state file and the admin socket.
 */
export async function startTunnels(cfg: TunnelsConfig, deps: { guacdHost(): string; guacdPort?(): number; guacdConnections?(): Iterable<Socket>; audit: AuditLog; log: Logger; clientIp(req: IncomingMessage): string | undefined }) {
  const log = deps.log.child({ module: 'tunnels' });
  const store = new TunnelStore(cfg.stateFile);
  /** Why a connection made with this tunnel's token may no longer stay, or undefined. */
  const revokedWhy = (tunnelId: string) => {
    const t = store.list().find((x) => x.id === tunnelId);
    return !t ? 'tunnel deleted' : t.revokedAt ? 'tunnel revoked' : undefined;
  };
  /** Cuts the connectors (up or still setting up) of tunnels that are now revoked or gone. */
  const cutRevoked = () => {
    const revoked: string[] = [];
    for (const id of registry.tunnelIds()) {
      const why = revokedWhy(id);
      if (!why) continue;
      const name = registry.connections().find((c) => c.tunnelId === id)?.tunnel ?? store.list().find((t) => t.id === id)?.name ?? id;
      const n = registry.disconnect(id, why);
      if (!revoked.includes(name)) revoked.push(name);
      log.warn({ tunnel: name, tunnelId: id, connections: n }, `${why}; its connectors were cut`);
      deps.audit.write({ event: 'tunnel-revoke', result: 'success', tunnel: name, reason: `${why}: ${n} connections cut` });
    }
    return revoked;
  };
  const readStore = (how: 'always' | 'ifChanged') => {
    try {
      if (how === 'always') store.reload();
      else if (!store.reloadIfChanged()) return;
    } catch (err) {
      log.error({ err: String(err) }, 'tunnel state file unreadable; keeping the tunnels last read');
      return;
    }
    declareAll();
    return cutRevoked();
  };
  const declareAll = () => {
    for (const t of store.list()) if (!t.revokedAt) registry.declare(t.name);
  };
  const registry = new TunnelRegistry(log, cfg.pingIntervalMs, (info) => {
    readStore('ifChanged');
    const why = revokedWhy(info.tunnelId);
    if (!why) return undefined;
    const reason = `${why} while the connection was setting up`;
    deps.audit.write({ event: 'tunnel-connect', result: 'denied', ip: info.address, tunnel: info.tunnel, reason });
    return reason;
  });
  const upgrade = createTunnelUpgradeHandler({ store, registry, audit: deps.audit, log, clientIp: deps.clientIp, refreshStore: () => void readStore('ifChanged'), refusalLimit: cfg.refusalLimit });

  declareAll();
  const isLoopback = (h: string) => h === 'localhost' || isLoopbackAddress(h);
  if (isLoopback(cfg.handoff.listen) && !isLoopback(deps.guacdHost()) && !cfg.guacdAddresses?.every(isLoopback)) {
    // guacd elsewhere (another container or host) could never reach a loopback handoff: every tunnelled desktop would fail
    log.warn({ guacd: deps.guacdHost(), handoff: cfg.handoff.listen }, `guacd (${deps.guacdHost()}) is not on this machine's loopback, but the tunnel handoff listens on ${cfg.handoff.listen}: guacd cannot reach it, and tunnelled desktops will not open. Set tunnels.handoff.listen (and advertise) to an address guacd can reach.`);
  }

  /** After the state file changed (or the CLI said so): re-read it and cut what it no longer allows. */
  const applyStore = () => ({ revoked: readStore('always') ?? [] });

  // the CLI replaces the file by rename, so watch the directory, not the file's old inode
  let watcher: FSWatcher | undefined;
  try {
    let debounce: NodeJS.Timeout | undefined;
    watcher = watch(path.dirname(path.resolve(cfg.stateFile)), (_e, name) => {
      if (name !== path.basename(cfg.stateFile)) return;
      clearTimeout(debounce);
      debounce = setTimeout(() => void applyStore(), 50);
    });
    watcher.unref();
  } catch (err) {
    log.warn({ err: String(err) }, 'cannot watch the tunnel state file; revocations apply at the next connector connect or `drawbridge tunnel revoke`');
  }

  const listTunnels = () => {
    const now = Date.now();
    return store.list().map((t) => ({
      name: t.name,
      id: t.id,
      createdAt: t.createdAt,
      revokedAt: t.revokedAt,
      up: registry.isUp(t.name),
      connections: registry.connections(t.name).map((c) => ({
        connector: c.connectorId,
        index: c.index,
        version: c.version,
        address: c.address,
        transport: c.transport,
        connectedAt: new Date(c.connectedAt).toISOString(),
        uptimeSeconds: Math.round((now - c.connectedAt) / 1000),
        rttMs: c.rttMs,
        streams: c.streams,
        streamsTotal: c.streamsTotal,
      })),
    }));
  };
  const adminFile = adminSocketPath(cfg);
  let admin;
  try {
    admin = await startAdminSocket(adminFile, { tunnels: listTunnels, reload: applyStore, metrics: () => registry.metrics.render() });
  } catch (err) {
    upgrade.close();
    watcher?.close();
    const option = cfg.adminSocket ? 'tunnels.adminSocket' : 'tunnels.stateFile';
    if (err instanceof AdminSocketInUse) throw err.retryable ? new AddressInUse(option, err.message) : new ConfigError('gateway config', [{ path: option, message: err.message }]);
    throw err;
  }

  /**
   * Opens a stream to the desktop through its tunnel, then a one-connection listener for guacd
   * to dial in its place.
   */
  const route = async (tunnel: string, host: string, port: number, session: string): Promise<TunnelRoute> => {
    const { stream, lost: lostStream } = await registry.openStream(tunnel, host, port, cfg.openTimeoutMs);
    const peers = new Set((cfg.guacdAddresses ?? (await addressesOf(deps.guacdHost()))).map((a) => a.replace(/^::ffff:/i, '')));
    // guacd on loopback may come from either loopback family
    if (peers.has('127.0.0.1') || peers.has('::1') || deps.guacdHost() === 'localhost') ['127.0.0.1', '::1'].forEach((a) => peers.add(a));
    const lost = lostStream.then((err) => {
      log.warn({ session, reason: err.detail }, 'tunnel stream lost mid-session');
      return publicTunnelMessage(err);
    });
    const handoff = await startHandoff(stream, {
      listenHost: cfg.handoff.listen,
      advertiseHost: cfg.handoff.advertise,
      allowedPeers: peers,
      verifyPeer: guacdOwnerCheck(deps.guacdPort ? { host: deps.guacdHost(), port: deps.guacdPort(), connections: () => deps.guacdConnections?.() ?? [] } : undefined),
      timeoutMs: cfg.handoff.timeoutSeconds * 1000,
      log: log.child({ session, tunnel }),
      onBytes: (to, from) => registry.countBytes(tunnel, to, from),
      collect: (fn) => registry.metrics.collect(fn),
    });
    return { host: handoff.host, port: handoff.port, lost, close: handoff.close };
  };

  return {
    store,
    registry,
    upgrade,
    route,
    applyStore,
    listTunnels,
    adminSocket: adminFile,
    async close() {
      watcher?.close();
      upgrade.close();
      registry.closeAll(CLOSE_GATEWAY_SHUTDOWN, 'gateway shutting down');
      await admin.close();
    },
  };
}

export type Tunnels = Awaited<ReturnType<typeof startTunnels>>;
export { TunnelError };
