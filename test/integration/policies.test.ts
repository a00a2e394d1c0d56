import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchToken, openDesktop } from '../support/desktop-client.js';
import { startGuacdStandin, type GuacdStandin } from '../support/guacd-standin/index.js';
import { signIn, type HttpClient } from '../support/http-client.js';
import { startStack, type Stack } from '../support/stack.js';
import { startX224Responder } from '../support/x224-responder.js';

/**
 * Access policies with the development IdP's real users: alice (Desktop Admins + Engineering,
 * MFA), bob (Engineering, no MFA), carol (no groups).
 */
const ADMINS = '11111111-1111-4111-8111-111111111111';
const ENG = '22222222-2222-4222-8222-222222222222';

describe('access policies', () => {
  let standin: GuacdStandin;
  let rdp: Awaited<ReturnType<typeof startX224Responder>>;
  let stack: Stack;
  const clients: Record<string, HttpClient> = {};

  const apps = (rdpPort: number, engineeringAllowed = true) => [
    { id: 'admin', name: 'Admin', host: '127.0.0.1', port: rdpPort, policies: [{ name: 'admins', action: 'allow', include: [{ accessGroup: 'admins' }], purposeJustification: true }] },
    { id: 'eng', name: 'Engineering', host: '127.0.0.1', port: rdpPort, policies: [{ name: 'engineering', action: 'allow', include: [{ group: engineeringAllowed ? ENG : '99999999-9999-4999-8999-999999999999' }], dataControls: { clipboardPaste: false } }] },
    { id: 'short', name: 'Short sessions', host: '127.0.0.1', port: rdpPort, sessionDuration: '3s', policies: [{ name: 'all', action: 'allow', include: [{ everyone: true }] }] },
    { id: 'nobody', name: 'No policies', host: '127.0.0.1', port: rdpPort, policies: [] },
  ];
  const accessGroups = { admins: { include: [{ group: ADMINS }], require: [{ authMethod: 'mfa' }] } };

  beforeAll(async () => {
    standin = await startGuacdStandin({ inactivityTimeoutMs: 60_000 });
    rdp = await startX224Responder();
    stack = await startStack({ guacd: { host: standin.host, port: standin.port }, apps: apps(rdp.port), accessGroups, gateway: { liveRecheckMs: 300 } });
    for (const [name, pw] of [['alice', 'alice'], ['bob', 'bob'], ['carol', 'carol']]) {
      clients[name!] = stack.client();
      await signIn(clients[name!]!, stack.url, `${name}@contoso.example`, pw!);
    }
  });
  afterAll(async () => {
    await stack?.close();
    await standin?.close();
    await rdp?.close();
  });

  const tiles = async (who: string) => ((await (await clients[who]!.request(`${stack.url}/api/apps`)).json()) as { apps: Array<{ id: string; needsPurpose: boolean }> }).apps;
  const launch = async (who: string, app: string, body: unknown = {}) => {
    const c = clients[who]!;
    const { csrfToken } = (await (await c.request(`${stack.url}/api/me`)).json()) as { csrfToken: string };
    const res = await c.request(`${stack.url}/api/apps/${app}/launch`, { method: 'POST', headers: { origin: stack.url, 'x-csrf-token': csrfToken, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { token?: string; error?: { code: string; message: string } } };
  };

  it('shows each user exactly the tiles their policies allow', async () => {
    expect((await tiles('alice')).map((a) => [a.id, a.needsPurpose])).toEqual([
      ['admin', true],
      ['eng', false],
      ['short', false],
    ]);
    expect((await tiles('bob')).map((a) => a.id)).toEqual(['eng', 'short']);
    expect((await tiles('carol')).map((a) => a.id)).toEqual(['short']);
    const listed = stack.audit.entries!.filter((e) => e.event === 'launcher-list' && e.username === 'alice@contoso.example').at(-1)!;
    expect(listed).toMatchObject({ ip: '127.0.0.1', apps: ['admin (purpose_required)', 'eng', 'short'] });
  });

  it('refuses a launch with 403, a stable code, a reason a user may see, and an audit entry with the rule details', async () => {
    const r = await launch('bob', 'admin');
    expect(r.status).toBe(403);
    expect(r.body.error).toEqual({ code: 'access_denied', message: expect.stringMatching(/do not have access/) });
    expect(JSON.stringify(r.body)).not.toContain(ADMINS);
    const entry = stack.audit.entries!.filter((e) => e.event === 'launch' && e.result === 'denied').at(-1)!;
    expect(entry).toMatchObject({ username: 'bob@contoso.example', app: 'admin', decision: 'no_policy_matched', ip: '127.0.0.1' });
    expect(JSON.stringify(entry.reasons)).toContain('member of group');
    expect((await launch('carol', 'nobody')).status).toBe(403);
    // unknown apps and forbidden ones are refused alike
    expect((await launch('carol', 'does-not-exist')).status).toBe(404);
  });

  it('asks for a purpose, then records it', async () => {
    const first = await launch('alice', 'admin');
    expect(first.status).toBe(403);
    expect(first.body.error!.code).toBe('purpose_required');
    const ok = await launch('alice', 'admin', { purpose: 'Rotate the TLS certificate (CHG-1234)' });
    expect(ok.status).toBe(200);
    const entry = stack.audit.entries!.filter((e) => e.event === 'launch' && e.result === 'success').at(-1)!;
    expect(entry).toMatchObject({ app: 'admin', policy: 'admins', purpose: 'Rotate the TLS certificate (CHG-1234)' });
  });

  it('refuses the WebSocket upgrade for a denied user, even with a token minted for someone else', async () => {
    const token = await launchToken(clients.alice!, stack.url, 'eng');
    await expect(openDesktop(clients.carol!, stack.url, stack.caPem, { token })).rejects.toMatchObject({ status: 403 });
    const replay = await launchToken(clients.bob!, stack.url, 'eng');
    const conn = await openDesktop(clients.bob!, stack.url, stack.caPem, { token: replay });
    await expect(openDesktop(clients.bob!, stack.url, stack.caPem, { token: replay })).rejects.toMatchObject({ status: 403 });
    conn.ws.close();
  });

  it('enforces a data control at the gateway even when the browser ignores it', async () => {
    const conn = await openDesktop(clients.bob!, stack.url, stack.caPem, { token: await launchToken(clients.bob!, stack.url, 'eng') });
    await conn.waitFor((i) => i[0] === 'sync');
    const s = standin.sessions.at(-1)!;
    expect(s.connectArgs['disable-paste']).toBe('true');
    expect(s.connectArgs['disable-copy']).toBe('false');
    // a hand-written paste, as if our page's code were bypassed
    conn.send('9.clipboard,1.3,10.text/plain;');
    conn.send(`4.blob,1.3,${Buffer.from('secret').toString('base64').length}.${Buffer.from('secret').toString('base64')};`);
    conn.send('3.end,1.3;');
    const ack = await conn.waitFor((i) => i[0] === 'ack' && i[1] === '3');
    expect(ack[3]).toBe('771');
    conn.send('0.,4.ping,1.5;');
    await conn.waitFor((i) => i[0] === '' && i[2] === '5');
    expect(s.clipboardReceived).toEqual([]);
    // the microphone is off unless a policy allows it: an audio stream is refused at the gateway
    expect(s.connectArgs['enable-audio-input']).toBe('false');
    conn.send('5.audio,1.5,31.audio/L16;rate=44100,channels=1;');
    conn.send(`4.blob,1.5,8.AAAAAAAA;`);
    const micAck = await conn.waitFor((i) => i[0] === 'ack' && i[1] === '5');
    expect(micAck.slice(2)).toEqual(['The microphone is disabled by policy', '771']);
    conn.send('0.,4.ping,1.6;');
    await conn.waitFor((i) => i[0] === '' && i[2] === '6');
    expect(s.micBytes).toBe(0);
    conn.ws.close();
  });

  it('ends a live desktop within one re-check after a policy change (hot reload), with the reason', async () => {
    const conn = await openDesktop(clients.bob!, stack.url, stack.caPem, { token: await launchToken(clients.bob!, stack.url, 'eng') });
    await conn.waitFor((i) => i[0] === 'sync');
    const current = stack.gateway.config();
    const raw = { server: current.server, identity: current.identity, guacd: current.guacd, accessGroups, apps: apps(rdp.port, false) };
    // a file that fails validation is refused, and the old config stays in force
    expect(stack.gateway.reload({ ...raw, apps: [{ ...raw.apps[0], id: 'BAD ID' }] })).toBe(false);
    expect((await tiles('bob')).map((a) => a.id)).toEqual(['eng', 'short']);
    expect(stack.audit.entries!.filter((e) => e.event === 'config-reload').at(-1)).toMatchObject({ result: 'failure', reason: expect.stringContaining('apps[0].id') });
    expect(stack.gateway.reload(raw)).toBe(true);
    const err = await conn.waitFor((i) => i[0] === 'error', 3000);
    expect(err[2]).toBe('771');
    expect(err[1]).toMatch(/removed by a policy change/);
    expect((await tiles('bob')).map((a) => a.id)).toEqual(['short']);
    expect(stack.audit.entries!.some((e) => e.event === 'access-denied' && String(e.reason).startsWith('live session re-check'))).toBe(true);
  });

  it('ends a live desktop when the app session duration passes', async () => {
    const c = stack.client();
    await signIn(c, stack.url, 'carol@contoso.example', 'carol');
    const conn = await openDesktop(c, stack.url, stack.caPem, { token: await launchToken(c, stack.url, 'short') });
    await conn.waitFor((i) => i[0] === 'sync');
    const err = await conn.waitFor((i) => i[0] === 'error', 6000);
    expect(err[2]).toBe('769');
    expect(err[1]).toMatch(/sign in again/i);
    const again = await (async () => {
      const { csrfToken } = (await (await c.request(`${stack.url}/api/me`)).json()) as { csrfToken: string };
      return c.request(`${stack.url}/api/apps/short/launch`, { method: 'POST', headers: { origin: stack.url, 'x-csrf-token': csrfToken, 'content-type': 'application/json' }, body: '{}' });
    })();
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('reauth_required');
  });
});
