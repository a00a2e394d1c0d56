import session from 'express-session';

type Callback<T = void> = (err?: unknown, value?: T) => void;

/**
 * express-session's MemoryStore grows without bound and never sweeps. This one keeps at most
 * `maxSessions` (least recently used go first) and forgets a session as soon as its cookie has
 * expired, so memory is bounded by configuration, not by traffic.
 */
export class BoundedSessionStore extends session.Store {
  private readonly data = new Map<string, { json: string; expires: number }>();

  constructor(
    private readonly maxSessions: number,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  get size(): number {
    return this.data.size;
  }

  override get(sid: string, cb: Callback<session.SessionData | null>): void {
    const entry = this.data.get(sid);
    if (!entry) return cb(undefined, null);
    if (entry.expires <= this.now()) {
      this.data.delete(sid);
      return cb(undefined, null);
    }
    this.data.delete(sid);
    this.data.set(sid, entry);
    cb(undefined, JSON.parse(entry.json) as session.SessionData);
  }

  override set(sid: string, sess: session.SessionData, cb?: Callback): void {
    this.data.delete(sid);
    this.data.set(sid, { json: JSON.stringify(sess), expires: this.expiryOf(sess) });
    while (this.data.size > this.maxSessions) {
      const oldest = this.data.keys().next().value as string;
      this.data.delete(oldest);
    }
    cb?.();
  }

  override touch(sid: string, sess: session.SessionData, cb?: Callback): void {
    const entry = this.data.get(sid);
    if (entry) {
      entry.expires = this.expiryOf(sess);
      this.data.delete(sid);
      this.data.set(sid, entry);
    }
    cb?.();
  }

  override destroy(sid: string, cb?: Callback): void {
    this.data.delete(sid);
    cb?.();
  }

  override length(cb: Callback<number>): void {
    cb(undefined, this.data.size);
  }

  override clear(cb?: Callback): void {
    this.data.clear();
    cb?.();
  }

  private expiryOf(sess: session.SessionData): number {
    const expires = sess.cookie?.expires;
    return expires ? new Date(expires).getTime() : this.now() + 24 * 3600 * 1000;
  }
}
