import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './free-port.js';
import { ntHash } from './nt-hash.js';

/**
 * A real RDP server from Debian: freerdp-shadow-cli shadowing an Xvfb display with an xterm (so
 * typed text shows) and a ticking xclock (so the picture changes). `-auth` is required even
 * though its help says otherwise; without it every login is rejected via PAM.
 */
export interface RdpServer {
  host: string;
  port: number;
  display: string;
  width: number;
  height: number;
  close(): Promise<void>;
}

const NEEDED = ['Xvfb', 'freerdp-shadow-cli', 'xclock', 'xterm'];

/** Why the real RDP server cannot run here, or undefined when it can. */
export function rdpServerUnavailable(): string | undefined {
  const missing = NEEDED.filter((bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0);
  return missing.length ? `missing ${missing.join(', ')} (apt-get install freerdp2-shadow-x11 xvfb x11-apps xterm)` : undefined;
}

/** Whether the X server that wrote this lock file is still running. */
function lockHolderAlive(lock: string): boolean {
  try {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive but not ours
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A display number nobody uses. An Xvfb that died without cleaning up (killed, a crashed run)
 * leaves its lock and socket behind; those are reclaimed, or displays run out after enough runs.
 */
function freeDisplay(): number {
  for (let n = 90; n < 200; n++) {
    const lock = `/tmp/.X${n}-lock`;
    const sock = `/tmp/.X11-unix/X${n}`;
    if (existsSync(lock) && lockHolderAlive(lock)) continue;
    rmSync(lock, { force: true });
    rmSync(sock, { force: true });
    return n;
  }
  throw new Error('no free X display');
}

export interface RdpServerOptions {
  width?: number;
  height?: number;
  /** Where the RDP server listens; default 127.0.0.1 on a free port. */
  bindAddress?: string;
  port?: number;
  /** Prefix for the RDP server's command line, e.g. ['ip', 'netns', 'exec', NS]. */
  wrap?: string[];
  /** Replaces the wait for the port (which cannot see into a namespace). */
  waitReady?(host: string, port: number): Promise<void>;
  /**
   * Require NLA with this one account (checked against a SAM file), so a client without the
   * password is asked for it: guacd's `required`. Without it, logins need no credentials.
   */
  nla?: { username: string; password: string };
}

export async function startRdpServer(opts: RdpServerOptions = {}): Promise<RdpServer> {
  const width = opts.width ?? 1280;
  const height = opts.height ?? 800;
  const n = freeDisplay();
  const display = `:${n}`;
  const procs: ChildProcess[] = [];
  const cleanups: Array<() => void> = [];
  const start = (cmd: string, args: string[]) => {
    const p = spawn(cmd, args, { env: { ...process.env, DISPLAY: display }, stdio: 'ignore' });
    procs.push(p);
    return p;
  };
  const close = async () => {
    // SIGTERM first, so Xvfb removes its lock and socket; SIGKILL whatever is still there shortly after
    for (const p of procs.reverse()) if (p.exitCode === null) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
    for (const c of cleanups.splice(0)) c();
  };
  try {
    start('Xvfb', [display, '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp']);
    const deadline = Date.now() + 10_000;
    while (!existsSync(`/tmp/.X11-unix/X${n}`)) {
      if (Date.now() > deadline) throw new Error('Xvfb did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    // cat, not a shell: tests type into this window, and typed text must never run as a command
    start('xterm', ['-geometry', '100x30+20+20', '-fa', 'Monospace', '-fs', '14', '-bg', '#102030', '-fg', '#e0f0ff', '-e', 'cat']);
    start('xclock', ['-update', '1', '-geometry', '200x200+1000+40']);
    const host = opts.bindAddress ?? '127.0.0.1';
    const port = opts.port ?? (await freePort());
    const wrap = opts.wrap ?? [];
    // -auth turns off the server's own PAM check only; NLA still checks the SAM file (off by
    // default in freerdp-shadow 2.x, whatever its help says, hence /sec:nla)
    const shadow = ['freerdp-shadow-cli', `/port:${port}`, `/bind-address:${host}`, '-auth'];
    if (opts.nla) {
      const dir = mkdtempSync(path.join(tmpdir(), 'dbx-sam-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const sam = path.join(dir, 'SAM');
      writeFileSync(sam, `${opts.nla.username}:::${ntHash(opts.nla.password)}:::\n`, { mode: 0o600 });
      shadow.push('/sec:nla', `/sam-file:${sam}`);
    }
    start(wrap[0] ?? shadow[0]!, [...wrap.slice(1), ...(wrap.length ? shadow : shadow.slice(1))]);
    await (opts.waitReady ? opts.waitReady(host, port) : waitForPort(port, host, 15_000));
    return { host, port, display, width, height, close };
  } catch (err) {
    await close();
    throw err;
  }
}
