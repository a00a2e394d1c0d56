/** Time, swappable so reconnect schedules can be tested without waiting. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** A connection that stayed up this long starts the schedule again from baseMs. */
  resetAfterMs: number;
  /** 0..1; injectable so the schedule is testable. */
  random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 60_000, resetAfterMs: 30_000 };

/**
 * Exponential backoff with "equal jitter": the n-th retry waits between half and all of
 * min(max, base·2ⁿ), so many connectors cut off by the same gateway restart do not come back in
 * one wave, yet none retries sooner than half the nominal delay.
 */
export class Backoff {
  private attempt = 0;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions = DEFAULT_BACKOFF) {
    this.random = opts.random ?? Math.random;
  }

  get attempts(): number {
    return this.attempt;
  }

  nextDelayMs(): number {
    const nominal = Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(nominal / 2 + (this.random() * nominal) / 2);
  }

  /** Called when a connection ends: one that lived long enough was healthy, so start over. */
  connectionEnded(upForMs: number): void {
    if (upForMs >= this.opts.resetAfterMs) this.attempt = 0;
  }

  reset(): void {
    this.attempt = 0;
  }
}
