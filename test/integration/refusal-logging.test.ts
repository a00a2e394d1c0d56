import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuacdStandin, type GuacdStandin } from '../support/guacd-standin/index.js';
import { launchToken, openDesktop } from '../support/desktop-client.js';
import { signIn } from '../support/http-client.js';
import { startStack, type Stack } from '../support/stack.js';
import { startX224Responder } from '../support/x224-responder.js';

/**
 * Anyone on the internet can make the gateway refuse them: a desktop upgrade without a sign-in, a
 * sign-in callback with a made-up code. Each refusal writes a log and an audit line, so past a limit
 * per address and 10 s the rest are answered as usual but counted instead, and one line says how
 * many. Only the logging is held back: a user at the same address (a NAT) still signs in and opens
 * a desktop, and refusals of a signed-in user are always logged one by one.
 */
describe('refusals before a sign-in, logged up to a limit per address', () => {
  const LIMIT = 5;
  let standin: GuacdStandin;
  let stack: Stack;
  let rdp: Awaited<ReturnType<typeof startX224Responder>>;
  let stackClosed = false;
  const logLines: string[] = [];

  beforeAll(async () => {
    standin = await startGuacdStandin({ inactivityTimeoutMs: 60_000 });
    rdp = await startX224Responder();
    stack = await startStack({
      guacd: { host: standin.host, port: standin.port },
      apps: [{ id: 'win11', name: 'Windows 11', host: rdp.host, port: rdp.port, rdp: { security: 'tls', ignoreCert: true } }],
      gateway: { refusalLimit: LIMIT },
      logLines,
    });
  });
  afterAll(async () => {
    if (!stackClosed) await stack?.close();
    await standin?.close();
    await rdp?.close();
  });

  it('answers every refusal, logs the first ones, still lets a user at that address in, and reports the count', async () => {
    const stranger = stack.client();
    const refusedUpgrades: number[] = [];
    for (let i = 0; i < 8; i++) refusedUpgrades.push(await openDesktop(stranger, stack.url, stack.caPem, { token: 'x', cookie: null }).then(() => 0, (e: { status: number }) => e.status));
    for (let i = 0; i < 3; i++) refusedUpgrades.push(await openDesktop(stranger, stack.url, stack.caPem, { token: 'x', origin: 'https://evil.example' }).then(() => 0, (e: { status: number }) => e.status));
    expect(refusedUpgrades).toEqual([...Array<number>(8).fill(401), ...Array<number>(3).fill(403)]);

    const failedSignIns: number[] = [];
    for (let i = 0; i < 8; i++) failedSignIns.push((await stack.client().request(`${stack.url}/auth/callback?code=made-up-${i}&state=made-up`)).status);
    expect(failedSignIns.every((s) => s >= 400 && s < 500)).toBe(true);

    const preSignIn = (e: { event: string; reason?: string }) => e.event === 'access-denied' && /^websocket (without a signed-in session|origin .* not allowed)$/.test(e.reason ?? '');
    const signInFailure = (e: { event: string; result: string; reason?: string }) => e.event === 'sign-in' && e.result === 'failure' && !/more failed sign-ins/.test(e.reason ?? '');
    expect(stack.audit.entries!.filter(preSignIn)).toHaveLength(LIMIT);
    expect(stack.audit.entries!.filter(signInFailure)).toHaveLength(LIMIT);
    // and the log: no other line per request gets past the limit (the error handler's 'request failed')
    const logged = logLines.map((l) => JSON.parse(l) as { level: number; msg: string; path?: string });
    expect(logged.filter((l) => l.msg === 'sign-in failed')).toHaveLength(LIMIT);
    expect(logged.filter((l) => l.level >= 40 && l.path === '/auth/callback')).toEqual([]);

    // the same address, a real user: signed in and given a desktop, with nothing held back
    const alice = stack.client();
    await signIn(alice, stack.url, 'alice@contoso.example', 'alice');
    const desktop = await openDesktop(alice, stack.url, stack.caPem, { token: await launchToken(alice, stack.url, 'win11') });
    await desktop.waitFor((i) => i[0] === 'sync');
    desktop.ws.close();
    expect(stack.audit.entries!.some((e) => e.event === 'sign-in' && e.result === 'success' && e.username === 'alice@contoso.example')).toBe(true);
    // a signed-in user's refusals are not counted away, however many came before
    for (let i = 0; i < LIMIT + 2; i++) await openDesktop(alice, stack.url, stack.caPem, { token: `forged-${i}` }).catch(() => undefined);
    expect(stack.audit.entries!.filter((e) => e.event === 'access-denied' && e.user && /^launch token /.test(e.reason ?? ''))).toHaveLength(LIMIT + 2);

    // what was held back is reported when the window ends, at the latest at shutdown
    stackClosed = true;
    await stack.close();
    const summaries = stack.audit.entries!.filter((e) => /after too many to log one by one/.test(e.reason ?? ''));
    expect(summaries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ event: 'access-denied', ip: '127.0.0.1', reason: expect.stringMatching(/^6 more desktop connections refused before a sign-in in 10 s/) }),
        expect.objectContaining({ event: 'sign-in', result: 'failure', ip: '127.0.0.1', reason: expect.stringMatching(/^3 more failed sign-ins in 10 s/) }),
      ]),
    );
    expect(summaries).toHaveLength(2);
  });
});
