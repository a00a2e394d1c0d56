/// <reference lib="dom" />
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { artifactPath, canvasColours, canvasStats, launchChromium, signInInBrowser } from '../support/browser.js';
import { startGuacdStandin, type GuacdStandin } from '../support/guacd-standin/index.js';
import { realGuacdUnavailable, startTestGuacd } from '../support/guacd.js';
import { rdpServerUnavailable, startRdpServer, type RdpServer } from '../support/rdp-server.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * Shadowing: an administrator joins a user's live session read-only (guacd's connection join),
 * the user sees that they are being viewed, the viewer's input never reaches the desktop, and the
 * administrator can end the session with a reason the user reads.
 */
const missing = rdpServerUnavailable();
if (missing) process.stderr.write(`SKIP shadowing e2e: ${missing}\n`);

describe.skipIf(Boolean(missing))('watching a live session (shadowing)', () => {
  let rdp: RdpServer;
  let standin: GuacdStandin;
  let stack: Stack;
  let browser: Browser;
  let user: Page;
  let admin: Page;

  beforeAll(async () => {
    rdp = await startRdpServer({ width: 1024, height: 768 });
    standin = await startGuacdStandin({ inactivityTimeoutMs: 60_000 });
    stack = await startStack({
      guacd: standin,
      admin: { policies: [{ name: 'carol administers', action: 'allow', include: [{ email: 'carol@contoso.example' }] }] },
      apps: [{ id: 'desk', name: 'Desk', host: rdp.host, port: rdp.port, rdp: { security: 'any', ignoreCert: true } }],
    });
    browser = await launchChromium();
    user = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 700 } })).newPage();
    admin = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 900 } })).newPage();
    await signInInBrowser(user, stack.url, stack.idp.origin, 'alice@contoso.example', 'alice');
    await signInInBrowser(admin, stack.url, stack.idp.origin, 'carol@contoso.example', 'carol');
  }, 90_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    process.stderr.write(stack.logLines.slice(-12).join('') + JSON.stringify(stack.audit.entries!.slice(-4).map((e) => [e.event, e.result, e.reason])) + '\n');
    await user?.screenshot({ path: artifactPath('failed-shadow-user.png') }).catch(() => undefined);
    await admin?.screenshot({ path: artifactPath('failed-shadow-admin.png') }).catch(() => undefined);
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await standin?.close();
    await rdp?.close();
  });

  it('the admin watches read-only; the user sees the indicator; the viewer cannot type', async () => {
    await user.goto(`${stack.url}/desktop/desk`);
    await user.waitForSelector('#status[data-state="connected"]', { state: 'attached', timeout: 20_000 });
    const owner = standin.sessions.at(-1)!;
    expect(await user.isVisible('#viewers')).toBe(false);

    await admin.goto(`${stack.url}/admin`);
    await admin.waitForSelector('#sessions tbody tr[data-id] button');
    await admin.click('#sessions tbody tr[data-id] button');
    await admin.waitForSelector('#watch[data-state="connected"]', { state: 'attached', timeout: 20_000 });
    const viewer = standin.sessions.at(-1)!;
    expect(viewer).not.toBe(owner);
    expect(viewer.connectArgs['read-only']).toBe('true');
    await expect.poll(() => canvasColours(admin, '#watch-display')).toBeGreaterThan(2);

    // the user is told, by name
    await user.waitForSelector('#viewers:not([hidden])', { timeout: 10_000 });
    expect(await user.textContent('#viewers')).toMatch(/Being viewed by carol@contoso\.example \(administrator\)/);
    await user.screenshot({ path: artifactPath('shadow-01-user-sees-indicator.png') });

    // the viewer types and clicks: nothing reaches the desktop
    const ownerKeys = owner.keys.length;
    await admin.click('#watch-display');
    await admin.keyboard.type('viewer was here');
    await admin.waitForTimeout(800);
    expect(viewer.keys).toEqual([]);
    expect(viewer.mouse).toEqual([]);
    expect(owner.keys.length).toBe(ownerKeys);
    await admin.screenshot({ path: artifactPath('shadow-02-admin-watching.png') });
  }, 90_000);

  it('the admin ends the session with a reason the user sees', async () => {
    await admin.fill('#end-reason', 'maintenance window starts now');
    await admin.click('#end-session');
    await user.waitForSelector('#status[data-state="ended"]', { state: 'attached', timeout: 10_000 });
    expect(await user.textContent('#status')).toMatch(/An administrator ended this session: maintenance window starts now/);
    await user.screenshot({ path: artifactPath('shadow-03-ended-by-admin.png') });
    expect(stack.audit.entries!.some((e) => e.event === 'admin' && e.username === 'carol@contoso.example' && String(e.reason).includes('maintenance window'))).toBe(true);
    // a non-admin cannot get a watch ticket
    const { signIn } = await import('../support/http-client.js');
    const bob = stack.client();
    await signIn(bob, stack.url, 'bob@contoso.example', 'bob');
    const me = (await (await bob.request(`${stack.url}/api/me`)).json()) as { csrfToken: string };
    const denied = await bob.request(`${stack.url}/api/admin/sessions/whatever/watch`, { method: 'POST', headers: { origin: stack.url, 'x-csrf-token': me.csrfToken, 'content-type': 'application/json' }, body: '{}' });
    expect(denied.status).toBe(403);
  }, 30_000);
});

/**
 * The same with a real Apache guacd when this machine has one: guacd joins the connection itself
 * and tells the owner (its own `msg`); the real desktop's pixels prove the viewer's typing went
 * nowhere (the xterm that would show it does not change).
 */
const noRealGuacd = realGuacdUnavailable();
if (noRealGuacd) process.stderr.write(`SKIP real-guacd shadowing: ${noRealGuacd}\n`);

describe.skipIf(Boolean(missing || noRealGuacd))('watching a live session through a real guacd', () => {
  it('joins read-only, the owner is told by guacd, and the viewer cannot type into the desktop', async () => {
    const guacd = await startTestGuacd();
    const rdp = await startRdpServer({ width: 1024, height: 768 });
    const stack = await startStack({
      guacd,
      admin: { policies: [{ name: 'carol administers', action: 'allow', include: [{ email: 'carol@contoso.example' }] }] },
      apps: [{ id: 'desk', name: 'Desk', host: rdp.host, port: rdp.port, rdp: { security: 'any', ignoreCert: true } }],
    });
    const browser = await launchChromium();
    try {
      const user = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 800 } })).newPage();
      const admin = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 900 } })).newPage();
      await signInInBrowser(user, stack.url, stack.idp.origin, 'alice@contoso.example', 'alice');
      await signInInBrowser(admin, stack.url, stack.idp.origin, 'carol@contoso.example', 'carol');
      await user.goto(`${stack.url}/desktop/desk`);
      await user.waitForSelector('#status[data-state="connected"]', { state: 'attached', timeout: 30_000 });
      await expect.poll(() => canvasColours(user, '#desktop'), { timeout: 30_000 }).toBeGreaterThan(3);
      await admin.goto(`${stack.url}/admin`);
      await admin.waitForSelector('#sessions tbody tr[data-id] button');
      await admin.click('#sessions tbody tr[data-id] button');
      await admin.waitForSelector('#watch[data-state="connected"]', { state: 'attached', timeout: 30_000 });
      await expect.poll(() => canvasColours(admin, '#watch-display'), { timeout: 30_000 }).toBeGreaterThan(3);
      await user.waitForSelector('#viewers:not([hidden])', { timeout: 15_000 });
      expect(await user.textContent('#viewers')).toMatch(/carol@contoso\.example \(administrator\)/);
      // the xterm (top left) would show typed text; hash that region of the owner's screen
      const regionHash = async () => (await canvasStats(user, '#desktop', { x: 0, y: 0, w: 700, h: 420 })).hash;
      const before = await regionHash();
      await admin.click('#watch-display');
      await admin.keyboard.type('viewer typing goes nowhere');
      await admin.keyboard.press('Enter');
      await admin.waitForTimeout(1500);
      expect(await regionHash()).toBe(before);
      await user.screenshot({ path: artifactPath('shadow-real-01-user.png') });
      await admin.screenshot({ path: artifactPath('shadow-real-02-admin.png') });
    } finally {
      await browser.close();
      await stack.close();
      await guacd.close();
      await rdp.close();
    }
  }, 120_000);
});
