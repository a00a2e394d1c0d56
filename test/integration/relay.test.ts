import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuacdStandin, type GuacdStandin } from '../support/guacd-standin/index.js';
import { launchToken, openDesktop, type DesktopConnection } from '../support/desktop-client.js';
import { signIn, type HttpClient } from '../support/http-client.js';
import { startStack, type Stack } from '../support/stack.js';
import { startX224Responder } from '../support/x224-responder.js';

/**
 * The relay between the browser's WebSocket and guacd, driven over the real wire with a signed-in
 * session and the guacd stand-in. Each bad input ends one session; the gateway and the other
 * sessions carry on.
 */

describe('desktop relay', () => {
  let standin: GuacdStandin;
  let stack: Stack;
  let alice: HttpClient;
  let bob: HttpClient;
  let rdp: Awaited<ReturnType<typeof startX224Responder>>;

  beforeAll(async () => {
    standin = await startGuacdStandin({ inactivityTimeoutMs: 60_000 });
    rdp = await startX224Responder();
    stack = await startStack({
      guacd: { host: standin.host, port: standin.port },
      apps: [
        { id: 'win11', name: 'Windows 11', host: rdp.host, port: rdp.port, rdp: { security: 'tls', ignoreCert: true } },
        // nothing listens on port 9: the stand-in reports 519 after ready, as guacd does
        { id: 'gone', name: 'Decommissioned', host: '127.0.0.1', port: 9 },
      ],
    });
    alice = stack.client();
    bob = stack.client();
    await signIn(alice, stack.url, 'alice@contoso.example', 'alice');
    await signIn(bob, stack.url, 'bob@contoso.example', 'bob');
  });
  afterAll(async () => {
    await stack?.close();
    await standin?.close();
    await rdp?.close();
  });

  async function open(client: HttpClient = alice, query = '', app = 'win11'): Promise<DesktopConnection> {
    const token = await launchToken(client, stack.url, app);
    const conn = await openDesktop(client, stack.url, stack.caPem, { token, query });
    await conn.waitFor((i) => i[0] === 'sync');
    return conn;
  }

  const lastStandin = () => standin.sessions.at(-1)!;

  it('opens the tunnel with its UUID first, and guacd gets only what the gateway decides', async () => {
    const conn = await open(alice, '&hostname=10.66.66.66&port=22&security=rdp&password=x');
    expect(conn.instructions[0]![0]).toBe('');
    expect(conn.instructions[0]![1]).toMatch(/^[0-9a-f-]{36}$/);
    const s = lastStandin();
    expect(s.clientVersion).toBe('VERSION_1_5_0');
    await expect.poll(() => s.rdp.state).toBe('confirmed');
    expect(rdp.requests.length).toBeGreaterThan(0);
    expect(s.connectArgs).toMatchObject({ hostname: '127.0.0.1', port: String(rdp.port), security: 'tls', 'ignore-cert': 'true', width: '1024', height: '768', dpi: '96', 'resize-method': 'display-update' });
    expect(s.connectArgs.password).toBe('');
    expect(s.handshake.timezone).toBe('Europe/Berlin');
    expect(s.handshake.name).toBe('alice@contoso.example');
    conn.ws.close();
    await conn.closed;
  });

  it('answers tunnel pings itself and forwards input to guacd', async () => {
    const conn = await open();
    const s = lastStandin();
    conn.send('0.,4.ping,13.1700000000000;');
    const pong = await conn.waitFor((i) => i[0] === '' && i[1] === 'ping');
    expect(pong).toEqual(['', 'ping', '1700000000000']);
    conn.send('3.key,5.65307,1.1;');
    conn.send('5.mouse,2.10,2.20,1.1;');
    await expect.poll(() => s.mouse.length).toBe(1);
    expect(s.keys).toEqual([{ keysym: 65307, pressed: true }]);
    conn.ws.close();
  });

  it('survives a UTF-8 character split across TCP reads from guacd', async () => {
    const conn = await open();
    const text = 'Grüße 東京 😀 done';
    const ins = `9.clipboard,1.7,10.text/plain;4.name,${[...text].length}.${text};`;
    const bytes = Buffer.from(ins);
    const cut = bytes.indexOf(Buffer.from('東')) + 1; // inside the 3-byte character
    const cut2 = bytes.indexOf(Buffer.from('😀')) + 2; // inside the 4-byte character
    await lastStandin().sendSplit([bytes.subarray(0, cut), bytes.subarray(cut, cut2), bytes.subarray(cut2)], 30);
    const got = await conn.waitFor((i) => i[0] === 'name');
    // the browser counts UTF-16 units; the relay rewrote the length for the emoji
    expect(got).toEqual(['name', text]);
    expect(conn.messages.some((m) => m.includes(`${text.length}.${text}`))).toBe(true);
    expect(conn.ws.readyState).toBe(conn.ws.OPEN);
    conn.ws.close();
  });

  it('ends only the affected session on malformed data from guacd', async () => {
    const other = await open(bob);
    const victim = await open(alice);
    lastStandin().sendRaw('4.sync,3.12X;garbage');
    const err = await victim.waitFor((i) => i[0] === 'error');
    expect(err[2]).toBe('512');
    expect((await victim.closed).reason).toBe('512');
    other.send('0.,4.ping,1.1;');
    await other.waitFor((i) => i[0] === '' && i[2] === '1');
    expect(other.ws.readyState).toBe(other.ws.OPEN);
    other.ws.close();
  });

  it('ends the session with 768 on malformed data from the browser', async () => {
    const conn = await open();
    const s = lastStandin();
    conn.send('this is not guacamole');
    const err = await conn.waitFor((i) => i[0] === 'error');
    expect(err[2]).toBe('768');
    await conn.closed;
    await expect.poll(() => s.closed).toBe(true);
  });

  it('refuses handshake instructions from the browser mid-session', async () => {
    const conn = await open();
    conn.send('7.connect,13.VERSION_1_5_0,9.127.0.0.1;');
    expect((await conn.waitFor((i) => i[0] === 'error'))[2]).toBe('768');
  });

  it('ends one session cleanly when guacd dies mid-session; others carry on', async () => {
    const other = await open(bob);
    const victim = await open(alice);
    lastStandin().kill();
    const err = await victim.waitFor((i) => i[0] === 'error');
    expect(err[2]).toBe('512');
    expect(err[1]).toMatch(/closed the connection unexpectedly/);
    other.send('0.,4.ping,1.2;');
    await other.waitFor((i) => i[0] === '' && i[2] === '2');
    other.ws.close();
    const res = await alice.request(`${stack.url}/api/me`);
    expect(res.status).toBe(200);
  });

  it('closes guacd when the browser vanishes mid-frame', async () => {
    const conn = await open();
    const s = lastStandin();
    conn.ws.terminate();
    await expect.poll(() => s.closed, { timeout: 5000 }).toBe(true);
    await expect.poll(() => stack.gateway.live.size).toBe(0);
  });

  it('forwards guacd errors (RDP server unreachable) with the real status code, once', async () => {
    const conn = await open(alice, '', 'gone');
    const err = await conn.waitFor((i) => i[0] === 'error');
    expect(err[2]).toBe('519');
    await new Promise((r) => setTimeout(r, 300));
    expect(conn.instructions.filter((i) => i[0] === 'error')).toHaveLength(1);
    conn.ws.close();
  });

  it('refuses upgrades without a session, from a foreign origin, or with a bad token', async () => {
    const token = await launchToken(alice, stack.url, 'win11');
    await expect(openDesktop(alice, stack.url, stack.caPem, { token, cookie: null })).rejects.toMatchObject({ status: 401 });
    await expect(openDesktop(alice, stack.url, stack.caPem, { token, origin: 'https://evil.example' })).rejects.toMatchObject({ status: 403 });
    await expect(openDesktop(alice, stack.url, stack.caPem, { token: 'forged.token' })).rejects.toMatchObject({ status: 403 });
    // alice's token in bob's session
    const alices = await launchToken(alice, stack.url, 'win11');
    await expect(openDesktop(bob, stack.url, stack.caPem, { token: alices })).rejects.toMatchObject({ status: 403 });
    // replay
    const once = await launchToken(alice, stack.url, 'win11');
    const first = await openDesktop(alice, stack.url, stack.caPem, { token: once });
    await expect(openDesktop(alice, stack.url, stack.caPem, { token: once })).rejects.toMatchObject({ status: 403 });
    first.ws.close();
    // wrong subprotocol
    const t2 = await launchToken(alice, stack.url, 'win11');
    await expect(openDesktop(alice, stack.url, stack.caPem, { token: t2, protocol: 'chat' })).rejects.toMatchObject({ status: 400 });
    const denied = stack.audit.entries!.filter((e) => e.event === 'access-denied').map((e) => e.reason);
    expect(denied).toEqual(expect.arrayContaining(['websocket without a signed-in session', 'websocket origin https://evil.example not allowed', 'launch token bad_signature', 'launch token wrong_user', 'launch token replayed']));
  });

  it('batches many instructions into one WebSocket message', async () => {
    const conn = await open();
    const burst = Array.from({ length: 200 }, (_, i) => `3.nop;4.sync,${String(i).length}.${i};`).join('');
    lastStandin().sendRaw(burst);
    await conn.waitFor((i) => i[0] === 'sync' && i[1] === '199');
    const withBurst = conn.messages.filter((m) => m.includes('3.nop;'));
    expect(withBurst.length).toBeLessThan(10);
    conn.ws.close();
  });

  it('ends live desktops at sign-out', async () => {
    const carol = stack.client();
    await signIn(carol, stack.url, 'carol@contoso.example', 'carol');
    const conn = await open(carol);
    const { csrfToken } = (await (await carol.request(`${stack.url}/api/me`)).json()) as { csrfToken: string };
    await carol.request(`${stack.url}/auth/logout`, { method: 'POST', headers: { origin: stack.url, 'x-csrf-token': csrfToken, 'content-type': 'application/json' }, body: '{}' });
    const err = await conn.waitFor((i) => i[0] === 'error');
    expect(err).toEqual(['error', 'You signed out.', '769']);
    await conn.closed;
  });

  it('never writes the launch token or the session cookie to the log', () => {
    const all = stack.logLines.join('\n');
    const cookie = alice.cookie(stack.url, '__Host-drawbridge')!;
    expect(all).not.toContain(cookie);
    expect(all).not.toMatch(/token=/);
  });

  it('carries 8 MB of mixed-script clipboard text both ways, byte-exact (Cloudflare stops at 500 KB)', async () => {
    const conn = await open();
    const s = lastStandin();
    const unit = 'Zürich → 東京 · Ελληνικά · عربى · עברית · हिन्दी · 😀🚀 · ŁÓDŹ 서울\n';
    const text = unit.repeat(Math.ceil((8 * 1024 * 1024) / Buffer.byteLength(unit)));
    const bytes = Buffer.from(text, 'utf8');
    expect(bytes.length).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    // paste in: blobs as a browser sends them, each its own WebSocket message
    conn.send('9.clipboard,2.11,10.text/plain;');
    for (let off = 0; off < bytes.length; off += 6048) {
      const b64 = bytes.subarray(off, off + 6048).toString('base64');
      conn.send(`4.blob,2.11,${b64.length}.${b64};`);
    }
    conn.send('3.end,2.11;');
    await expect.poll(() => s.clipboardReceived.length, { timeout: 20_000 }).toBe(1);
    expect(Buffer.from(s.clipboardReceived[0]!, 'utf8').equals(bytes)).toBe(true);
    // copy out: what the desktop put on its clipboard reaches the browser intact
    const outStart = conn.instructions.length;
    s.sendClipboard(text);
    const clip = await conn.waitFor((i) => i[0] === 'clipboard', 20_000);
    await conn.waitFor((i) => i[0] === 'end' && i[1] === clip[1], 20_000);
    const got = Buffer.concat(conn.instructions.slice(outStart).filter((i) => i[0] === 'blob' && i[1] === clip[1]).map((i) => Buffer.from(i[2]!, 'base64')));
    expect(got.equals(bytes)).toBe(true);
    conn.ws.close();
  }, 60_000);
});
