import type { Logger } from '../log/logger.js';
import type { TransportKind } from '../tunnel/tunnel-wire.js';
import { systemClock, type Clock } from './backoff.js';
import type { WebSocketWorth } from './upgrade-refusal.js';

export type TransportMode = 'auto' | TransportKind;

/** How long `auto` keeps to the WebSocket once it settled there, before it tries direct again. */
export const SETTLED_FOR_MS = 60 * 60_000;

/**
 * Which transport the connector's connections dial. `auto` dials direct; when a direct upgrade
 * fails the way a path passing only WebSocket upgrades makes it fail, the same attempt retries
 * over a WebSocket. Once a WebSocket has worked where direct got an answer only such a path
 * gives (`switch`), new connections use it for an hour, then try direct again: the path may
 * have changed, and a wrong guess must not cost a connector its speed for good. A failure that
 * a restarting gateway explains as well (`try`) retries over a WebSocket for that attempt only,
 * and a WebSocket that fails too proves nothing (the gateway may simply be down). Each
 * connection says what its own failed direct attempt was worth when its WebSocket works: a
 * shared flag would let one connection's `switch` be settled by another's lucky `try`.
 */
export class TransportChoice {
  private settledUntil = 0;
  /** Warned that direct failed and WebSocket is being tried, until direct works again. */
  private warned = false;

  constructor(
    readonly mode: TransportMode,
    private readonly log: Logger,
    private readonly clock: Pick<Clock, 'now'> = systemClock,
  ) {}

  private settled(): boolean {
    return this.clock.now() < this.settledUntil;
  }

  current(): TransportKind {
    if (this.mode !== 'auto') return this.mode;
    return this.settled() ? 'websocket' : 'direct';
  }

  /** After a failed direct upgrade: whether to retry it over a WebSocket now. */
  tryWebSocket(why: string): boolean {
    if (this.mode !== 'auto' || this.settled()) return false;
    if (!this.warned) this.log.warn({ why }, 'the direct tunnel upgrade failed; trying a WebSocket');
    this.warned = true;
    return true;
  }

  /**
   * A connection came up over `kind`. `worth` is what that connection's own failed direct
   * attempt earned (`no` when it dialled a WebSocket without trying direct first): only a
   * `switch` moves new connections to the WebSocket.
   */
  worked(kind: TransportKind, worth: WebSocketWorth): void {
    if (this.mode !== 'auto') return;
    if (kind === 'direct') {
      this.warned = false;
      return;
    }
    if (worth === 'switch' && !this.settled()) {
      this.settledUntil = this.clock.now() + SETTLED_FOR_MS;
      this.log.warn({ forMinutes: SETTLED_FOR_MS / 60_000 }, 'the way to the gateway passes only WebSocket upgrades: new connections use the WebSocket transport (slower) and try direct again later');
    }
  }
}
