import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { encodeTunnelToken, hashSecret, newSecret, secretMatches, type TunnelToken } from './tunnel-token.js';

const tunnelName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes');

const recordSchema = z.strictObject({
  id: z.uuid(),
  name: tunnelName,
  secretHash: z.string().min(40),
  createdAt: z.iso.datetime(),
  revokedAt: z.iso.datetime().optional(),
});

const stateSchema = z.strictObject({ version: z.literal(1), tunnels: z.array(recordSchema) });

export type TunnelRecord = z.infer<typeof recordSchema>;

export class TunnelStoreError extends Error {
  constructor(
    message: string,
    readonly code: 'bad_name' | 'exists' | 'not_found' | 'bad_state',
  ) {
    super(message);
    this.name = 'TunnelStoreError';
  }
}

export type TunnelCheck = { ok: true; tunnel: TunnelRecord } | { ok: false; reason: 'unknown_tunnel' | 'revoked' | 'wrong_secret' };

/**
 * Tunnels live in one small JSON file: the CLI edits it (write to a temporary file, then rename,
 * so a reader never sees half a file) and the gateway re-reads it when it changes.
 */
export class TunnelStore {
  private state: z.infer<typeof stateSchema> = { version: 1, tunnels: [] };
  private stamp = '';

  constructor(readonly file: string) {
    this.reload();
  }

  /** Re-reads the file when another process (the CLI) changed it since we last read it. */
  reloadIfChanged(): boolean {
    const stamp = this.currentStamp();
    if (stamp === this.stamp) return false;
    this.reload();
    return true;
  }

  private currentStamp(): string {
    try {
      const st = statSync(this.file);
      return `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      return 'absent';
    }
  }

  reload(): void {
    this.stamp = this.currentStamp();
    if (!existsSync(this.file)) {
      this.state = { version: 1, tunnels: [] };
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err) {
      throw new TunnelStoreError(`${this.file}: not valid JSON (${(err as Error).message})`, 'bad_state');
    }
    const parsed = stateSchema.safeParse(raw);
    if (!parsed.success) throw new TunnelStoreError(`${this.file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, 'bad_state');
    this.state = parsed.data;
  }

  list(): TunnelRecord[] {
    return [...this.state.tunnels];
  }

  get(name: string): TunnelRecord | undefined {
    return this.state.tunnels.find((t) => t.name === name);
  }

  /** Returns the connector token; it is not kept anywhere and cannot be shown again. */
  create(name: string, gateway: string, now = new Date()): { record: TunnelRecord; token: string } {
    const n = tunnelName.safeParse(name);
    if (!n.success) throw new TunnelStoreError(`tunnel name "${name}" ${n.error.issues[0]!.message}`, 'bad_name');
    const existing = this.get(name);
    if (existing && !existing.revokedAt) throw new TunnelStoreError(`a tunnel named "${name}" already exists; revoke it first to issue a new token`, 'exists');
    const secret = newSecret();
    const record: TunnelRecord = { id: randomUUID(), name, secretHash: hashSecret(secret), createdAt: now.toISOString() };
    this.state.tunnels = [...this.state.tunnels.filter((t) => t.name !== name), record];
    this.save();
    const token: TunnelToken = { gateway, tunnelId: record.id, name, secret };
    return { record, token: encodeTunnelToken(token) };
  }

  revoke(name: string, now = new Date()): TunnelRecord {
    const t = this.get(name);
    if (!t) throw new TunnelStoreError(`there is no tunnel named "${name}"`, 'not_found');
    if (!t.revokedAt) t.revokedAt = now.toISOString();
    this.save();
    return t;
  }

  /** Decides whether a connector may attach; the reason is for the log, never for the caller. */
  check(token: Pick<TunnelToken, 'tunnelId' | 'secret'>): TunnelCheck {
    const t = this.state.tunnels.find((x) => x.id === token.tunnelId);
    if (!t) return { ok: false, reason: 'unknown_tunnel' };
    if (!secretMatches(token.secret, t.secretHash)) return { ok: false, reason: 'wrong_secret' };
    if (t.revokedAt) return { ok: false, reason: 'revoked' };
    return { ok: true, tunnel: t };
  }

  private save(): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.file);
    this.stamp = this.currentStamp();
  }
}
