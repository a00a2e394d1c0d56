import { connect } from 'node:net';

export interface GuacdHealth {
  reachable: boolean;
  checkedAt: number;
  error?: string;
}

/**
 * Whether guacd accepts TCP connections, cached briefly so a launcher page full of tiles costs
 * one probe, not one per tile per user.
 */
export class GuacdProbe {
  private last: GuacdHealth | undefined;
  private inflight: Promise<GuacdHealth> | undefined;

  constructor(
    private readonly target: () => { host: string; port: number },
    private readonly cacheMs = 3000,
    private readonly timeoutMs = 1500,
  ) {}

  check(): Promise<GuacdHealth> {
    if (this.last && Date.now() - this.last.checkedAt < this.cacheMs) return Promise.resolve(this.last);
    this.inflight ??= this.probe().then((h) => {
      this.last = h;
      this.inflight = undefined;
      return h;
    });
    return this.inflight;
  }

  private probe(): Promise<GuacdHealth> {
    const { host, port } = this.target();
    return new Promise((resolve) => {
      const s = connect({ host, port });
      const done = (h: Omit<GuacdHealth, 'checkedAt'>) => {
        clearTimeout(t);
        s.destroy();
        resolve({ ...h, checkedAt: Date.now() });
      };
      const t = setTimeout(() => done({ reachable: false, error: `no answer within ${this.timeoutMs} ms` }), this.timeoutMs);
      s.once('connect', () => done({ reachable: true }));
      s.once('error', (err: NodeJS.ErrnoException) => done({ reachable: false, error: err.code ?? err.message }));
    });
  }
}
