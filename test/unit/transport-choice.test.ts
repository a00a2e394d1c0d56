import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { TransportChoice } from '../../server/connector/transport-choice.js';

const quiet = pino({ level: 'silent' });

describe('TransportChoice', () => {
  it('auto dials direct, tries a WebSocket after a failed direct upgrade, and stays there once it worked', () => {
    const c = new TransportChoice('auto', quiet);
    expect(c.current()).toBe('direct');
    expect(c.tryWebSocket('HTTP 400')).toBe(true);
    // the retry is a WebSocket, but nothing is settled until it works
    expect(c.current()).toBe('direct');
    c.worked('websocket');
    expect(c.current()).toBe('websocket');
    expect(c.tryWebSocket('again')).toBe(false);
  });

  it('a WebSocket that fails too settles nothing: the next attempt dials direct again', () => {
    const c = new TransportChoice('auto', quiet);
    expect(c.tryWebSocket('HTTP 502')).toBe(true);
    // (the WebSocket attempt failed as well: the gateway may simply be down)
    expect(c.current()).toBe('direct');
    c.worked('direct');
    c.worked('websocket');
    // a WebSocket that comes up while direct works too is not a reason to switch
    expect(c.current()).toBe('direct');
  });

  it('a fixed transport never changes', () => {
    const d = new TransportChoice('direct', quiet);
    expect(d.tryWebSocket('HTTP 400')).toBe(false);
    expect(d.current()).toBe('direct');
    const w = new TransportChoice('websocket', quiet);
    expect(w.current()).toBe('websocket');
    w.worked('websocket');
    expect(w.current()).toBe('websocket');
  });
});
