import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import session from 'express-session';

type Callback<T = void> = (err?: unknown, value?: T) => void;

/**
 * express-session's MemoryStore grows without bound and never sweeps. This one keeps at most
 * `maxSessions` (least recently used go first) and forgets a session as soon as its cookie has
 * expired, so memory is bounded by configuration, not by traffic.
 */
export class BoundedSessionStore extends session.Store {
  private readonly data = new Map<string, { json: string; expires: number }>();

  private saveTimer: NodeJS.Timeout | undefined;

  /**
   * With `persist`, sign-ins survive a gateway restart (so open desktops reconnect instead of
   * sending everyone to sign in again): the sessions are kept in one file, encrypted with a key
   * derived from the session secret (AES-256-GCM), owner-only, rewritten shortly after changes.
   */
  constructor(
    private readonly maxSessions: number,
    private readonly now: () => number = Date.now,
    private readonly persist?: { file: string; secret: string },
  ) {
    super();
    if (persist) this.loadPersisted();
  }

  private key(): Buffer {
    return createHash('sha256').update(`drawbridge session store\0${this.persist!.secret}`).digest();
  }

  private loadPersisted(): void {
    const { file } = this.persist!;
    if (!existsSync(file)) return;
    try {
      const raw = readFileSync(file);
      const decipher = createDecipheriv('aes-256-gcm', this.key(), raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      const now = this.now();
      for (const [sid, entry] of JSON.parse(text) as Array<[string, { json: string; expires: number }]>) if (entry.expires > now) this.data.set(sid, entry);
    } catch {
      // another secret, or a damaged file: start empty (everyone signs in again), never fail to start
    }
  }

  /** Writes the sessions now (on shutdown); otherwise they are written shortly after a change. */
  flush(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (!this.persist) return;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key(), iv);
    const body = Buffer.concat([cipher.update(JSON.stringify([...this.data]), 'utf8'), cipher.final()]);
    const tmp = `${this.persist.file}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.concat([iv, cipher.getAuthTag(), body]), { mode: 0o600 });
    renameSync(tmp, this.persist.file);
  }

  private changed(): void {
    if (!this.persist || this.saveTimer) return;
    this.saveTimer = setTimeout(() => this.flush(), 500);
    this.saveTimer.unref();
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
    this.changed();
    cb?.();
  }

  override touch(sid: string, sess: session.SessionData, cb?: Callback): void {
    const entry = this.data.get(sid);
    if (entry) {
      entry.expires = this.expiryOf(sess);
      this.data.delete(sid);
      this.data.set(sid, entry);
      this.changed();
    }
    cb?.();
  }

  override destroy(sid: string, cb?: Callback): void {
    this.data.delete(sid);
    this.changed();
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
