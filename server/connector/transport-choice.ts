import type { Logger } from '../log/logger.js';
import type { TransportKind } from '../tunnel/tunnel-wire.js';

export type TransportMode = 'auto' | TransportKind;

/**
 * Which transport the connector's connections dial. `auto` dials direct; when a direct upgrade is
 * not answered (a reverse or inspecting proxy on the way passes only WebSocket upgrades) the same
 * attempt retries over a WebSocket, and once a WebSocket has worked where direct did not, every
 * connection uses it until the connector restarts. A WebSocket that fails too proves nothing (the
 * gateway may simply be down), so the next attempt tries direct again.
 */
export class TransportChoice {
  private settled: TransportKind | undefined;
  private trying = false;

  constructor(
    readonly mode: TransportMode,
    private readonly log: Logger,
  ) {}

  current(): TransportKind {
    if (this.mode !== 'auto') return this.mode;
    return this.settled ?? 'direct';
  }

  /** After a failed direct upgrade: whether to retry it over a WebSocket now. */
  tryWebSocket(why: string): boolean {
    if (this.mode !== 'auto' || this.settled === 'websocket') return false;
    if (!this.trying) this.log.warn({ why }, 'the direct tunnel upgrade was not answered; trying a WebSocket');
    this.trying = true;
    return true;
  }

  /** A connection came up over `kind`. */
  worked(kind: TransportKind): void {
    if (this.mode !== 'auto' || this.settled === kind) return;
    if (kind === 'websocket' && this.trying) {
      this.settled = 'websocket';
      this.log.warn('the way to the gateway passes only WebSocket upgrades: using the WebSocket transport (slower) until the connector restarts');
    }
    if (kind === 'direct') this.trying = false;
  }
}
