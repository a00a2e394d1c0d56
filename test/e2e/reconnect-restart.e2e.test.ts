/// <reference lib="dom" />
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startGateway, type Gateway } from '../../server/gateway.js';
import { artifactPath, launchChromium, signInInBrowser } from '../support/browser.js';
import { startGuacdStandin, type GuacdStandin } from '../support/guacd-standin/index.js';
import { rdpServerUnavailable, startRdpServer, type RdpServer } from '../support/rdp-server.js';
import { startStack, testCa, type Stack } from '../support/stack.js';

/**
 * A gateway restart under an open desktop: the old gateway says it is shutting down, the page
 * shows "Reconnecting…" and keeps trying; the new gateway knows the sign-in (server.session.
 * stateFile), so the page gets a new launch and is back on the desktop without signing in again.
 */
const missing = rdpServerUnavailable();
if (missing) process.stderr.write(`SKIP restart e2e: ${missing}\n`);

describe.skipIf(Boolean(missing))('reconnect across a gateway restart', () => {
  let rdp: RdpServer;
  let standin: GuacdStandin;
  let stack: Stack;
  let browser: Browser;
  let page: Page;
  let second: Gateway | undefined;

  beforeAll(async () => {
    rdp = await startRdpServer({ width: 1024, height: 768 });
    standin = await startGuacdStandin({ inactivityTimeoutMs: 60_000 });
    const ca = testCa();
    stack = await startStack({
      guacd: standin,
      stateDir: ca.stateDir,
      server: { session: { stateFile: path.join(ca.stateDir, 'sessions.bin') } },
      apps: [{ id: 'lab', name: 'Lab', host: rdp.host, port: rdp.port, rdp: { security: 'any', ignoreCert: true } }],
    });
    browser = await launchChromium();
    page = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1000, height: 700 } })).newPage();
    await signInInBrowser(page, stack.url, stack.idp.origin, 'alice@contoso.example', 'alice');
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await second?.close();
    await stack?.close();
    await standin?.close();
    await rdp?.close();
  });

  it('shows reconnecting while the gateway is down and returns to the desktop without a new sign-in', async () => {
    await page.goto(`${stack.url}/desktop/lab`);
    await page.waitForSelector('#status[data-state="connected"]', { state: 'attached', timeout: 20_000 });
    const sessionsBefore = standin.sessions.length;
    const config = stack.gateway.config();
    await stack.gateway.close();
    await page.waitForSelector('#status[data-state="reconnecting"]', { state: 'attached', timeout: 10_000 });
    await page.screenshot({ path: artifactPath('restart-01-reconnecting.png') });
    // down for a moment, as a real restart would be
    await new Promise((r) => setTimeout(r, 1500));
    second = await startGateway({ config, log: pino({ level: 'silent' }), audit: stack.audit, env: {} });
    await page.waitForSelector('#status[data-state="connected"]', { state: 'attached', timeout: 30_000 });
    expect(page.url()).toBe(`${stack.url}/desktop/lab`);
    expect(standin.sessions.length).toBeGreaterThan(sessionsBefore);
    expect(second.live.list().filter((s) => s.app === 'lab')).toHaveLength(1);
    await page.screenshot({ path: artifactPath('restart-02-reconnected.png') });
  }, 90_000);
});
