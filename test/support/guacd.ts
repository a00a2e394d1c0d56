import { spawn, spawnSync } from 'node:child_process';
import { freePort, waitForPort } from './free-port.js';
import { startGuacdStandin, type GuacdStandin } from './guacd-standin/index.js';

/**
 * A real Apache guacd when this machine has one (GUACD_HOST/GUACD_PORT, or `guacd` on PATH),
 * otherwise the protocol stand-in. Tests say which one they ran against.
 */
export type TestGuacd =
  | { kind: 'real'; host: string; port: number; describe: string; close(): Promise<void> }
  | { kind: 'standin'; host: string; port: number; describe: string; standin: GuacdStandin; close(): Promise<void> };

/** The `guacd` binary on PATH, if any. */
export function guacdBinary(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v guacd'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

/** Where a real guacd is: GUACD_HOST/GUACD_PORT, a `guacd` binary on PATH, or neither. */
function findRealGuacd(): { host: string; port: number } | { bin: string } | undefined {
  if (process.env.GUACD_HOST && process.env.GUACD_PORT) return { host: process.env.GUACD_HOST, port: Number(process.env.GUACD_PORT) };
  const bin = guacdBinary();
  return bin ? { bin } : undefined;
}

/** Why a test that needs a real guacd cannot run here, or undefined when it can. */
export function realGuacdUnavailable(): string | undefined {
  return findRealGuacd() ? undefined : 'no real guacd here (GUACD_HOST/GUACD_PORT or guacd on PATH)';
}

export async function startTestGuacd(opts: { holdUpstream?: boolean } = {}): Promise<TestGuacd> {
  const real = findRealGuacd();
  if (real && 'host' in real) {
    const { host, port } = real;
    return { kind: 'real', host, port, describe: `real guacd at ${host}:${port}`, close: async () => undefined };
  }
  if (real) {
    const bin = real.bin;
    const port = await freePort();
    const proc = spawn(bin, ['-f', '-b', '127.0.0.1', '-l', String(port), '-L', 'info'], { stdio: 'ignore' });
    await waitForPort(port);
    return {
      kind: 'real',
      host: '127.0.0.1',
      port,
      describe: `real guacd (${bin}) on 127.0.0.1:${port}`,
      async close() {
        if (proc.exitCode !== null) return;
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await new Promise((r) => proc.once('exit', r));
        clearTimeout(t);
      },
    };
  }
  const standin = await startGuacdStandin({ inactivityTimeoutMs: 60_000, holdUpstream: opts.holdUpstream });
  return { kind: 'standin', host: standin.host, port: standin.port, standin, describe: `guacd stand-in on ${standin.host}:${standin.port} (no real guacd here)`, close: () => standin.close() };
}
