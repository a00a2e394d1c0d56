import { performServerHandshake, type ServerHttp2Session } from 'node:http2';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TunnelRegistry, type ConnectorInfo } from '../../server/tunnel/tunnel-registry.js';
import { socketTransport } from '../../server/tunnel/tunnel-transport.js';
import { CLOSE_REVOKED, HTTP2_SETTINGS, readGoawayData } from '../../server/tunnel/tunnel-wire.js';
import { until } from '../support/connector.js';

/**
 * The registry's bookkeeping of connector connections, with the connector's side played by a
 * bare HTTP/2 server on a socket pair: revocation by tunnel id (a tunnel issued again under the
 * same name is another tunnel), connections still setting up, and what the per-tunnel cap counts.
 */
describe('tunnel registry', () => {
  let server: Server;
  const sockets: Socket[] = [];
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });

  beforeEach(async () => {
    lines.length = 0;
    server = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
    server.close();
  });

  const info = (tunnelId: string, index = 0): ConnectorInfo => ({ tunnel: 'office-1', tunnelId, connectorId: `c-${tunnelId}`, version: 'test', index, address: '127.0.0.1', transport: 'direct' });

  /** A connection attached to the registry; its connector side answers HTTP/2 when `start()` is called. */
  async function attach(registry: TunnelRegistry, i: ConnectorInfo) {
    const ours = connect((server.address() as { port: number }).port, '127.0.0.1');
    sockets.push(ours);
    await new Promise((r) => ours.once('connect', r));
    const theirs = await until('accepted', () => sockets.find((s) => s !== ours && s.remotePort === ours.localPort));
    registry.attach(socketTransport(theirs), i);
    ours.on('error', () => undefined);
    let session: ServerHttp2Session | undefined;
    let onGoaway: (g: { code: number; reason: string } | undefined) => void = () => undefined;
    const goaway = new Promise<{ code: number; reason: string } | undefined>((r) => {
      onGoaway = r;
      ours.once('close', () => r(undefined));
    });
    const closed = new Promise<void>((r) => ours.once('close', () => r()));
    return {
      closed,
      goaway,
      start() {
        session = performServerHandshake(ours, { settings: HTTP2_SETTINGS });
        session.on('error', () => undefined);
        session.once('goaway', (_code: number, _last: number, data?: Buffer) => onGoaway(readGoawayData(data)));
      },
      /** Reads and drops what the gateway sends, speaking no HTTP/2: a connection that stays in setup. */
      silent() {
        ours.resume();
      },
      get session() {
        return session;
      },
    };
  }

  it('revoking cuts the connections made with that tunnel id, up or still setting up, and leaves a reissued tunnel of the same name alone', async () => {
    const registry = new TunnelRegistry(log, 60_000);
    const oldUp = await attach(registry, info('old-id', 0));
    oldUp.start();
    const fresh = await attach(registry, info('new-id', 0));
    fresh.start();
    await until('both up', () => registry.connections('office-1').length === 2);
    // a third, of the old id, attached but not up yet (no HTTP/2 settings from it)
    const oldSettingUp = await attach(registry, info('old-id', 1));
    oldSettingUp.silent();
    expect(registry.connectionCount('office-1')).toBe(3);
    expect([...registry.tunnelIds()].sort()).toEqual(['new-id', 'old-id']);

    expect(registry.disconnect('old-id', 'tunnel revoked')).toBe(2);
    expect(await oldUp.goaway).toEqual({ code: CLOSE_REVOKED, reason: 'tunnel revoked' });
    await oldSettingUp.closed;
    await oldUp.closed;
    expect(registry.connections('office-1').map((c) => c.tunnelId)).toEqual(['new-id']);
    expect(registry.connectionCount('office-1')).toBe(1);
    expect(registry.isUp('office-1')).toBe(true);
    expect(fresh.session!.closed || fresh.session!.destroyed).toBe(false);
  });

  it('a connection whose tunnel was revoked while it was setting up is cut when its settings arrive, never up', async () => {
    let revoked = false;
    const registry = new TunnelRegistry(log, 60_000, () => (revoked ? 'tunnel revoked while the connection was setting up' : undefined));
    const c = await attach(registry, info('id-1'));
    revoked = true;
    let wasUp = false;
    registry.on('change', () => (wasUp ||= registry.isUp('office-1')));
    c.start();
    expect(await c.goaway).toEqual({ code: CLOSE_REVOKED, reason: 'tunnel revoked while the connection was setting up' });
    await c.closed;
    expect(wasUp).toBe(false);
    expect(registry.isUp('office-1')).toBe(false);
    expect(registry.connectionCount('office-1')).toBe(0);
    expect(lines.some((l) => l.includes('connector connection failed before it was up') && l.includes('tunnel revoked while the connection was setting up'))).toBe(true);
  });

  it('the cap counts upgrades in flight and connections setting up, and each gives its place back once', async () => {
    const registry = new TunnelRegistry(log, 60_000);
    const release = registry.reserve('office-1');
    registry.reserve('office-2');
    expect(registry.connectionCount('office-1')).toBe(1);
    const c = await attach(registry, info('id-1'));
    release();
    release();
    expect(registry.connectionCount('office-1')).toBe(1);
    c.start();
    await until('up', () => registry.isUp('office-1'));
    expect(registry.connectionCount('office-1')).toBe(1);
    registry.closeAll(4503, 'test');
    await c.closed;
    await until('gone', () => registry.connectionCount('office-1') === 0);
    expect(registry.connectionCount('office-2')).toBe(1);
  });
});
