import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
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
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(file, () => resolve());
    });
  try {
    await listen();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    // something is at that path: a running gateway's socket, one left by a crash, or not a socket.
    // Taking over a running gateway's socket would leave it unreachable for `tunnel revoke`, whose
    // live cut would then silently not happen; a file that is no socket is not ours to delete.
    if (!lstatSync(file).isSocket()) throw new AdminSocketInUse(file, 'exists and is not a socket: move it away', false);
    const state = await probe(file);
    if (state !== 'stale') throw new AdminSocketInUse(file, state === 'live' ? undefined : 'exists and could not be checked (no answer, or not ours to open)');
    unlinkSync(file);
    await listen().catch((again: NodeJS.ErrnoException) => {
      // another instance took it in between
      throw again.code === 'EADDRINUSE' ? new AdminSocketInUse(file) : again;
    });
  }
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
  constructor(
    readonly file: string,
    why = 'another gateway is running with this tunnel state (its admin socket answers)',
    /** Whoever holds it may go away (exit 1); a file that is no socket will not (exit 2). */
    readonly retryable = true,
  ) {
    super(`${file}: ${why}; stop it, or give this one its own tunnels.stateFile or tunnels.adminSocket`);
  }
}

/** Whether a gateway answers on this Unix socket: 'stale' only when the kernel says nobody listens. */
function probe(file: string): Promise<'live' | 'stale' | 'unknown'> {
  return new Promise((resolve) => {
    const s = connect(file);
    const timer = setTimeout(() => (s.destroy(), resolve('unknown')), 1000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve('live');
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code === 'ECONNREFUSED' ? 'stale' : 'unknown');
    });
  });
}
