import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const webRoot = fileURLToPath(new URL('.', import.meta.url));
const page = (name: string) => fileURLToPath(new URL(name, import.meta.url));

export default defineConfig({
  root: webRoot,
  // Pages are served from nested paths such as /desktop/<appId>, so asset
  // URLs must be absolute.
  base: '/',
  publicDir: 'public',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    // The polyfill is an inline <script>, which the server's CSP
    // (script-src 'self') would block.
    modulePreload: { polyfill: false },
    // Keep every asset a real file: data: URIs for fonts/scripts would fall
    // foul of the CSP, and small images gain nothing from inlining here.
    assetsInlineLimit: 0,
    cssCodeSplit: true,
    rolldownOptions: {
      input: {
        index: page('index.html'),
        desktop: page('desktop.html'),
        'signed-out': page('signed-out.html'),
        admin: page('admin.html'),
      },
    },
  },
});
