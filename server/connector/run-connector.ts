import { randomUUID } from 'node:crypto';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { ConfigError } from '../config/load-config.js';
import type { Logger } from '../log/logger.js';
import { MetricSet } from '../metrics/prometheus.js';
import { decodeTunnelToken } from '../tunnel/tunnel-token.js';
import { TUNNEL_PATH } from '../tunnel/tunnel-wire.js';
import { VERSION } from '../version.js';
import type { BackoffOptions, Clock } from './backoff.js';
import type { ConnectorConfig } from './connector-config.js';
import { startMetricsServer } from '../metrics/metrics-server.js';
import { listenFailure } from '../http/listen-problem.js';
import { DIAL_FAILURE_REASONS, type Resolver } from './stream-handler.js';
import { Supervisor } from './supervisor.js';
import { TransportChoice } from './transport-choice.js';
import type { ConnectionError } from './connection-error.js';
import { TunnelConnection, tunnelSecureContext } from './tunnel-connection.js';
import { trustedCas } from './trusted-cas.js';

export interface RunConnectorOptions {
  config: ConnectorConfig;
  /** The connector token, as printed by `drawbridge tunnel create`. */
  token: string;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  backoff?: BackoffOptions;
  resolve?: Resolver;
}

export interface RunningConnector {
  connectorId: string;
  gatewayUrl: string;
  supervisor: Supervisor;
  metrics: MetricSet;
  metricsPort?: number;
  /** Resolves if the connector must stop for good (wrong or revoked token). */
  fatal: Promise<ConnectionError>;
  stop(): Promise<void>;
}

/** HTTPS_PROXY / NO_PROXY as curl reads them: NO_PROXY lists host suffixes, or `*`. */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv): string | undefined {
  const proxy = target.protocol === 'https:' ? env.HTTPS_PROXY ?? env.https_proxy : env.HTTP_PROXY ?? env.http_proxy;
  if (!proxy) return undefined;
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const host = target.hostname.toLowerCase();
  if (noProxy.some((n) => n === '*' || host === n.replace(/^\./, '') || host.endsWith(n.startsWith('.') ? n : `.${n}`))) return undefined;
  return proxy;
}

/**
 * What `connector run` checks before it dials, and `connector check` checks too: the gateway's
 * address (from the config, or else the token's) and the CAs to trust. Throws ConfigError or
 * TrustedCaError.
 */
export function connectorPreflight(config: ConnectorConfig, tokenGateway: string | undefined, env: NodeJS.ProcessEnv) {
  const named = config.gateway ?? tokenGateway;
  const gateway = named ? new URL(named) : undefined;
  if (gateway && gateway.protocol !== 'https:' && !config.insecureHttp) {
    const from = config.gateway ? '' : ' (named by the token)';
    throw new ConfigError('connector config', [{ path: 'gateway', message: `${gateway.origin}${from} is not https: the connector's token would cross the network in clear text. Use the gateway's https address, or set insecureHttp: true for a test setup.` }]);
  }
  // caFile adds to Node's roots and the system's, unless caFileOnly pins the gateway to it
  const { ca, sources: trusted, warnings } = trustedCas({ caFile: config.caFile, only: config.caFileOnly }, env);
  return { gateway, ca, trusted, warnings };
}

export async function runConnector(opts: RunConnectorOptions): Promise<RunningConnector> {
  const { config, log } = opts;
  const env = opts.env ?? process.env;
  const token = decodeTunnelToken(opts.token);
  const preflight = connectorPreflight(config, token.gateway, env);
  const { ca, trusted, warnings } = preflight;
  // every token names its gateway, so with one given there is always one
  const gateway = preflight.gateway!;
  const tunnelUrl = new URL(TUNNEL_PATH, gateway);
  for (const w of warnings) log.warn(w);
  const secureContext = tunnelSecureContext(ca.map((c) => Buffer.from(c)));
  const proxy = proxyFor(gateway, env);
  const agent = proxy ? new HttpsProxyAgent(proxy, { ca }) : undefined;
  const connectorId = randomUUID();
  const transport = new TransportChoice(config.transport, log.child({ tunnel: token.name }));
  const metrics = new MetricSet();
  metrics.set('drawbridge_connector_info', 'Connector build and tunnel', 1, { version: VERSION, tunnel: token.name });
  metrics.set('drawbridge_connector_active_streams', 'Streams open now', 0);
  metrics.add('drawbridge_connector_refused_total', 'Streams refused because no ingress rule allows the destination', 0);
  metrics.add('drawbridge_connector_reconnects_total', 'Reconnect attempts after a connection ended or failed', 0);
  // every series from the start, so an alert on them works before the first event
  metrics.set('drawbridge_connector_connections', 'Connections to the gateway that are up', 0);
  metrics.add('drawbridge_connector_streams_total', 'Streams opened to destinations', 0);
  for (const direction of ['to_gateway', 'from_gateway']) metrics.add('drawbridge_connector_bytes_total', 'Bytes carried for streams', 0, { direction });
  for (const reason of DIAL_FAILURE_REASONS) metrics.add('drawbridge_connector_dial_failures_total', 'Destinations that could not be reached', 0, { reason });

  const supervisor = new Supervisor({
    connections: config.connections,
    log,
    metrics,
    clock: opts.clock,
    backoff: opts.backoff,
    create: (index) =>
      new TunnelConnection({
        url: tunnelUrl.toString(),
        transport,
        token: opts.token.trim(),
        index,
        connectorId,
        version: VERSION,
        secureContext,
        agent,
        rules: config.ingress,
        dialTimeoutMs: config.dialTimeoutMs,
        log: log.child({ tunnel: token.name }),
        metrics,
        resolve: opts.resolve,
      }),
  });
  const fatal = new Promise<ConnectionError>((resolve) => supervisor.once('fatal', resolve));
  log.info({ tunnel: token.name, gateway: gateway.origin, proxy: proxy ? new URL(proxy).host : undefined, transport: config.transport, connections: config.connections, rules: config.ingress.length, version: VERSION, trusted }, 'connector starting');
  // the port first: a connector that cannot report on itself stops before it dials
  let status;
  try {
    status = config.metrics ? await startMetricsServer(config.metrics.listen, metrics, () => ({ ready: supervisor.upCount() > 0, connections: supervisor.upCount(), streams: supervisor.activeStreams() })) : undefined;
  } catch (err) {
    agent?.destroy();
    throw listenFailure('connector config', 'metrics.listen', config.metrics!.listen, err);
  }
  supervisor.start();
  if (status) log.info({ listen: status.address }, 'metrics and readiness on /metrics and /ready');

  return {
    connectorId,
    gatewayUrl: gateway.origin,
    supervisor,
    metrics,
    metricsPort: status?.port,
    fatal,
    async stop() {
      await supervisor.stop(config.drainSeconds * 1000);
      await status?.close();
      agent?.destroy();
    },
  };
}
