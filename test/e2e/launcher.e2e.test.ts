/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { artifactPath, launchChromium } from '../support/browser.js';
import { startGuacdStandin, type GuacdStandin } from '../support/guacd-standin/index.js';
import { startStack, type Stack } from '../support/stack.js';
import { startX224Responder } from '../support/x224-responder.js';

/** Policies as people see them: tiles per user, deep links through sign-in, the purpose prompt. */
const ADMINS = '11111111-1111-4111-8111-111111111111';
const ENG = '22222222-2222-4222-8222-222222222222';

describe('launcher and policies in Chromium', () => {
  let standin: GuacdStandin;
  let rdp: Awaited<ReturnType<typeof startX224Responder>>;
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    standin = await startGuacdStandin({ inactivityTimeoutMs: 60_000 });
    rdp = await startX224Responder();
    const target = { host: rdp.host, port: rdp.port, rdp: { security: 'tls', ignoreCert: true } };
    stack = await startStack({
      guacd: { host: standin.host, port: standin.port },
      accessGroups: { admins: { include: [{ group: ADMINS }], require: [{ authMethod: 'mfa' }] } },
      apps: [
        { id: 'admin', name: 'Admin console', description: 'Break-glass access', icon: 'server', ...target, policies: [{ name: 'admins', action: 'allow', include: [{ accessGroup: 'admins' }], purposeJustification: true }] },
        { id: 'build', name: 'Build box', description: 'Engineering', icon: 'linux', ...target, policies: [{ name: 'eng', action: 'allow', include: [{ group: ENG }] }] },
        { id: 'ecole', name: 'École lab', description: 'Training', icon: 'windows', ...target, policies: [{ name: 'eng', action: 'allow', include: [{ group: ENG }] }] },
      ],
    });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await standin?.close();
    await rdp?.close();
  });

  async function signedInPage(user: string, path = '/'): Promise<Page> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 720 } });
    const page = await context.newPage();
    await page.goto(`${stack.url}${path}`);
    await page.waitForURL((u) => u.origin === stack.idp.origin);
    await page.fill('#username', `${user}@contoso.example`);
    await page.fill('#password', user);
    await page.click('button[type=submit]');
    await page.waitForURL((u) => u.origin === stack.url);
    return page;
  }

  const tileIds = (page: Page) => page.$$eval('.tile[data-app-id]', (els) => els.filter((e) => !e.closest('li')?.hidden).map((e) => e.getAttribute('data-app-id')));

  it('shows each user exactly the tiles they may open', async () => {
    const alice = await signedInPage('alice');
    await alice.waitForSelector('body[data-loaded="true"]');
    expect(await tileIds(alice)).toEqual(['admin', 'build', 'ecole']);
    expect(await alice.getAttribute('.tile[data-app-id="admin"]', 'data-needs-purpose')).toBe('true');
    await alice.screenshot({ path: artifactPath('launcher-alice.png') });
    const bob = await signedInPage('bob');
    await bob.waitForSelector('body[data-loaded="true"]');
    expect(await tileIds(bob)).toEqual(['build', 'ecole']);
    const carol = await signedInPage('carol');
    await carol.waitForSelector('body[data-loaded="true"]');
    expect(await tileIds(carol)).toEqual([]);
    expect(await carol.isVisible('#empty-state')).toBe(true);
    expect(await carol.textContent('#empty-state')).toMatch(/ask your administrator/i);
    await carol.screenshot({ path: artifactPath('launcher-carol-empty.png') });
    // search, accent-insensitive, from the keyboard
    await bob.fill('#app-search', 'ecole');
    expect(await tileIds(bob)).toEqual(['ecole']);
    await bob.fill('#app-search', 'nothing like this');
    expect(await bob.isVisible('#no-match')).toBe(true);
    for (const p of [alice, bob, carol]) await p.context().close();
  });

  it('keeps a deep link through the sign-in round trip', async () => {
    const page = await signedInPage('bob', '/apps/build');
    await page.waitForURL(`${stack.url}/desktop/build`);
    await page.waitForSelector('#status[data-state="connected"]', { state: 'attached', timeout: 20_000 });
    await page.screenshot({ path: artifactPath('deep-link-desktop.png') });
    await page.context().close();
  });

  it('asks for a purpose before opening, and the reason lands in the audit log', async () => {
    const page = await signedInPage('alice', '/apps/admin');
    await page.waitForURL(`${stack.url}/desktop/admin`);
    await page.waitForSelector('#purpose-form:not([hidden])');
    await page.screenshot({ path: artifactPath('purpose-prompt.png') });
    await page.fill('#purpose', 'Investigating INC-2041 (disk full on build agents)');
    await page.click('#purpose-submit');
    await page.waitForSelector('#status[data-state="connected"]', { state: 'attached', timeout: 20_000 });
    const entry = stack.audit.entries!.find((e) => e.event === 'launch' && e.result === 'success' && e.app === 'admin');
    expect(entry).toMatchObject({ username: 'alice@contoso.example', purpose: 'Investigating INC-2041 (disk full on build agents)', policy: 'admins' });
    await page.context().close();
  });
});
