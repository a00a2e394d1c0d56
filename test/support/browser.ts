/// <reference lib="dom" />
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.resolve('test-artifacts');

/** Debian's chromium, never a downloaded one; playwright gives each launch a fresh profile. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', ...extraArgs],
    headless: true,
  });
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

/** Signs in through the development IdP's login page, as a person would, and lands on the launcher. */
export async function signInInBrowser(page: Page, gatewayUrl: string, idpOrigin: string, email: string, password: string): Promise<void> {
  await page.goto(gatewayUrl);
  await page.waitForURL((u) => u.origin === idpOrigin);
  await page.fill('#username', email);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(`${gatewayUrl}/`);
}

/** Distinct colours (sampled) on the largest canvas under `selector`: more than a few means a picture. */
export function canvasColours(page: Page, selector: string): Promise<number> {
  return page.evaluate((sel) => {
    const c = [...document.querySelectorAll<HTMLCanvasElement>(`${sel} canvas`)].sort((a, b) => b.width * b.height - a.width * a.height)[0];
    if (!c || !c.width) return 0;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < d.length; i += 64) seen.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
    return seen.size;
  }, selector);
}
