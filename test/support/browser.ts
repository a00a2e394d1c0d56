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

export interface CanvasStats {
  width: number;
  height: number;
  /** Distinct colours, sampled every fourth pixel: more than a few means a picture. */
  colours: number;
  /** Share of pixels that are not pure black. */
  nonBlack: number;
  hash: number;
}

/** Pixel statistics of the largest canvas under `selector` (optionally of a region), computed in the page. */
export function canvasStats(page: Page, selector = '#desktop', region?: { x: number; y: number; w: number; h: number }): Promise<CanvasStats> {
  return page.evaluate(
    ({ sel, r }) => {
      const canvases = [...document.querySelectorAll<HTMLCanvasElement>(`${sel} canvas`)];
      const c = canvases.sort((a, b) => b.width * b.height - a.width * a.height)[0];
      if (!c || !c.width) return { width: 0, height: 0, colours: 0, nonBlack: 0, hash: 0 };
      const ctx = c.getContext('2d')!;
      const x = r?.x ?? 0,
        y = r?.y ?? 0,
        w = Math.min(r?.w ?? c.width, c.width - x),
        h = Math.min(r?.h ?? c.height, c.height - y);
      const data = ctx.getImageData(x, y, w, h).data;
      const colours = new Set<number>();
      let nonBlack = 0;
      let hash = 0;
      for (let i = 0; i < data.length; i += 4) {
        const v = (data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!;
        if (i % 16 === 0) colours.add(v);
        if (v !== 0) nonBlack++;
        hash = (hash * 31 + v) | 0;
      }
      return { width: c.width, height: c.height, colours: colours.size, nonBlack: nonBlack / (w * h), hash };
    },
    { sel: selector, r: region },
  );
}

/** Distinct colours on the largest canvas under `selector`. */
export async function canvasColours(page: Page, selector: string): Promise<number> {
  return (await canvasStats(page, selector)).colours;
}

/** Clicks a desktop-page toolbar control wherever it is: in the toolbar, or in the More menu of a narrow window. */
export async function clickControl(page: Page, selector: string): Promise<void> {
  if (!(await page.isVisible(selector)) && (await page.isVisible('#toolbar-more'))) await page.click('#toolbar-more');
  await page.click(selector);
}
