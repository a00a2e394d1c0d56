import type { IncomingMessage } from 'node:http';
import { ConnectionError } from './connection-error.js';

/** What answered instead of upgrading: the HTTP status and, if the gateway itself answered, its error code. */
export interface UpgradeAnswer {
  status: number;
  /** The gateway's own `error.code`; empty when the body is not the gateway's JSON (a proxy answered). */
  code: string;
}

/**
 * Whether a failed direct upgrade is worth retrying over a WebSocket, as a path that passes only
 * WebSocket upgrades would explain it:
 * - `switch`: an answer such a proxy gives (it does not know this upgrade); if the WebSocket then
 *   works, later connections use it too;
 * - `try`: an ambiguous failure (hung up on, or no answer once the request was out), which a
 *   gateway restarting also explains: the WebSocket is tried for this attempt only;
 * - `no`: the gateway refused us, is busy, or is down, and a WebSocket would fare no better.
 */
export type WebSocketWorth = 'switch' | 'try' | 'no';

export interface UpgradeVerdict {
  error: ConnectionError;
  websocket: WebSocketWorth;
}

const ANSWER_DEADLINE_MS = 5000;

/** Reads the (small) body of a non-upgrade answer, giving up after a deadline. */
export function readAnswer(res: IncomingMessage, deadlineMs = ANSWER_DEADLINE_MS): Promise<UpgradeAnswer> {
  const status = res.statusCode ?? 0;
  return new Promise((resolve) => {
    let body = '';
    let done = false;
    const settle = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      let code = '';
      try {
        const c = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
        if (typeof c === 'string') code = c.slice(0, 60);
      } catch {
        /* not ours: a proxy or another server answered */
      }
      resolve({ status, code });
      res.destroy();
    };
    // a body that trickles or never ends must not hold the connection slot
    const timer = setTimeout(settle, deadlineMs);
    res.setEncoding('utf8');
    res.on('data', (c: string) => (body = (body + c).slice(0, 2000)));
    res.on('end', settle);
    res.on('error', settle);
    res.on('close', settle);
  });
}

/** The verdict on an HTTP answer to a direct upgrade. */
export function judgeAnswer({ status, code }: UpgradeAnswer): UpgradeVerdict {
  const ours = code !== '';
  if ((status === 401 || status === 403) && code.startsWith('tunnel_token_')) {
    return { error: new ConnectionError(`the gateway refused this connector's token (${code}): it is wrong or the tunnel was revoked; create a new token with \`drawbridge tunnel create\``, true), websocket: 'no' };
  }
  const said = `the gateway answered HTTP ${status}${ours ? ` (${code})` : ''}`;
  // too many connections: the gateway is there and said no for now
  if (status === 429) return { error: new ConnectionError(said, false), websocket: 'no' };
  // down, restarting or overloaded (what a proxy says when the gateway behind it is): retry later
  if (status >= 500 && status !== 501) return { error: new ConnectionError(said, false), websocket: 'no' };
  if (ours && code !== 'bad_upgrade') return { error: new ConnectionError(said, false), websocket: 'no' };
  // 400 bad_upgrade (something rewrote the Upgrade header), 404, 426, 501, a WAF's 403, a page...
  return { error: new ConnectionError(ours ? said : `${said}, in words not the gateway's (something on the way may not pass this upgrade)`, false), websocket: 'switch' };
}
