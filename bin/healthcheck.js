#!/usr/bin/env node
// The container's health check: GET /healthz on this machine, over https first (a gateway with
// server.tls; its certificate names the public host, not 127.0.0.1, so it is not verified here:
// this only asks whether our own process answers) and then over plain http (the demo, or a gateway
// behind a TLS-terminating proxy). Exit 0 when either answers 200.
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';

const port = Number(process.env.HEALTH_PORT || 8443);
const ask = (get, extra) =>
  new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/healthz', timeout: 2000, ...extra }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
process.exit((await ask(httpsGet, { rejectUnauthorized: false })) || (await ask(httpGet, {})) ? 0 : 1);
