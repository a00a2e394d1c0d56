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
    expect(c.tryWebSocket('HTTP 400')).toBe(true);
    // the retry is a WebSocket, but nothing is settled until it works
    expect(c.current()).toBe('direct');
    c.worked('websocket', 'switch');
    expect(c.current()).toBe('websocket');
    expect(c.tryWebSocket('again')).toBe(false);
    time.advance(SETTLED_FOR_MS - 1);
    expect(c.current()).toBe('websocket');
    // a connection dialled over the WebSocket because it was settled does not extend the hour
    c.worked('websocket', 'no');
    // the path may have changed: direct gets another chance
    time.advance(1);
    expect(c.current()).toBe('direct');
    c.worked('direct', 'no');
    expect(c.current()).toBe('direct');
  });

  it('an ambiguous failure (hang-up, held upgrade) tries a WebSocket for that attempt only', () => {
    const c = new TransportChoice('auto', quiet, clock());
    expect(c.tryWebSocket('socket hang up')).toBe(true);
    c.worked('websocket', 'try');
    // a restarting gateway hangs up too: one lucky WebSocket does not move the connector off direct
    expect(c.current()).toBe('direct');
    // a proxy-shaped answer on another connection still counts once its own WebSocket works
    expect(c.tryWebSocket('HTTP 426')).toBe(true);
    c.worked('websocket', 'switch');
    expect(c.current()).toBe('websocket');
  });

  it('a WebSocket that fails too settles nothing: the next attempt dials direct again', () => {
    const c = new TransportChoice('auto', quiet, clock());
    expect(c.tryWebSocket('HTTP 400')).toBe(true);
    // (the WebSocket attempt failed as well: the gateway may simply be down)
    expect(c.current()).toBe('direct');
    c.worked('direct', 'no');
    c.worked('websocket', 'no');
    // a WebSocket that comes up while direct works too is not a reason to switch
    expect(c.current()).toBe('direct');
  });

  it('a fixed transport never changes', () => {
    const d = new TransportChoice('direct', quiet);
    expect(d.tryWebSocket('HTTP 400')).toBe(false);
    expect(d.current()).toBe('direct');
    const w = new TransportChoice('websocket', quiet);
    expect(w.current()).toBe('websocket');
    w.worked('websocket', 'switch');
    expect(w.current()).toBe('websocket');
  });
});
