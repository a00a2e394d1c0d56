import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminSocketInUse, startAdminSocket } from '../../server/tunnel/admin-socket.js';

const handlers = { tunnels: () => ['first'], reload: () => ({}), metrics: () => '' };
const get = (file: string) =>
  new Promise<string>((resolve, reject) => {
    // no keep-alive: a pooled connection to the first server would outlive it
    const req = request({ socketPath: file, path: '/tunnels', agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });

/** The socket `tunnel list/revoke` reach the running gateway by: never taken from a live gateway. */
describe('the admin socket', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dbx-admin-'));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a live one is left alone; one left by a crash is taken over', async () => {
    const file = path.join(dir, 'tunnels.json.sock');
    const first = await startAdminSocket(file, handlers);
    await expect(startAdminSocket(file, { ...handlers, tunnels: () => ['second'] })).rejects.toBeInstanceOf(AdminSocketInUse);
    expect(await get(file)).toBe('["first"]');
    await first.close();

    // a process that dies without closing leaves its socket file behind, and nobody listening
    const crashed = spawnSync(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(file)}, () => process.exit(0))`]);
    expect(crashed.status).toBe(0);
    expect(existsSync(file)).toBe(true);
    const next = await startAdminSocket(file, { ...handlers, tunnels: () => ['next'] });
    expect(await get(file)).toBe('["next"]');
    await next.close();
  });
});
