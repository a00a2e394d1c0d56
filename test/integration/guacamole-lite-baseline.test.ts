import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';

/**
 * Why our relay replaces guacamole-lite on the data path: the same input our relay handles in
 * relay.test.ts ("survives a UTF-8 character split across TCP reads") kills a stock
 * guacamole-lite process outright, with every user's session in it.
 */
describe('stock guacamole-lite (the library we replaced on the data path)', () => {
  it('dies when guacd splits a UTF-8 character across two TCP reads', async () => {
    const child = spawn(process.execPath, [path.resolve('test/support/guacamole-lite-child.cjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const ready = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        const line = d.toString().split('\n').find((l) => l.startsWith('READY '));
        if (line) resolve(line);
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${stderr}`)));
    });
    const [, port, token] = ready.trim().split(' ');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?token=${token}`, 'guacamole');
    ws.on('error', () => undefined);
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => (child.kill('SIGKILL'), resolve(-1)), 10_000);
      child.once('exit', (c) => (clearTimeout(t), resolve(c)));
    });
    expect(code).not.toBe(0);
    expect(code).not.toBe(-1);
    expect(stderr).toMatch(/Error/);
  });
});
