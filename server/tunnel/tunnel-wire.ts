import type { Settings } from 'node:http2';

/**
 * What gateway and connector agree on. The connector dials the gateway's public port and upgrades
 * its request at TUNNEL_PATH; then the two speak HTTP/2 — the connector as the HTTP/2 server — one
 * CONNECT stream per TCP connection it makes inside its network. HTTP/2 brings per-stream flow
 * control, so a busy desktop cannot starve the others.
 *
 * Two transports carry that HTTP/2 session:
 * - direct: an HTTP/1.1 Upgrade to TUNNEL_UPGRADE, after which HTTP/2 runs on the TLS socket
 *   itself. Node's HTTP/2 then reads and writes the socket natively; over a WebSocket every byte
 *   also passes through JavaScript twice, which measured at half the throughput.
 * - websocket: a WebSocket (subprotocol TUNNEL_SUBPROTOCOL) whose binary messages carry the
 *   HTTP/2 bytes, for a path that passes only WebSocket upgrades (some reverse proxies and
 *   TLS-inspecting proxies). A connector on `auto` falls back to it when the direct upgrade is
 *   not answered.
 */
export const TUNNEL_PATH = '/_drawbridge/tunnel';
export const TUNNEL_SUBPROTOCOL = 'drawbridge-tunnel.v1';
export const TUNNEL_UPGRADE = 'drawbridge-tunnel.v1';

export type TransportKind = 'direct' | 'websocket';

export const HEADER_CONNECTOR_ID = 'drawbridge-connector-id';
export const HEADER_CONNECTOR_VERSION = 'drawbridge-connector-version';
export const HEADER_CONNECTION_INDEX = 'drawbridge-connection-index';
/** On a refused stream: why, for the gateway's log and the user's message. */
export const HEADER_REFUSAL = 'drawbridge-refusal';

/**
 * Why the gateway cut a connector: the code goes in the GOAWAY's debug data (both transports) and,
 * on a WebSocket, in its close frame too.
 */
export const CLOSE_REVOKED = 4401;
export const CLOSE_GATEWAY_SHUTDOWN = 4503;

const GOAWAY_PREFIX = 'drawbridge-close ';

export function goawayData(code: number, reason: string): Buffer {
  return Buffer.from(`${GOAWAY_PREFIX}${code} ${reason.slice(0, 200)}`, 'utf8');
}

/** The code and reason from a GOAWAY's debug data, if the gateway put them there. */
export function readGoawayData(data: Buffer | undefined): { code: number; reason: string } | undefined {
  const text = data?.toString('utf8') ?? '';
  const m = /^drawbridge-close (\d{4}) ?(.*)$/s.exec(text);
  return m ? { code: Number(m[1]), reason: m[2]!.slice(0, 200) } : undefined;
}

const MiB = 1 << 20;

/**
 * A stream window of 2 MiB keeps one stream busy at ~40 MB/s even over a 50 ms WAN round trip
 * (a desktop needs far less), while the 16 MiB connection window is shared, so with many busy
 * streams each gets its turn and a peer that stops reading pins at most 16 MiB per connection.
 * Frames of 64 KiB keep a keystroke from waiting behind a large bulk frame; 16 KiB to 1 MiB
 * frames and 1 to 4 MiB windows measured the same on the bench, within its noise.
 */
export const HTTP2_SETTINGS: Settings = { initialWindowSize: 2 * MiB, maxFrameSize: 64 * 1024, enablePush: false, maxConcurrentStreams: 4096 };
export const CONNECTION_WINDOW = 16 * MiB;
/**
 * Node refuses new streams (ENHANCE_YOUR_CALM) once a session holds this much, queued data
 * included, and fails the session if it must allocate beyond it. Its 10 MB default is a web
 * server's, for one client; a tunnel connection carries every desktop of a site.
 */
export const SESSION_MEMORY_MB = 128;
/** WebSocket messages carry HTTP/2 frames; never more than a few frames each. */
export const MAX_WS_PAYLOAD = 16 * MiB;

/** Each side pings every interval; a ping still unanswered at the next one drops the connection. */
export const PING_INTERVAL_MS = 10_000;
