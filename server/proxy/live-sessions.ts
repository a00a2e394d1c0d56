import type { RelaySession, RelayStatus } from './relay-session.js';

export interface LiveSession<C = unknown> {
  id: string;
  user: string;
  signInSession: string;
  app: string;
  startedAt: number;
  relay: RelaySession;
  username?: string;
  /** guacd's id for the connection, to join it (watching). */
  guacdConnection?: string;
  /** Someone watching, not the owner: not listed as a desktop of its own. */
  watching?: string;
  /** What the gateway needs to re-decide access later; opaque to the proxy. */
  context: C;
}

/** Every desktop that is open right now, so sign-out, expiry, policy changes and admins can end them. */
export class LiveSessions<C = unknown> {
  private readonly sessions = new Map<string, LiveSession<C>>();

  add(session: LiveSession<C>): void {
    this.sessions.set(session.id, session);
    session.relay.onEnd(() => this.sessions.delete(session.id));
  }

  get(id: string): LiveSession<C> | undefined {
    return this.sessions.get(id);
  }

  list(): LiveSession<C>[] {
    return [...this.sessions.values()];
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Ends every live session matching `pred`; returns how many. */
  endWhere(pred: (s: LiveSession<C>) => boolean, status: RelayStatus, reason: string): number {
    let n = 0;
    for (const s of this.list()) {
      if (pred(s)) {
        s.relay.end(status, reason);
        n++;
      }
    }
    return n;
  }
}
