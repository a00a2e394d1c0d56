import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/load-config.js';
import { AddressInUse } from '../http/listen-problem.js';
import type { Logger } from '../log/logger.js';
import { TunnelTokenError, decodeTunnelToken } from '../tunnel/tunnel-token.js';
import { loadConnectorConfig } from './connector-config.js';
import { connectorPreflight, runConnector, type RunningConnector } from './run-connector.js';
import { TrustedCaError } from './trusted-cas.js';

/** Exit codes a service manager can act on: 1 try again later, 2 bad config or token (fix, do not restart), 3 refused token. */
export const EXIT_RETRY = 1;
export const EXIT_CONFIG = 2;
export const EXIT_TOKEN_REFUSED = 3;

export function readToken(tokenFile: string | undefined, env: NodeJS.ProcessEnv): string {
  let raw: string | undefined;
  if (tokenFile) {
    try {
      raw = readFileSync(tokenFile, 'utf8');
    } catch (err) {
      throw new TunnelTokenError(`--token-file ${tokenFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  } else raw = env.DRAWBRIDGE_TUNNEL_TOKEN;
  if (!raw?.trim()) throw new TunnelTokenError('no connector token: pass --token-file FILE or set DRAWBRIDGE_TUNNEL_TOKEN');
  decodeTunnelToken(raw);
  return raw.trim();
}

/** Why the connector cannot start, named with the file and option: exit 2 for a mistake (not restarted), 1 for an address another process holds (retried). */
function startFailure(err: unknown, file: string, fail: (message: string, code: number) => never): never {
  if (err instanceof ConfigError) fail(new ConfigError(file, err.problems).message, EXIT_CONFIG);
  // held by another process, perhaps an instance still stopping: exit 1, which is retried
  if (err instanceof AddressInUse) fail(`${file}: ${err.message}`, EXIT_RETRY);
  // caFile comes from the config file; SSL_CERT_FILE and NODE_EXTRA_CA_CERTS from the environment
  if (err instanceof TrustedCaError) fail(err.source === 'caFile' ? `${file}: ${err.message}` : err.message, EXIT_CONFIG);
  throw err;
}

/**
 * `connector check`: what `connector run` would refuse at start, without dialing. With a token (a
 * file, or DRAWBRIDGE_TUNNEL_TOKEN) the gateway it names is checked too.
 */
export function connectorCheck(file: string, opts: { tokenFile?: string }, env: NodeJS.ProcessEnv, out: (text: string) => void, fail: (message: string, code: number) => never): void {
  let checkedToken = false;
  try {
    const config = loadConnectorConfig(file);
    let tokenGateway: string | undefined;
    if (opts.tokenFile || env.DRAWBRIDGE_TUNNEL_TOKEN) {
      tokenGateway = decodeTunnelToken(readToken(opts.tokenFile, env)).gateway;
      checkedToken = true;
    }
    const { warnings } = connectorPreflight(config, tokenGateway, env);
    for (const w of warnings) out(`warning: ${w}\n`);
    out(`${file}: valid (${config.ingress.length} ingress rules, ${config.connections} connections)\n`);
    if (!checkedToken && !config.gateway) out('  no token given (--token-file or DRAWBRIDGE_TUNNEL_TOKEN): the gateway address it names was not checked\n');
  } catch (err) {
    if (err instanceof TunnelTokenError) fail(err.message, EXIT_CONFIG);
    startFailure(err, file, fail);
  }
}

export async function connectorRun(opts: { config: string; tokenFile?: string }, log: Logger, fail: (message: string, code: number) => never): Promise<void> {
  let token: string;
  let config;
  try {
    config = loadConnectorConfig(opts.config);
    token = readToken(opts.tokenFile, process.env);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof TunnelTokenError) fail(err.message, EXIT_CONFIG);
    throw err;
  }
  let connector: RunningConnector;
  try {
    connector = await runConnector({ config, token, log });
  } catch (err) {
    startFailure(err, opts.config, fail);
  }
  let stopping = false;
  const stop = (code: number) => {
    if (stopping) return;
    stopping = true;
    log.info({ drainSeconds: config.drainSeconds, streams: connector.supervisor.activeStreams() }, 'stopping: draining open streams');
    void connector.stop().then(() => process.exit(code));
  };
  process.once('SIGTERM', () => stop(0));
  process.once('SIGINT', () => stop(0));
  void connector.fatal.then((err) => {
    log.fatal({ reason: err.message }, 'connector stopped');
    process.stderr.write(`connector stopped: ${err.message}\n`);
    stop(EXIT_TOKEN_REFUSED);
  });
}
