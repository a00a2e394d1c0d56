import type { Adapter, AdapterPayload } from 'oidc-provider';

interface Entry {
  payload: AdapterPayload;
  expiresAt: number; // epoch ms; Infinity when the model has no TTL
}

/**
 * Storage for oidc-provider's sessions, codes and grants, kept in process memory. Ours rather than
 * the library's built-in one, which announces itself on the console at startup. Losing everything on
 * restart is acceptable for a development IdP: users simply sign in again. One store per IdP
 * instance, so tests running several IdPs never see each other's state.
 */
export function createMemoryAdapter(): new (model: string) => Adapter {
  const entries = new Map<string, Entry>();
  const byGrant = new Map<string, Set<string>>();
  const byUid = new Map<string, string>();
  const byUserCode = new Map<string, string>();

  let writesSinceSweep = 0;

  // Expired entries are otherwise only dropped when looked up; a long-running demo would keep
  // every code and interaction it ever issued. Sweeping now and then bounds that.
  function sweep(): void {
    const now = Date.now();
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key);
    for (const [grantId, keys] of byGrant) {
      for (const key of keys) if (!entries.has(key)) keys.delete(key);
      if (keys.size === 0) byGrant.delete(grantId);
    }
    for (const index of [byUid, byUserCode]) {
      for (const [key, id] of index) if (!entries.has(`${key.slice(0, key.indexOf(':'))}:${id}`)) index.delete(key);
    }
  }

  function live(key: string): AdapterPayload | undefined {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  return class MemoryAdapter implements Adapter {
    constructor(private readonly model: string) {}

    private key(id: string): string {
      return `${this.model}:${id}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      if (++writesSinceSweep >= 500) {
        writesSinceSweep = 0;
        sweep();
      }
      const key = this.key(id);
      const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
      entries.set(key, { payload: structuredClone(payload), expiresAt });
      if (payload.grantId) {
        let keys = byGrant.get(payload.grantId);
        if (!keys) byGrant.set(payload.grantId, (keys = new Set()));
        keys.add(key);
      }
      if (payload.uid) byUid.set(`${this.model}:${payload.uid}`, id);
      if (payload.userCode) byUserCode.set(`${this.model}:${payload.userCode}`, id);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const payload = live(this.key(id));
      return payload && structuredClone(payload);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const id = byUid.get(`${this.model}:${uid}`);
      return id === undefined ? undefined : this.find(id);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const id = byUserCode.get(`${this.model}:${userCode}`);
      return id === undefined ? undefined : this.find(id);
    }

    async consume(id: string): Promise<void> {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      const key = this.key(id);
      const payload = entries.get(key)?.payload;
      entries.delete(key);
      if (payload?.uid) byUid.delete(`${this.model}:${payload.uid}`);
      if (payload?.userCode) byUserCode.delete(`${this.model}:${payload.userCode}`);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      for (const key of byGrant.get(grantId) ?? []) entries.delete(key);
      byGrant.delete(grantId);
    }
  };
}
