import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricSet } from './prometheus.js';

/**
 * A local status port: `/metrics` is Prometheus text; `/ready` answers 200 while `ready()` says so
 * (the connector: at least one connection to the gateway is up), for a load balancer or a
 * Kubernetes readiness probe.
 */
export async function startMetricsServer(listen: string, metrics: MetricSet, ready: () => { ready: boolean; [k: string]: unknown }): Promise<{ server: Server; port: number; address: string; close(): Promise<void> }> {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(at + 1));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'GET') return void res.writeHead(405).end();
    if (url.pathname === '/ready') {
      const r = ready();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(r));
      return;
    }
    if (url.pathname === '/metrics') return void res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render());
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  // as configured, with the port actually bound (port 0 picks one): what the start-up log says
  return { server, port: bound, address: `${listen.slice(0, at)}:${bound}`, close: () => new Promise((r) => server.close(() => r())) };
}
