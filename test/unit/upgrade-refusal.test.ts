import { createServer, get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { judgeAnswer, readAnswer } from '../../server/connector/upgrade-refusal.js';

describe('judgeAnswer: what a failed direct upgrade means', () => {
  const cases = [
    // the gateway's own token verdicts are final: retrying or switching transport cannot help
    { answer: { status: 401, code: 'tunnel_token_invalid' }, permanent: true, websocket: 'no', message: /refused this connector's token \(tunnel_token_invalid\)/ },
    { answer: { status: 401, code: 'tunnel_token_missing' }, permanent: true, websocket: 'no', message: /tunnel_token_missing/ },
    // a WAF or a proxy's own 401/403 says nothing about our token
    { answer: { status: 403, code: '' }, permanent: false, websocket: 'switch', message: /HTTP 403, in words not the gateway's/ },
    { answer: { status: 401, code: '' }, permanent: false, websocket: 'switch', message: /HTTP 401/ },
    // the gateway is there and busy, or down / restarting behind a proxy: retry later, same transport
    { answer: { status: 429, code: 'too_many_connections' }, permanent: false, websocket: 'no', message: /HTTP 429 \(too_many_connections\)/ },
    { answer: { status: 502, code: '' }, permanent: false, websocket: 'no', message: /HTTP 502/ },
    { answer: { status: 503, code: '' }, permanent: false, websocket: 'no', message: /HTTP 503/ },
    { answer: { status: 500, code: '' }, permanent: false, websocket: 'no', message: /HTTP 500/ },
    { answer: { status: 504, code: '' }, permanent: false, websocket: 'no', message: /HTTP 504/ },
    { answer: { status: 403, code: 'origin_rejected' }, permanent: false, websocket: 'no', message: /origin_rejected/ },
    // what a path that does not know this upgrade answers
    { answer: { status: 400, code: 'bad_upgrade' }, permanent: false, websocket: 'switch', message: /HTTP 400 \(bad_upgrade\)/ },
    { answer: { status: 400, code: '' }, permanent: false, websocket: 'switch', message: /HTTP 400/ },
    { answer: { status: 404, code: '' }, permanent: false, websocket: 'switch', message: /HTTP 404/ },
    { answer: { status: 426, code: '' }, permanent: false, websocket: 'switch', message: /HTTP 426/ },
    { answer: { status: 501, code: '' }, permanent: false, websocket: 'switch', message: /HTTP 501/ },
    { answer: { status: 200, code: '' }, permanent: false, websocket: 'switch', message: /HTTP 200/ },
  ] as const;
  for (const c of cases) {
    it(`${c.answer.status} ${c.answer.code || '(no code)'} -> ${c.permanent ? 'permanent' : 'retry'}, websocket ${c.websocket}`, () => {
      const v = judgeAnswer(c.answer);
      expect({ permanent: v.error.permanent, websocket: v.websocket }).toEqual({ permanent: c.permanent, websocket: c.websocket });
      expect(v.error.message).toMatch(c.message);
    });
  }
});

describe('readAnswer', () => {
  async function answerFrom(handler: Parameters<typeof createServer>[1], deadlineMs?: number) {
    const server = createServer(handler!);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const res = await new Promise<IncomingMessage>((resolve) => get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, resolve));
      const started = Date.now();
      const answer = await readAnswer(res, deadlineMs);
      return { answer, ms: Date.now() - started };
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }

  it("reads the gateway's error code from its JSON body", async () => {
    const { answer } = await answerFrom((_q, res) => res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'tunnel_token_invalid', message: 'x' } })));
    expect(answer).toEqual({ status: 401, code: 'tunnel_token_invalid' });
  });

  it('a body that is not JSON (a proxy answered) has no code', async () => {
    const { answer } = await answerFrom((_q, res) => res.writeHead(403).end('<html>Forbidden by policy</html>'));
    expect(answer).toEqual({ status: 403, code: '' });
  });

  it('a body that never ends is given up at the deadline', async () => {
    const { answer, ms } = await answerFrom((_q, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.write('{"error":{"code":"tunnel_tok');
    }, 300);
    expect(answer).toEqual({ status: 401, code: '' });
    expect(ms).toBeLessThan(2000);
  });
});
