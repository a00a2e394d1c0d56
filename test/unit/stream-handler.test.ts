import { connect as http2Connect, createServer as createHttp2Server, type ClientHttp2Session, type Http2Server } from 'node:http2';
import { createServer, type Server } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIngress } from '../../server/connector/ingress.js';
import { handleStream, type Resolver } from '../../server/connector/stream-handler.js';
import { MetricSet } from '../../server/metrics/prometheus.js';
import { HEADER_REFUSAL } from '../../server/tunnel/tunnel-wire.js';
import { echoThrough } from '../support/connector.js';

/**
 * The connector's stream handler behind a real HTTP/2 session, with the private network's DNS
 * played by a resolver the test controls: a name is checked again after it is resolved, against
 * the very address that is then dialled, so a name cannot smuggle the gateway past the rules.
 */
describe('connector stream handler: names are checked after resolution', () => {
  let echo: Server;
  let port: number;
  let h2: Http2Server;
  let session: ClientHttp2Session;
  const lines: string[] = [];
  const asked: string[] = [];
  const metrics = new MetricSet();
  let rules = parseIngress([{ deny: 'all' }]);
  const dns: Record<string, string[]> = {
    'desk.corp': ['10.9.9.9', '127.0.0.1'],
    'evil.corp': ['10.9.9.9'],
    'rebound.corp': ['127.0.0.1'],
  };
  const resolve: Resolver = async (name) => {
    asked.push(name);
    const a = dns[name];
    if (!a) throw Object.assign(new Error(`queryA ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return a;
  };

  beforeAll(async () => {
    echo = createServer((s) => s.pipe(s).on('error', () => undefined));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    port = (echo.address() as { port: number }).port;
    const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    h2 = createHttp2Server();
    h2.on('stream', (stream, headers) => handleStream(stream, headers, { rules, dialTimeoutMs: 2000, log, metrics, resolve, accepting: () => true }));
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    session = http2Connect(`http://127.0.0.1:${(h2.address() as { port: number }).port}`);
  });

  afterAll(() => {
    session?.close();
    h2?.close();
    echo?.close();
  });

  /** CONNECT to `authority`; the status, the refusal and, when connected, what the echo sent back. */
  function open(authority: string): Promise<{ status: number; refusal?: string; echoed?: string }> {
    return new Promise((done, fail) => {
      const req = session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
      req.on('error', fail);
      req.once('response', (h) => {
        const status = Number(h[':status']);
        if (status !== 200) {
          done({ status, refusal: String(h[HEADER_REFUSAL] ?? '') });
          req.close();
          return;
        }
        void echoThrough(req, 'ping').then((echoed) => {
          done({ status, echoed });
          req.close();
        }, fail);
      });
    });
  }

  it('a name that resolves to a denied and an allowed address is dialled at the allowed one only', async () => {
    rules = parseIngress([{ allow: `tcp://127.0.0.1:${port}` }, { deny: 'all' }]);
    expect(await open(`desk.corp:${port}`)).toEqual({ status: 200, echoed: 'ping' });
    expect(asked).toContain('desk.corp');
  });

  it('a name that resolves only to addresses outside the rules is refused, naming the rule, and logged with what it resolved to', async () => {
    rules = parseIngress([{ allow: `tcp://127.0.0.1:${port}` }, { deny: 'all' }]);
    const r = await open(`evil.corp:${port}`);
    expect(r.status).toBe(403);
    expect(r.refusal).toContain('rule 1');
    const line = lines.find((l) => l.includes(`refused evil.corp:${port}`));
    expect(line).toContain('10.9.9.9');
  });

  it('a name allowed by a name rule is still refused when its address hits an earlier deny', async () => {
    rules = parseIngress([{ deny: `tcp://127.0.0.0/8:${port}` }, { allow: `tcp://*.corp:${port}` }, { deny: 'all' }]);
    const r = await open(`rebound.corp:${port}`);
    expect(r.status).toBe(403);
    expect(r.refusal).toContain('rule 0');
    // the same address asked for directly meets the same rule
    expect((await open(`127.0.0.1:${port}`)).status).toBe(403);
  });

  it('a name rule allows what the private network\'s DNS says, and only that name', async () => {
    rules = parseIngress([{ allow: `tcp://rebound.corp:${port}` }, { deny: 'all' }]);
    expect(await open(`rebound.corp:${port}`)).toEqual({ status: 200, echoed: 'ping' });
    // the same address under another name, or by address, is not named by any allow rule
    expect((await open(`desk.corp:${port}`)).status).toBe(403);
    expect((await open(`127.0.0.1:${port}`)).status).toBe(403);
  });

  it('bytes of an open stream are counted at each scrape and once more at its close, never twice', async () => {
    rules = parseIngress([{ allow: `tcp://127.0.0.1:${port}` }, { deny: 'all' }]);
    const bytes = (direction: string) => {
      metrics.render();
      return metrics.value('drawbridge_connector_bytes_total', { direction });
    };
    const base = { to: bytes('to_gateway'), from: bytes('from_gateway') };
    const req = session.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${port}` }, { endStream: false });
    await new Promise((r) => req.once('response', r));
    const echo = (text: string) => echoThrough(req, text);
    await echo('12345');
    expect(bytes('to_gateway') - base.to).toBe(5);
    expect(bytes('from_gateway') - base.from).toBe(5);
    // scraped again with nothing new: nothing added
    expect(bytes('to_gateway') - base.to).toBe(5);
    await echo('678');
    expect(bytes('to_gateway') - base.to).toBe(8);
    req.close();
    await new Promise((r) => req.once('close', r));
    await expect.poll(() => metrics.value('drawbridge_connector_active_streams')).toBe(0);
    // the count at close adds what the last scrape had not seen, and nothing twice
    expect(bytes('to_gateway') - base.to).toBe(8);
    expect(bytes('from_gateway') - base.from).toBe(8);
  });

  it('a name that does not resolve gets a 502 that says so', async () => {
    rules = parseIngress([{ allow: `tcp://*.corp:${port}` }, { deny: 'all' }]);
    const r = await open(`gone.corp:${port}`);
    expect(r.status).toBe(502);
    expect(r.refusal).toBe('gone.corp does not resolve inside the private network');
  });
});
