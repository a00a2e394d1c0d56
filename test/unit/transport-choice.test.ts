import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SETTLED_FOR_MS, TransportChoice } from '../../server/connector/transport-choice.js';

const quiet = pino({ level: 'silent' });

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('TransportChoice', () => {
  it('auto dials direct, tries a WebSocket after a proxy-shaped refusal, and stays there for a while once it worked', () => {
    const time = clock();
    const c = new TransportChoice('auto', quiet, time);
    expect(c.current()).toBe('direct');
    expect(c.tryWebSocket('HTTP 400', 'switch')).toBe(true);
    // the retry is a WebSocket, but nothing is settled until it works
    expect(c.current()).toBe('direct');
    c.worked('websocket');
    expect(c.current()).toBe('websocket');
    expect(c.tryWebSocket('again', 'switch')).toBe(false);
    time.advance(SETTLED_FOR_MS - 1);
    expect(c.current()).toBe('websocket');
    // the path may have changed: direct gets another chance
    time.advance(1);
    expect(c.current()).toBe('direct');
    c.worked('direct');
    expect(c.current()).toBe('direct');
  });

  it('an ambiguous failure (hang-up, held upgrade) tries a WebSocket for that attempt only', () => {
    const c = new TransportChoice('auto', quiet, clock());
    expect(c.tryWebSocket('socket hang up', 'try')).toBe(true);
    c.worked('websocket');
    // a restarting gateway hangs up too: one lucky WebSocket does not move the connector off direct
    expect(c.current()).toBe('direct');
    // a proxy-shaped answer later, from another connection, still counts
    expect(c.tryWebSocket('socket hang up', 'try')).toBe(true);
    expect(c.tryWebSocket('HTTP 426', 'switch')).toBe(true);
    expect(c.tryWebSocket('socket hang up', 'try')).toBe(true);
    c.worked('websocket');
    expect(c.current()).toBe('websocket');
  });

  it('a WebSocket that fails too settles nothing: the next attempt dials direct again', () => {
    const c = new TransportChoice('auto', quiet, clock());
    expect(c.tryWebSocket('HTTP 400', 'switch')).toBe(true);
    // (the WebSocket attempt failed as well: the gateway may simply be down)
    expect(c.current()).toBe('direct');
    c.worked('direct');
    c.worked('websocket');
    // a WebSocket that comes up while direct works too is not a reason to switch
    expect(c.current()).toBe('direct');
  });

  it('a fixed transport never changes', () => {
    const d = new TransportChoice('direct', quiet);
    expect(d.tryWebSocket('HTTP 400', 'switch')).toBe(false);
    expect(d.current()).toBe('direct');
    const w = new TransportChoice('websocket', quiet);
    expect(w.current()).toBe('websocket');
    w.worked('websocket');
    expect(w.current()).toBe('websocket');
  });
});
