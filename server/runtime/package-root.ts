import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory holding Drawbridge's package.json, found by walking up from this module. The same
 * code runs from the source tree (server/…, through tsx) and from the build (dist/server/…), one
 * level deeper, so paths written relative to a module are right in only one of the two.
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string | undefined {
  for (let dir = path.dirname(from); ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file) && isOurs(file)) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

function isOurs(file: string): boolean {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === 'drawbridge';
  } catch {
    return false;
  }
}
