import type { RelaySession, RelayStatus } from './relay-session.js';

export interface LiveSession {
  id: string;
  user: string;
  signInSession: string;
  app: string;
  startedAt: number;
  relay: RelaySession;
}

/** Every desktop that is open right now, so sign-out, expiry and admins can end them. */
export class LiveSessions {
  private readonly sessions = new Map<string, LiveSession>();

  add(session: LiveSession): void {
    this.sessions.set(session.id, session);
    session.relay.onEnd(() => this.sessions.delete(session.id));
  }

  list(): LiveSession[] {
    return [...this.sessions.values()];
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Ends every live session matching `pred`; returns how many. */
  endWhere(pred: (s: LiveSession) => boolean, status: RelayStatus, reason: string): number {
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
