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

  it('a name no rule could allow is refused without asking DNS: the resolver is no oracle or channel for the gateway', async () => {
    // an address rule on another port, and a name rule for other names: nothing could let these through
    rules = parseIngress([{ allow: `tcp://127.0.0.0/8:${port + 1}` }, { allow: `tcp://*.branch.corp:${port}` }, { deny: 'all' }]);
    asked.length = 0;
    for (const name of ['desk.corp', 'gone.corp', 'secret-data-in-a-label.attacker.example']) {
      const r = await open(`${name}:${port}`);
      expect(r.status).toBe(403);
      expect(r.refusal).toContain('no rule could allow this name');
    }
    expect(asked).toEqual([]);
    // a name rule denying the name decides too, before any lookup
    rules = parseIngress([{ deny: `tcp://desk.corp:${port}` }, { allow: `tcp://127.0.0.0/8:${port}` }, { deny: 'all' }]);
    expect((await open(`desk.corp:${port}`)).status).toBe(403);
    expect(asked).toEqual([]);
    // an address rule on the port may match what the name resolves to: then it is looked up
    expect(await open(`rebound.corp:${port}`)).toEqual({ status: 200, echoed: 'ping' });
    expect(asked).toEqual(['rebound.corp']);
  });

  it('0.0.0.0 and :: mean this machine: refused even under a rule that covers them, asked directly or through a name', async () => {
    dns['blocked.corp'] = ['0.0.0.0'];
    rules = parseIngress([{ deny: `tcp://127.0.0.0/8:*` }, { deny: 'tcp://[::1]:*' }, { allow: `tcp://0.0.0.0/0:${port}` }, { allow: `tcp://[::/0]:${port}` }, { allow: `tcp://*.corp:${port}` }, { deny: 'all' }]);
    for (const authority of [`0.0.0.0:${port}`, `0.1.2.3:${port}`, `[::]:${port}`, `[::ffff:0.0.0.0]:${port}`, `blocked.corp:${port}`]) {
      const r = await open(authority);
      expect(r.status, authority).toBe(403);
      expect(r.refusal, authority).toContain('means this machine');
    }
    expect(lines.some((l) => l.includes(`refused blocked.corp:${port}`) && l.includes('0.0.0.0'))).toBe(true);
  });

  it('a lookup that does not answer fails the stream after the resolve timeout', async () => {
    const slow = createHttp2Server();
    const log = pino({ level: 'silent' });
    slow.on('stream', (stream, headers) => handleStream(stream, headers, { rules: parseIngress([{ allow: `tcp://*.corp:${port}` }, { deny: 'all' }]), dialTimeoutMs: 2000, log, metrics, resolve: () => new Promise(() => undefined), resolveTimeoutMs: 200, accepting: () => true }));
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const c = http2Connect(`http://127.0.0.1:${(slow.address() as { port: number }).port}`);
    try {
      const req = c.request({ ':method': 'CONNECT', ':authority': `hang.corp:${port}` }, { endStream: false });
      const h = await new Promise<Record<string, unknown>>((r) => req.once('response', r));
      expect(h[':status']).toBe(502);
      expect(String(h[HEADER_REFUSAL])).toContain('does not resolve');
    } finally {
      c.close();
      slow.close();
    }
  });

  it('a name that does not resolve gets a 502 that says so', async () => {
    rules = parseIngress([{ allow: `tcp://*.corp:${port}` }, { deny: 'all' }]);
    const r = await open(`gone.corp:${port}`);
    expect(r.status).toBe(502);
    expect(r.refusal).toBe('gone.corp does not resolve inside the private network');
  });

  it('a destination that refuses the connection gets a 502 naming why, counted under a fixed reason', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const gone = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    rules = parseIngress([{ allow: `tcp://127.0.0.1:${gone}` }, { deny: 'all' }]);
    const before = metrics.render();
    const count = (text: string, reason: string) => Number(new RegExp(`^drawbridge_connector_dial_failures_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    const r = await open(`127.0.0.1:${gone}`);
    expect(r.status).toBe(502);
    expect(r.refusal).toBe(`127.0.0.1:${gone} did not accept the connection (ECONNREFUSED)`);
    expect(count(metrics.render(), 'refused') - count(before, 'refused')).toBe(1);
    expect(metrics.render()).not.toMatch(/reason="ECONNREFUSED"/);
  });
});
