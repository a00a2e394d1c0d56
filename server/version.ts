import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from './runtime/package-root.js';

/** The package version, from source (server/) or from the build (dist/server/). */
function readVersion(): string {
  const root = packageRoot();
  if (!root) return '0.0.0';
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

export const VERSION = readVersion();
