import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ConfigError, problemsOf } from '../config/load-config.js';
import { IngressRuleError, parseIngress, type IngressRule } from './ingress.js';

const hostPort = z.string().regex(/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):[0-9]{1,5}$/i, 'must be HOST:PORT, e.g. 127.0.0.1:9300');

/** connector.yml — what this connector dials and what it lets the gateway reach. */
export const connectorConfigSchema = z.strictObject({
  /** Overrides the gateway named in the token (e.g. a different public name inside the network). */
  gateway: z.url({ protocol: /^https?$/ }).optional(),
  /**
   * Lets the connector dial a gateway over plain http (its token then crosses the network in
   * clear text): for a test setup only. Without it, an http:// gateway, here or in the token,
   * stops the connector at start.
   */
  insecureHttp: z.boolean().default(false),
  /** Extra CA certificates (PEM) to trust for the gateway, on top of Node's roots and the system bundle. */
  caFile: z.string().min(1).optional(),
  /** Trust caFile alone for the gateway (pinning): no CA in the system store can then see the token. */
  caFileOnly: z.boolean().default(false),
  /**
   * How the connections carry HTTP/2: `direct` (an HTTP upgrade on the TLS connection, fastest),
   * `websocket` (for a path that passes only WebSocket upgrades), or `auto`: direct, falling back
   * to a WebSocket when the direct upgrade is not answered.
   */
  transport: z.enum(['auto', 'direct', 'websocket']).default('auto'),
  /** Connections held open at once; each carries many desktops, more give availability. */
  connections: z.number().int().min(1).max(8).default(2),
  metrics: z.strictObject({ listen: hostPort }).optional(),
  /** How long SIGTERM waits for open streams to finish before cutting them. */
  drainSeconds: z.number().min(0).max(3600).default(30),
  /** Time allowed to connect to a destination inside the network. */
  dialTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
  ingress: z.array(z.unknown()).min(1, 'needs at least one rule, and the last must be { deny: all }'),
});

export type ConnectorConfigInput = z.infer<typeof connectorConfigSchema>;
export type ConnectorConfig = Omit<ConnectorConfigInput, 'ingress'> & { ingress: IngressRule[] };

export function parseConnectorConfig(raw: unknown, source = 'connector config'): ConnectorConfig {
  const result = connectorConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(source, problemsOf(result.error));
  if (result.data.caFileOnly && !result.data.caFile) throw new ConfigError(source, [{ path: 'caFileOnly', message: 'needs caFile: the CA to pin the gateway to' }]);
  try {
    return { ...result.data, ingress: parseIngress(result.data.ingress) };
  } catch (err) {
    if (err instanceof IngressRuleError) throw new ConfigError(source, [{ path: `ingress[${err.index}]`, message: err.reason }]);
    throw err;
  }
}

export function loadConnectorConfig(file: string): ConnectorConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof YAMLParseError) throw new ConfigError(file, [{ path: '', message: err.message.split('\n')[0] ?? 'YAML syntax error' }]);
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
  }
  return parseConnectorConfig(raw ?? {}, file);
}
