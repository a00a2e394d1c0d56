import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TunnelAdminTarget } from '../tunnel/tunnel-cli.js';

/**
 * The demo builds its config in code, so `drawbridge tunnel … --demo` has no file to read: the demo
 * leaves this note in its state directory (no secrets: where its tunnel state is, and its URL).
 */
const FILE = 'demo-tunnels.json';

export function writeDemoTarget(stateDir: string, target: TunnelAdminTarget): void {
  // absolute: the tunnel commands may run from another directory
  const note: TunnelAdminTarget = { publicUrl: target.publicUrl, tunnels: { stateFile: path.resolve(target.tunnels.stateFile) } };
  writeFileSync(path.join(stateDir, FILE), JSON.stringify(note, null, 2) + '\n', { mode: 0o600 });
}

export class NoDemoHere extends Error {}

export function readDemoTarget(stateDir: string): TunnelAdminTarget {
  const file = path.join(stateDir, FILE);
  try {
    const t = JSON.parse(readFileSync(file, 'utf8')) as Partial<TunnelAdminTarget>;
    if (typeof t.publicUrl === 'string' && typeof t.tunnels?.stateFile === 'string') return { publicUrl: t.publicUrl, tunnels: { stateFile: t.tunnels.stateFile } };
  } catch {
    // no note, or not ours: said below
  }
  throw new NoDemoHere(`${file}: no demo has run with --state-dir ${stateDir} (start it with \`drawbridge demo\` or \`npm start\`, or give -c with a gateway config)`);
}
