#!/usr/bin/env -S node --initial-old-space-size=64
// (the flag: server/runtime/heap-floor.ts says why; started as `node bin/drawbridge.js`, give it to node)
// The published entry runs the compiled CLI; a source checkout without a build runs the
// TypeScript through tsx so `npx drawbridge` works straight after `npm ci`.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/server/cli.js', import.meta.url));
if (existsSync(compiled)) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../server/cli.ts', import.meta.url).href);
}
