import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Backoff, type Clock } from '../../server/connector/backoff.js';
import { Supervisor, type SupervisedConnection } from '../../server/connector/supervisor.js';
import { ConnectionError } from '../../server/connector/connection-error.js';
import { MetricSet } from '../../server/metrics/prometheus.js';

/** A clock that moves only when the test says so. */
class FakeClock implements Clock {
  t = 0;
  timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private id = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.id;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => void (this.timers = this.timers.filter((x) => x.id !== h));
  advance(ms: number) {
    this.t += ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at)[0];
      if (!due) return;
      this.timers = this.timers.filter((x) => x !== due);
      due.fn();
    }
  }
}

describe('backoff schedule', () => {
  it('doubles from the base up to the cap, with jitter between half and all of the nominal delay', () => {
    const low = new Backoff({ baseMs: 1000, maxMs: 60_000, resetAfterMs: 30_000, random: () => 0 });
    const high = new Backoff({ baseMs: 1000, maxMs: 60_000, resetAfterMs: 30_000, random: () => 1 });
    const lows = Array.from({ length: 9 }, () => low.nextDelayMs());
    const highs = Array.from({ length: 9 }, () => high.nextDelayMs());
    expect(highs).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    expect(lows).toEqual(highs.map((h) => h / 2));
  });

  it('starts over after a connection that stayed up long enough, not after a short one', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 10_000, resetAfterMs: 5000, random: () => 1 });
    b.nextDelayMs();
    b.nextDelayMs();
    b.connectionEnded(1000);
    expect(b.nextDelayMs()).toBe(400);
    b.connectionEnded(6000);
    expect(b.nextDelayMs()).toBe(100);
  });
});

class FakeConnection extends EventEmitter implements SupervisedConnection {
  activeStreams = 0;
  upSince: number | undefined;
  rttMs = undefined;
  started = 0;
  constructor(readonly index: number) {
    super();
  }
  start() {
    this.started++;
  }
  up(now: number) {
    this.upSince = now;
    this.emit('up');
  }
  fail(err: ConnectionError) {
    this.emit('closed', err);
  }
  async drain() {
    this.emit('closed', new ConnectionError('draining', false));
  }
}

describe('supervisor', () => {
  const log = pino({ level: 'silent' });

  it('keeps N connections, each reconnecting on its own schedule', () => {
    const clock = new FakeClock();
    const made: FakeConnection[] = [];
    const sup = new Supervisor({ connections: 2, log, metrics: new MetricSet(), clock, backoff: { baseMs: 1000, maxMs: 8000, resetAfterMs: 30_000, random: () => 1 }, create: (i) => (made.push(new FakeConnection(i)), made.at(-1)!) });
    sup.start();
    expect(made.map((c) => c.index)).toEqual([0, 1]);
    made[0]!.up(0);
    made[1]!.up(0);
    expect(sup.upCount()).toBe(2);
    // connection 0 fails three times in a row: 1 s, 2 s, 4 s; connection 1 stays up throughout
    made[0]!.fail(new ConnectionError('reset', false));
    expect(sup.upCount()).toBe(1);
    clock.advance(999);
    expect(made).toHaveLength(2);
    clock.advance(1);
    expect(made).toHaveLength(3);
    made[2]!.fail(new ConnectionError('refused', false));
    clock.advance(1999);
    expect(made).toHaveLength(3);
    clock.advance(1);
    expect(made).toHaveLength(4);
    made[3]!.fail(new ConnectionError('refused', false));
    clock.advance(4000);
    expect(made).toHaveLength(5);
    expect(made.slice(2).every((c) => c.index === 0)).toBe(true);
    expect(sup.upCount()).toBe(1);
  });

  it('a permanent error (token refused) stops everything and is reported once', () => {
    const clock = new FakeClock();
    const made: FakeConnection[] = [];
    const sup = new Supervisor({ connections: 2, log, metrics: new MetricSet(), clock, create: (i) => (made.push(new FakeConnection(i)), made.at(-1)!) });
    const fatal: ConnectionError[] = [];
    sup.on('fatal', (e: ConnectionError) => fatal.push(e));
    sup.start();
    // slot 1 waits to retry when slot 0 learns the token is refused; after that, slot 1 ends too
    made[1]!.fail(new ConnectionError('reset', false));
    made[0]!.fail(new ConnectionError('token refused', true));
    clock.advance(120_000);
    expect(fatal.map((e) => e.message)).toEqual(['token refused']);
    expect(made).toHaveLength(2);
  });

  it('after a permanent error, a slot whose connection ends later is not reconnected either', () => {
    const clock = new FakeClock();
    const made: FakeConnection[] = [];
    const sup = new Supervisor({ connections: 2, log, metrics: new MetricSet(), clock, create: (i) => (made.push(new FakeConnection(i)), made.at(-1)!) });
    sup.start();
    made[0]!.fail(new ConnectionError('token refused', true));
    made[1]!.fail(new ConnectionError('reset', false));
    clock.advance(120_000);
    expect(made).toHaveLength(2);
  });

  it('stop() cancels pending reconnects', async () => {
    const clock = new FakeClock();
    const made: FakeConnection[] = [];
    const sup = new Supervisor({ connections: 1, log, metrics: new MetricSet(), clock, create: (i) => (made.push(new FakeConnection(i)), made.at(-1)!) });
    sup.start();
    made[0]!.fail(new ConnectionError('reset', false));
    await sup.stop(1000);
    clock.advance(120_000);
    expect(made).toHaveLength(1);
  });
});
