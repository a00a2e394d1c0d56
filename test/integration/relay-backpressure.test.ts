import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchToken, openDesktop } from '../support/desktop-client.js';
import { startFloodGuacd, type FloodGuacd } from '../support/flood-guacd.js';
import { signIn } from '../support/http-client.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * guacamole-lite buffers without bound when a browser reads slower than guacd draws. Ours stops
 * reading guacd instead, so a slow or stuck browser costs a bounded amount of memory, and a
 * browser that stops reading altogether is cut off after the stall timeout.
 */
const HIGH_WATER = 2 << 20;

describe('relay back-pressure', () => {
  let flood: FloodGuacd;
  let stack: Stack;

  beforeAll(async () => {
    flood = await startFloodGuacd();
    stack = await startStack({
      guacd: { host: '127.0.0.1', port: flood.port },
      apps: [{ id: 'busy', name: 'Busy desktop', host: '127.0.0.1', port: 3389 }],
      gateway: { relayLimits: { highWaterBytes: HIGH_WATER, lowWaterBytes: HIGH_WATER / 4, stallTimeoutMs: 3000, maxPendingBytes: 1 << 20, pingIntervalMs: 60_000 } },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await flood?.close();
  });

  it('stops reading guacd while the browser is not reading, and resumes after', async () => {
    const c = stack.client();
    await signIn(c, stack.url, 'alice@contoso.example', 'alice');
    const conn = await openDesktop(c, stack.url, stack.caPem, { token: await launchToken(c, stack.url, 'busy') });
    await conn.waitFor((i) => i[0] === 'img');
    // the browser stops reading: its TCP window fills, then the gateway's
    const socket = (conn.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    await new Promise((r) => setTimeout(r, 1000));
    const stat = flood.stats.at(-1)!;
    const writtenWhilePaused = stat.written;
    await new Promise((r) => setTimeout(r, 1000));
    // guacd could write nothing more: the gateway stopped reading it
    expect(stat.written).toBe(writtenWhilePaused);
    expect(stat.fullCount).toBeGreaterThan(0);
    // what guacd got rid of is bounded by our high-water mark plus the kernel's socket buffers
    expect(stat.written).toBeLessThan(HIGH_WATER + 48 * 1024 * 1024);
    const received = conn.messages.length;
    socket.resume();
    await expect.poll(() => stat.written, { timeout: 5000 }).toBeGreaterThan(writtenWhilePaused + 10 * 1024 * 1024);
    expect(conn.messages.length).toBeGreaterThan(received);
    conn.ws.terminate();
  });

  it('cuts off a browser that stops reading for longer than the stall timeout', async () => {
    const c = stack.client();
    await signIn(c, stack.url, 'bob@contoso.example', 'bob');
    const conn = await openDesktop(c, stack.url, stack.caPem, { token: await launchToken(c, stack.url, 'busy') });
    await conn.waitFor((i) => i[0] === 'img');
    const before = stack.gateway.live.size;
    (conn.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    await expect.poll(() => stack.gateway.live.size, { timeout: 10_000 }).toBe(before - 1);
    const end = stack.audit.entries!.filter((e) => e.event === 'session-end').at(-1)!;
    expect(end.code).toBe(776);
    expect(String(end.reason)).toMatch(/drained nothing/);
    conn.ws.terminate();
  });
});
