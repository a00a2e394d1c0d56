#!/usr/bin/env node
// Long-running commands want node started with --initial-old-space-size=64 (server/runtime/heap-floor.ts
// says why). `env -S` could put it here, but busybox's env (Alpine) has no -S and the bin would not
// start at all; the Dockerfile and the service examples give it instead, and the commands log its absence.
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
