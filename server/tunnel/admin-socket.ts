import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';

/** Where the admin socket is: configured, or next to the tunnel state file. The gateway and the CLI agree through this. */
export function adminSocketPath(tunnels: { adminSocket?: string; stateFile: string }): string {
  return tunnels.adminSocket ?? `${tunnels.stateFile}.sock`;
}

export interface AdminHandlers {
  tunnels(): unknown;
  /** Re-read the tunnel file now (after the CLI changed it); returns what changed. */
  reload(): unknown;
  metrics(): string;
}

/**
 * A local HTTP endpoint on a Unix socket for `drawbridge tunnel list/revoke`: only someone who can
 * open the socket file (owner-only permissions) may use it, and it never faces the network.
 */
export async function startAdminSocket(file: string, h: AdminHandlers): Promise<{ server: Server; close(): Promise<void> }> {
  if (existsSync(file)) {
    // a socket file that answers belongs to a gateway that is running: taking it over would leave
    // that gateway unreachable for `tunnel revoke`, whose live cut would then silently not happen
    if (await answers(file)) throw new AdminSocketInUse(file);
    unlinkSync(file);
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, body: unknown, type = 'application/json') =>
      void res.writeHead(status, { 'content-type': type }).end(type === 'application/json' ? JSON.stringify(body) : String(body));
    try {
      if (req.method === 'GET' && req.url === '/tunnels') return send(200, h.tunnels());
      if (req.method === 'POST' && req.url === '/tunnels/reload') return send(200, h.reload());
      if (req.method === 'GET' && req.url === '/metrics') return send(200, h.metrics(), 'text/plain; version=0.0.4');
      send(404, { error: { code: 'not_found', message: `${req.method} ${req.url}` } });
    } catch (err) {
      send(500, { error: { code: 'internal', message: String(err) } });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => resolve());
  });
  chmodSync(file, 0o600);
  return {
    server,
    close: () =>
      new Promise((resolve) =>
        server.close(() => {
          if (existsSync(file)) unlinkSync(file);
          resolve();
        }),
      ),
  };
}

export class AdminSocketInUse extends Error {
  constructor(readonly file: string) {
    super(`${file}: another gateway is running with this tunnel state (its admin socket answers); stop it, or give this one its own tunnels.stateFile or tunnels.adminSocket`);
  }
}

/** Whether something accepts connections on this Unix socket; a stale file from a crash does not. */
function answers(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(file);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
