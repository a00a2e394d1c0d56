import { adminRequest } from './admin-client.js';
import { adminSocketPath } from './admin-socket.js';
import { TunnelStore, TunnelStoreError } from './tunnel-store.js';

/** `drawbridge tunnel create|list|revoke`: what an admin runs on the gateway's machine. */

export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

type Listed = Array<{
  name: string;
  id: string;
  createdAt: string;
  revokedAt?: string;
  up: boolean;
  connections: Array<{ connector: string; index: number; version: string; address: string; transport: string; connectedAt: string; uptimeSeconds: number; rttMs?: number; streams: number }>;
}>;

/** What the tunnel commands need of a gateway: its tunnel state and the address tokens name. */
export interface TunnelAdminTarget {
  tunnels: { stateFile: string; adminSocket?: string };
  publicUrl: string;
}

const socketOf = (target: TunnelAdminTarget) => adminSocketPath(target.tunnels);

export const tunnelTarget = (config: { tunnels: TunnelAdminTarget['tunnels']; server: { publicUrl: string } }): TunnelAdminTarget => ({ tunnels: config.tunnels, publicUrl: config.server.publicUrl });

export function tunnelCreate(config: TunnelAdminTarget, name: string, io: CliOutput, gateway: 'gateway' | 'demo' = 'gateway'): number {
  try {
    const store = new TunnelStore(config.tunnels.stateFile);
    const { record, token } = store.create(name, config.publicUrl.replace(/\/$/, ''));
    io.out(`Tunnel "${record.name}" created (id ${record.id}).\n`);
    io.out('Connector token — shown only this once; keep it as a secret (the gateway stores only a hash):\n\n');
    io.out(`${token}\n\n`);
    if (gateway === 'demo') {
      io.out('To connect the demo\'s "Demo desktop through a tunnel" through it, run (from the repository):\n');
      io.out('  DRAWBRIDGE_TUNNEL_TOKEN=<the token> npx drawbridge connector run --config server/connector/examples/demo-connector.yml\n');
    } else {
      io.out('Inside the private network, save it to a file readable only by the connector and run:\n');
      io.out('  drawbridge connector run --token-file /etc/drawbridge/tunnel-token --config connector.yml\n');
      io.out(`Then give apps "via: ${record.name}" in the gateway config.\n`);
    }
    return 0;
  } catch (err) {
    if (err instanceof TunnelStoreError) {
      io.err(`tunnel create: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d${Math.floor((seconds % 86400) / 3600)}h`;
}

export async function tunnelList(config: TunnelAdminTarget, json: boolean, io: CliOutput): Promise<number> {
  const live = await adminRequest<Listed>(socketOf(config), 'GET', '/tunnels');
  const tunnels: Listed =
    live ??
    new TunnelStore(config.tunnels.stateFile).list().map((t) => ({ name: t.name, id: t.id, createdAt: t.createdAt, revokedAt: t.revokedAt, up: false, connections: [] }));
  if (json) {
    io.out(JSON.stringify({ gatewayRunning: live !== undefined, tunnels }, null, 2) + '\n');
    return 0;
  }
  if (!live) io.err('(the gateway is not running here, or its admin socket is elsewhere: showing tunnels without live connections)\n');
  if (tunnels.length === 0) {
    io.out('No tunnels. Create one with `drawbridge tunnel create NAME`.\n');
    return 0;
  }
  // one row per tunnel, then one per live connection under it: which connector, where from,
  // which version and since when, so a stale or unexpected connector stands out
  const rows = [['NAME', 'STATUS', 'CONNECTOR', 'VERSION', 'ADDRESS', 'TRANSPORT', 'UPTIME', 'STREAMS', 'RTT']];
  for (const t of tunnels) {
    const c = [...t.connections].sort((x, y) => x.connector.localeCompare(y.connector) || x.index - y.index);
    const status = t.revokedAt ? 'revoked' : t.up ? 'up' : 'down';
    rows.push([t.name, status, c.length === 1 ? '1 connection' : `${c.length} connections`, '', '', '', '', String(c.reduce((n, x) => n + x.streams, 0)), '']);
    for (const x of c) {
      rows.push([`  #${x.index}`, '', x.connector.slice(0, 8), x.version, x.address, x.transport, duration(x.uptimeSeconds), String(x.streams), x.rttMs === undefined ? '-' : `${x.rttMs.toFixed(1)}ms`]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) io.out(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
  return 0;
}

export async function tunnelRevoke(config: TunnelAdminTarget, name: string, io: CliOutput): Promise<number> {
  try {
    const store = new TunnelStore(config.tunnels.stateFile);
    store.revoke(name);
  } catch (err) {
    if (err instanceof TunnelStoreError) {
      io.err(`tunnel revoke: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  // the gateway also notices the file change by itself; asking it directly makes the cut immediate
  const applied = await adminRequest<{ revoked: string[] }>(socketOf(config), 'POST', '/tunnels/reload');
  io.out(`Tunnel "${name}" revoked; its token no longer connects.\n`);
  io.out(applied ? `The running gateway cut its live connections.\n` : `(no running gateway answered on its admin socket; the token is refused from the next start)\n`);
  return 0;
}
