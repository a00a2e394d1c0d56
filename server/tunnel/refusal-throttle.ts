/**
 * Refused connector upgrades, counted per client address. The connectors' door is open to the
 * internet and each refusal writes a log and an audit line: past `limit` refusals in a window, an
 * address gets 429 for the rest of it without a line each, and one line then says how many were
 * answered so. Legitimate connectors are refused rarely (a revoked token stops them), and retry a
 * 429 later.
 */
export class RefusalThrottle {
  private readonly byAddress = new Map<string, { since: number; refused: number; quiet: number }>();
  private readonly sweep: NodeJS.Timeout;

  constructor(
    /** Called once per address and window in which refusals went unlogged. */
    private readonly onQuietened: (address: string, count: number, windowMs: number) => void,
    private readonly limit = 20,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {
    this.sweep = setInterval(() => this.flush(), windowMs);
    this.sweep.unref();
  }

  /** Whether an upgrade from this address is answered 429 unheard, without looking at it. */
  throttled(address: string): boolean {
    const e = this.current(address);
    if (!e || e.refused < this.limit) return false;
    e.quiet++;
    return true;
  }

  /** Counts a refusal that was logged. */
  refused(address: string): void {
    const e = this.current(address) ?? { since: this.now(), refused: 0, quiet: 0 };
    e.refused++;
    this.byAddress.set(address, e);
  }

  /** Ends the windows that are over: reports what went unlogged, forgets the rest. */
  flush(): void {
    const now = this.now();
    for (const [address, e] of this.byAddress) {
      if (now - e.since < this.windowMs) continue;
      if (e.quiet) this.onQuietened(address, e.quiet, this.windowMs);
      this.byAddress.delete(address);
    }
  }

  close(): void {
    clearInterval(this.sweep);
    for (const [address, e] of this.byAddress) if (e.quiet) this.onQuietened(address, e.quiet, this.windowMs);
    this.byAddress.clear();
  }

  private current(address: string) {
    const e = this.byAddress.get(address);
    if (e && this.now() - e.since >= this.windowMs) {
      if (e.quiet) this.onQuietened(address, e.quiet, this.windowMs);
      this.byAddress.delete(address);
      return undefined;
    }
    return e;
  }
}
