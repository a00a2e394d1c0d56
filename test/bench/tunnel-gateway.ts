/**
 * Bench gateway side, in its own process as in production: the tunnel endpoint over https, plus
 * a forwarding listener (what `ssh -R` gives: each accepted connection becomes a tunnel stream)
 * and a probe of the product's own per-session path (route + handoff listener + connect).
 */
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer, type Socket } from 'node:net';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { performance } from 'node:perf_hooks';
import { AuditLog } from '../../server/audit/audit-log.js';
import { ensureDevCa, issueServerCert } from '../../server/dev-idp/dev-ca.js';
import { startTunnels } from '../../server/tunnel/tunnels.js';
import { TUNNEL_PATH } from '../../server/tunnel/tunnel-wire.js';
import { pipeCoalesced } from '../../server/tunnel/coalescing-pipe.js';

const dir = process.env.BENCH_DIR!;
const ca = ensureDevCa(dir);
const cert = issueServerCert(ca, ['localhost'], ['127.0.0.1']);
const log = pino({ level: 'warn' }, pino.destination(2));
const audit = new AuditLog(path.join(dir, 'audit.jsonl'));
const tunnels = await startTunnels(
  { stateFile: path.join(dir, 'tunnels.json'), handoff: { listen: '127.0.0.1', timeoutSeconds: 10 }, openTimeoutMs: 10_000 },
  { guacdHost: () => '127.0.0.1', audit, log, clientIp: (req) => req.socket.remoteAddress },
);
const server = createHttpsServer({ cert: cert.certPem, key: cert.keyPem });
server.on('upgrade', (req, socket, head) => {
  if (new URL(req.url ?? '/', 'http://x').pathname === TUNNEL_PATH) tunnels.upgrade(req, socket, head);
  else socket.destroy();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const { token } = tunnels.store.create('bench', `https://localhost:${(server.address() as { port: number }).port}`);
writeFileSync(path.join(dir, 'token'), token);

process.on('message', (m: { cmd: string; host: string; port: number; n?: number }) => {
  void (async () => {
    if (m.cmd === 'forward') {
      const fwd = createServer({ noDelay: true }, (sock: Socket) => {
        sock.on('error', () => undefined);
        sock.pause();
        tunnels.registry.openStream('bench', m.host, m.port, 10_000).then(
          ({ stream }) => {
            stream.on('error', () => sock.destroy());
            sock.on('close', () => stream.destroy());
            stream.on('close', () => sock.destroy());
            sock.pipe(stream);
            pipeCoalesced(stream, sock);
            sock.resume();
          },
          (err: unknown) => {
            process.stderr.write(`bench forward: ${String(err)}\n`);
            sock.destroy();
          },
        );
      });
      await new Promise<void>((r) => fwd.listen(0, '127.0.0.1', r));
      process.send!({ forwardPort: (fwd.address() as { port: number }).port });
    } else if (m.cmd === 'handoff') {
      // the product path per desktop: stream through the tunnel, one-shot listener, guacd connects
      const times: number[] = [];
      for (let i = 0; i < (m.n ?? 100); i++) {
        const t0 = performance.now();
        const route = await tunnels.route('bench', m.host, m.port, 'bench');
        const s = connect({ host: route.host, port: route.port, noDelay: true });
        await new Promise((r) => s.once('connect', r));
        s.write('Ex');
        await new Promise((r) => s.once('data', r));
        times.push(performance.now() - t0);
        s.destroy();
        route.close();
      }
      process.send!({ times });
    } else if (m.cmd === 'up') {
      process.send!({ connections: tunnels.registry.connections('bench').length });
    }
  })();
});
process.send!({ port: (server.address() as { port: number }).port, caFile: ca.certFile, token });
process.on('SIGTERM', () => process.exit(0));
