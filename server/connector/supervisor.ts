import { EventEmitter } from 'node:events';
import type { Logger } from '../log/logger.js';
import type { MetricSet } from '../metrics/prometheus.js';
import { Backoff, DEFAULT_BACKOFF, systemClock, type BackoffOptions, type Clock } from './backoff.js';
import type { ConnectionError } from './connection-error.js';

/** The part of a connection the supervisor drives; a fake in unit tests. */
export interface SupervisedConnection extends EventEmitter {
  start(): void;
  drain(deadlineMs: number): Promise<void>;
  readonly activeStreams: number;
  readonly upSince: number | undefined;
  readonly rttMs: number | undefined;
  /** Which transport it came up over. */
  readonly kind?: string;
}

export interface SupervisorOptions {
  connections: number;
  create(index: number): SupervisedConnection;
  log: Logger;
  metrics: MetricSet;
  clock?: Clock;
  backoff?: BackoffOptions;
}

interface Slot {
  index: number;
  conn?: SupervisedConnection;
  backoff: Backoff;
  retry?: unknown;
  startedAt: number;
}

/**
 * Keeps `connections` connections to the gateway up: each slot reconnects on its own with
 * exponential backoff and jitter, so one flapping path does not take the others down. A permanent
 * error (wrong or revoked token) stops everything and is reported as 'fatal'.
 */
export class Supervisor extends EventEmitter {
  private readonly slots: Slot[];
  private readonly clock: Clock;
  private stopping = false;

  constructor(private readonly opts: SupervisorOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.slots = Array.from({ length: opts.connections }, (_, index) => ({ index, backoff: new Backoff(opts.backoff ?? DEFAULT_BACKOFF), startedAt: 0 }));
  }

  start(): void {
    for (const slot of this.slots) this.connect(slot);
  }

  /** Connections that are up now. */
  upCount(): number {
    return this.slots.filter((s) => s.conn?.upSince !== undefined).length;
  }

  activeStreams(): number {
    return this.slots.reduce((n, s) => n + (s.conn?.activeStreams ?? 0), 0);
  }

  private connect(slot: Slot): void {
    if (this.stopping) return;
    const conn = this.opts.create(slot.index);
    slot.conn = conn;
    slot.startedAt = this.clock.now();
    conn.once('up', () => {
      this.opts.log.info({ connection: slot.index, transport: conn.kind }, 'connected to the gateway');
      this.opts.metrics.set('drawbridge_connector_connections', 'Connections to the gateway that are up', this.upCount());
      this.emit('up', slot.index);
    });
    conn.once('closed', (err: ConnectionError) => {
      const wasUp = conn.upSince !== undefined;
      slot.conn = undefined;
      this.opts.metrics.set('drawbridge_connector_connections', 'Connections to the gateway that are up', this.upCount());
      if (this.stopping) return;
      if (err.permanent) {
        // the token is refused for every slot alike: none may go on retrying it
        this.stopping = true;
        for (const s of this.slots) if (s.retry !== undefined) this.clock.clearTimeout(s.retry);
        this.opts.log.error({ connection: slot.index, reason: err.message }, 'permanent error; the connector stops');
        this.emit('fatal', err);
        return;
      }
      slot.backoff.connectionEnded(wasUp ? this.clock.now() - slot.startedAt : 0);
      const delay = slot.backoff.nextDelayMs();
      this.opts.metrics.add('drawbridge_connector_reconnects_total', 'Reconnect attempts after a connection ended or failed');
      this.opts.log.warn({ connection: slot.index, reason: err.message, retryInMs: delay, attempt: slot.backoff.attempts }, wasUp ? 'connection to the gateway lost; reconnecting' : 'could not connect to the gateway; retrying');
      this.emit('down', slot.index, err);
      slot.retry = this.clock.setTimeout(() => {
        slot.retry = undefined;
        this.connect(slot);
      }, delay);
    });
    conn.start();
  }

  /** SIGTERM: stop reconnecting, let open streams finish for up to `deadlineMs`, then close. */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    for (const slot of this.slots) if (slot.retry !== undefined) this.clock.clearTimeout(slot.retry);
    await Promise.all(this.slots.map((s) => s.conn?.drain(deadlineMs)));
  }
}
