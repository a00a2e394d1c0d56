/** Bench connector: the real connector code in its own process, allowed to reach the bench destination only. */
import { pino } from 'pino';
import { parseConnectorConfig } from '../../server/connector/connector-config.js';
import { runConnector } from '../../server/connector/run-connector.js';

const c = await runConnector({
  config: parseConnectorConfig({ gateway: process.env.BENCH_GATEWAY, caFile: process.env.BENCH_CA, connections: Number(process.env.BENCH_CONNECTIONS ?? 2), transport: (process.env.BENCH_TRANSPORT ?? 'auto') as 'auto', ingress: [{ allow: `tcp://127.0.0.1:${process.env.BENCH_DEST_PORT}` }, { deny: 'all' }] }),
  token: process.env.BENCH_TOKEN!,
  log: pino({ level: 'warn' }, pino.destination(2)),
  env: {},
});
c.supervisor.on('up', () => process.send!({ up: c.supervisor.upCount() }));
process.on('SIGTERM', () => process.exit(0));
