import WebSocket from 'ws';
import { decodeString } from '../../server/proxy/guac-protocol.js';
import type { HttpClient } from './http-client.js';

/** What guacamole-common-js does over the wire, without a browser: launch, then the tunnel. */
export async function launchToken(client: HttpClient, gatewayUrl: string, appId: string): Promise<string> {
  const me = await client.request(`${gatewayUrl}/api/me`);
  const { csrfToken } = (await me.json()) as { csrfToken: string };
  const res = await client.request(`${gatewayUrl}/api/apps/${appId}/launch`, {
    method: 'POST',
    headers: { origin: gatewayUrl, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
    body: '{}',
  });
  if (res.status !== 200) throw new Error(`launch answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

export interface DesktopConnection {
  ws: WebSocket;
  messages: string[];
  instructions: string[][];
  closed: Promise<{ code: number; reason: string }>;
  waitFor(pred: (ins: string[]) => boolean, timeoutMs?: number): Promise<string[]>;
  send(text: string): void;
}

export interface OpenOptions {
  token?: string;
  query?: string;
  origin?: string;
  cookie?: string | null;
  protocol?: string;
}

/** Opens the desktop WebSocket; rejects with the HTTP status when the upgrade is refused. */
export function openDesktop(client: HttpClient, gatewayUrl: string, caPem: string, opts: OpenOptions): Promise<DesktopConnection> {
  const url = `${gatewayUrl.replace(/^http/, 'ws')}/ws/desktop?token=${encodeURIComponent(opts.token ?? '')}&width=1024&height=768&dpi=96&timezone=Europe%2FBerlin${opts.query ?? ''}`;
  const headers: Record<string, string> = { origin: opts.origin ?? gatewayUrl };
  const cookie = opts.cookie === undefined ? client.cookieHeader(gatewayUrl) : opts.cookie;
  if (cookie) headers.cookie = cookie;
  const ws = new WebSocket(url, opts.protocol ?? 'guacamole', { headers, ca: caPem });
  const messages: string[] = [];
  const instructions: string[][] = [];
  const waiters: Array<{ pred: (i: string[]) => boolean; resolve: (i: string[]) => void }> = [];
  ws.on('message', (data: Buffer) => {
    const text = data.toString('utf8');
    messages.push(text);
    for (const ins of decodeString(text, 'utf16')) {
      instructions.push(ins);
      for (const w of [...waiters]) {
        if (!w.pred(ins)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(ins);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        messages,
        instructions,
        closed,
        send: (t) => ws.send(t),
        waitFor(pred, timeoutMs = 10_000) {
          const seen = instructions.find(pred);
          if (seen) return Promise.resolve(seen);
          return new Promise((res, rej) => {
            const w = { pred, resolve: (i: string[]) => (clearTimeout(t), res(i)) };
            const t = setTimeout(() => {
              waiters.splice(waiters.indexOf(w), 1);
              rej(new Error(`timed out waiting; last instructions: ${JSON.stringify(instructions.slice(-5)).slice(0, 400)}`));
            }, timeoutMs);
            waiters.push(w);
          });
        },
      }),
    );
  });
}
