/// <reference lib="dom" />
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { artifactPath, canvasColours, canvasStats, launchChromium, signInInBrowser } from '../support/browser.js';
import { startGuacdStandin, type GuacdStandin } from '../support/guacd-standin/index.js';
import { realGuacdUnavailable, startTestGuacd } from '../support/guacd.js';
import { signIn } from '../support/http-client.js';
import { rdpServerUnavailable, startRdpServer, type RdpServer } from '../support/rdp-server.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * Session recording: a policy with recordSessions makes guacd write the session (recording-path,
 * a name with time, user and app; here the stand-in, whose screen changes every second, writes it as
 * guacd does); the gateway indexes it; only admins (admin.policies) may fetch it; the admin page
 * plays it back in Chromium with seek and speed. `writer: gateway` records in the relay instead.
 */
const missing = rdpServerUnavailable();
if (missing) process.stderr.write(`SKIP recording e2e: ${missing}\n`);

describe.skipIf(Boolean(missing))('session recording and playback', () => {
  let rdp: RdpServer;
  let standin: GuacdStandin;
  let stack: Stack;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    rdp = await startRdpServer({ width: 1024, height: 768 });
    standin = await startGuacdStandin({ inactivityTimeoutMs: 60_000 });
    stack = await startStack({
      guacd: standin,
      admin: { policies: [{ name: 'alice administers', action: 'allow', include: [{ email: 'alice@contoso.example' }] }] },
      apps: [
        {
          id: 'rec-desk',
          name: 'Recorded desk',
          host: rdp.host,
          port: rdp.port,
          rdp: { security: 'any', ignoreCert: true },
          policies: [{ name: 'recorded (test)', action: 'allow', include: [{ everyone: true }], recordSessions: true }],
        },
      ],
    });
    browser = await launchChromium();
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 800 } });
    page = await context.newPage();
    page.on('pageerror', (err) => process.stderr.write(`page error: ${err.message}\n`));
    page.on('console', (m) => m.type() === 'error' && process.stderr.write(`console: ${m.text()}\n`));
    await signInInBrowser(page, stack.url, stack.idp.origin, 'alice@contoso.example', 'alice');
  }, 90_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') process.stderr.write(`player: ${JSON.stringify(await page?.evaluate(() => ({ ...document.querySelector<HTMLElement>('#player')?.dataset, pos: document.querySelector('#position')?.textContent })).catch(() => undefined))}\n`);
    if (ctx.task.result?.state === 'fail') await page?.screenshot({ path: artifactPath(`failed-recording-${ctx.task.name.replace(/\W+/g, '-')}.png`) }).catch(() => undefined);
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await standin?.close();
    await rdp?.close();
  });

  it('records a session the policy says to record, and indexes it', async () => {
    await page.goto(`${stack.url}/desktop/rec-desk`);
    await page.waitForSelector('#status[data-state="connected"]', { state: 'attached', timeout: 20_000 });
    await page.mouse.click(300, 300);
    await page.keyboard.type('recorded words');
    await page.waitForTimeout(3000);
    await page.click('#disconnect');
    await page.waitForSelector('#status[data-state="ended"]', { state: 'attached' });
    const audit = stack.audit.entries!.filter((e) => e.event === 'session-start' && e.app === 'rec-desk');
    expect(audit.at(-1)).toMatchObject({ result: 'success', recorded: true });
    const index = path.join(stack.stateDir, 'recordings', 'index.jsonl');
    await expect.poll(() => existsSync(index)).toBe(true);
    const entry = JSON.parse(readFileSync(index, 'utf8').trim().split('\n').at(-1)!) as { file: string; username: string; app: string; durationMs: number; bytes: number };
    expect(entry).toMatchObject({ username: 'alice@contoso.example', app: 'rec-desk' });
    expect(entry.durationMs).toBeGreaterThan(2500);
    // written by guacd where the gateway asked, named by time, user and app
    expect(entry.file).toMatch(/^\d{4}-\d\d-\d\d\/\d{4}-\d\d-\d\dT[\d-]+Z-alice@contoso\.example-rec-desk-[0-9a-f-]+\.guac$/);
    const standinSession = standin.sessions.find((x) => x.connectArgs['recording-name'] === path.basename(entry.file));
    expect(standinSession?.connectArgs['recording-path']).toBe(path.join(stack.stateDir, 'recordings', path.dirname(entry.file)));
    expect(standinSession?.connectArgs['create-recording-path']).toBe('true');
    const data = readFileSync(path.join(stack.stateDir, 'recordings', entry.file), 'utf8');
    expect(data).toMatch(/4\.sync,/);
    expect(data.length).toBeGreaterThan(1000);
  }, 60_000);

  it('lets only admins list and fetch recordings', async () => {
    const bob = stack.client();
    await signIn(bob, stack.url, 'bob@contoso.example', 'bob');
    const denied = await bob.request(`${stack.url}/api/admin/recordings`);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe('admin_only');
    expect(stack.audit.entries!.some((e) => e.event === 'access-denied' && e.username === 'bob@contoso.example' && String(e.reason).startsWith('admin'))).toBe(true);
    const alice = stack.client();
    await signIn(alice, stack.url, 'alice@contoso.example', 'alice');
    const list = (await (await alice.request(`${stack.url}/api/admin/recordings`)).json()) as { recordings: Array<{ id: string }> };
    expect(list.recordings).toHaveLength(1);
    const file = await alice.request(`${stack.url}/api/admin/recordings/${list.recordings[0]!.id}/file`);
    expect(file.status).toBe(200);
    expect((await bob.request(`${stack.url}/api/admin/recordings/${list.recordings[0]!.id}/file`)).status).toBe(403);
    expect((await alice.request(`${stack.url}/api/admin/recordings/nope/file`)).status).toBe(404);
  });

  it('plays the recording back in the admin page: non-blank at a seek position, faster at 4×', async () => {
    await page.goto(`${stack.url}/admin`);
    await page.waitForSelector('#recordings tbody tr[data-id] button');
    await page.screenshot({ path: artifactPath('recording-01-admin-list.png') });
    await page.click('#recordings tbody tr[data-id] button');
    await page.waitForSelector('#player[data-state="ready"]', { timeout: 20_000 });
    const duration = Number(await page.getAttribute('#seek', 'max'));
    expect(duration).toBeGreaterThan(2000);
    // seek to the middle
    const target = Math.round(duration / 2);
    const snapped = await page.$eval('#seek', (el, v) => {
      const input = el as HTMLInputElement;
      input.value = String(v);
      input.dispatchEvent(new Event('input', { bubbles: true }));
      return input.value; // the range snaps to its step
    }, target);
    await page.waitForSelector(`#player[data-seeked="${snapped}"]`, { state: 'attached', timeout: 10_000 });
    // the seek callback comes when the frames are replayed; the display paints them just after
    await expect.poll(async () => (await canvasStats(page, '#player-display')).colours, { timeout: 5000 }).toBeGreaterThan(2);
    const stats = await canvasStats(page, '#player-display');
    expect(stats.nonBlack).toBeGreaterThan(0.05);
    await page.screenshot({ path: artifactPath('recording-02-playback-seeked.png') });
    // 4×: the rest of the recording plays in about a quarter of its length
    await page.selectOption('#speed', '4');
    const started = Date.now();
    await page.click('#play');
    await page.waitForSelector('#player[data-state="paused"]', { state: 'attached', timeout: duration });
    expect(Date.now() - started).toBeLessThan((duration - Number(snapped)) / 2 + 1000);
    expect(Number(await page.inputValue('#seek'))).toBe(duration);
    await page.screenshot({ path: artifactPath('recording-03-played-to-the-end.png') });
  }, 60_000);
});

describe.skipIf(Boolean(missing))('session recording written by the gateway (writer: gateway)', () => {
  it('records what the browser received, byte-counted in the index, with no guacd recording asked for', async () => {
    const rdp = await startRdpServer({ width: 800, height: 600 });
    const standin = await startGuacdStandin({ inactivityTimeoutMs: 60_000 });
    const stack = await startStack({
      guacd: standin,
      recordings: { writer: 'gateway' },
      apps: [{ id: 'rec-desk', name: 'Recorded', host: rdp.host, port: rdp.port, rdp: { security: 'any', ignoreCert: true }, policies: [{ name: 'recorded', action: 'allow', include: [{ everyone: true }], recordSessions: true }] }],
    });
    const browser = await launchChromium();
    try {
      const p = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1000, height: 700 } })).newPage();
      await signInInBrowser(p, stack.url, stack.idp.origin, 'alice@contoso.example', 'alice');
      await p.goto(`${stack.url}/desktop/rec-desk`);
      await p.waitForSelector('#status[data-state="connected"]', { state: 'attached', timeout: 20_000 });
      await p.waitForTimeout(1500);
      await p.click('#disconnect');
      const index = path.join(stack.stateDir, 'recordings', 'index.jsonl');
      await expect.poll(() => existsSync(index)).toBe(true);
      const entry = JSON.parse(readFileSync(index, 'utf8').trim().split('\n').at(-1)!) as { file: string; bytes: number };
      const data = readFileSync(path.join(stack.stateDir, 'recordings', entry.file), 'utf8');
      expect(data.length).toBe(entry.bytes);
      expect(data).toMatch(/4\.sync,/);
      expect(standin.sessions.every((x) => !x.connectArgs['recording-path'])).toBe(true);
    } finally {
      await browser.close();
      await stack.close();
      await standin.close();
      await rdp.close();
    }
  }, 60_000);
});

/** The same recording path with a real Apache guacd, when this machine has one: guacd writes real desktop frames. */
const noRealGuacd = realGuacdUnavailable();
if (noRealGuacd) process.stderr.write(`SKIP real-guacd recording: ${noRealGuacd}\n`);

describe.skipIf(Boolean(missing || noRealGuacd))('session recording with a real guacd', () => {
  it('records a real desktop and plays it back non-blank', async () => {
    const guacd = await startTestGuacd();
    const rdp = await startRdpServer({ width: 1024, height: 768 });
    const stack = await startStack({
      guacd,
      admin: { policies: [{ name: 'alice administers', action: 'allow', include: [{ email: 'alice@contoso.example' }] }] },
      apps: [{ id: 'rec-desk', name: 'Recorded', host: rdp.host, port: rdp.port, rdp: { security: 'any', ignoreCert: true }, policies: [{ name: 'recorded', action: 'allow', include: [{ everyone: true }], recordSessions: true }] }],
    });
    const browser = await launchChromium();
    try {
      const p = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 850 } })).newPage();
      await signInInBrowser(p, stack.url, stack.idp.origin, 'alice@contoso.example', 'alice');
      await p.goto(`${stack.url}/desktop/rec-desk`);
      await p.waitForSelector('#status[data-state="connected"]', { state: 'attached', timeout: 30_000 });
      await expect.poll(() => canvasColours(p, '#desktop'), { timeout: 30_000 }).toBeGreaterThan(3);
      await p.mouse.click(300, 300);
      await p.keyboard.type('recorded on a real desktop');
      await p.waitForTimeout(2500);
      await p.click('#disconnect');
      const index = path.join(stack.stateDir, 'recordings', 'index.jsonl');
      await expect.poll(() => existsSync(index)).toBe(true);
      // guacd itself wrote the file the gateway named (the gateway wrote nothing: no tap)
      const entry = JSON.parse(readFileSync(index, 'utf8').trim().split('\n').at(-1)!) as { file: string; bytes: number };
      expect(entry.file).toMatch(/-alice@contoso\.example-rec-desk-/);
      expect(entry.bytes).toBe(0);
      expect(readFileSync(path.join(stack.stateDir, 'recordings', entry.file)).length).toBeGreaterThan(10_000);
      await p.goto(`${stack.url}/admin`);
      await p.waitForSelector('#recordings tbody tr[data-id] button');
      await p.click('#recordings tbody tr[data-id] button');
      await p.waitForSelector('#player[data-state="ready"]', { timeout: 30_000 });
      const duration = Number(await p.getAttribute('#seek', 'max'));
      // the last frame: a real desktop sends frames only when something changes, so an earlier
      // position may fall before the first full paint
      const target = String(duration);
      await p.$eval('#seek', (el, v) => {
        (el as HTMLInputElement).value = v;
        el.dispatchEvent(new Event('input', { bubbles: true }));
      }, target);
      await p.waitForSelector(`#player[data-seeked="${target}"]`, { state: 'attached', timeout: 15_000 });
      // the seek callback comes when the frames are replayed; the display paints them just after
      await expect.poll(() => canvasColours(p, '#player-display'), { timeout: 5000 }).toBeGreaterThan(3);
      await p.screenshot({ path: artifactPath('recording-real-guacd-playback.png') });
    } finally {
      await browser.close();
      await stack.close();
      await guacd.close();
      await rdp.close();
    }
  }, 120_000);
});
