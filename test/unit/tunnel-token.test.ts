import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeTunnelToken, encodeTunnelToken, TunnelTokenError } from '../../server/tunnel/tunnel-token.js';
import { TunnelStore, TunnelStoreError } from '../../server/tunnel/tunnel-store.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'dbx-tun-'));
  dirs.push(d);
  return path.join(d, 'tunnels.json');
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('tunnel tokens and the tunnel store', () => {
  it('create prints a token once and stores only a hash of its secret', () => {
    const file = tmp();
    const store = new TunnelStore(file);
    const { record, token } = store.create('office-1', 'https://gw.example');
    const decoded = decodeTunnelToken(token);
    expect(decoded).toMatchObject({ gateway: 'https://gw.example', tunnelId: record.id, name: 'office-1' });
    const onDisk = readFileSync(file, 'utf8');
    expect(onDisk).not.toContain(decoded.secret);
    expect(onDisk).toContain(record.secretHash);
    expect(statSync(file).mode & 0o077).toBe(0);
    expect(store.check(decoded)).toMatchObject({ ok: true, tunnel: { name: 'office-1' } });
  });

  it('verify refuses a wrong secret, an unknown tunnel and a revoked one', () => {
    const store = new TunnelStore(tmp());
    const { token } = store.create('office-1', 'https://gw.example');
    const t = decodeTunnelToken(token);
    expect(store.check({ ...t, secret: t.secret.slice(0, -1) + (t.secret.endsWith('A') ? 'B' : 'A') })).toEqual({ ok: false, reason: 'wrong_secret' });
    expect(store.check({ ...t, tunnelId: '00000000-0000-4000-8000-000000000000' })).toEqual({ ok: false, reason: 'unknown_tunnel' });
    store.revoke('office-1');
    expect(store.check(t)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('names are unique among live tunnels; a revoked name can be issued again with a new id and secret', () => {
    const file = tmp();
    const store = new TunnelStore(file);
    const first = store.create('office-1', 'https://gw.example');
    expect(() => store.create('office-1', 'https://gw.example')).toThrow(TunnelStoreError);
    store.revoke('office-1');
    const second = store.create('office-1', 'https://gw.example');
    expect(second.record.id).not.toBe(first.record.id);
    expect(store.check(decodeTunnelToken(first.token)).ok).toBe(false);
    expect(store.check(decodeTunnelToken(second.token)).ok).toBe(true);
    expect(() => store.create('Office 1', 'https://gw.example')).toThrow(/lower-case/);
    expect(() => store.revoke('nope')).toThrow(/no tunnel named "nope"/);
  });

  it('another process sees changes (reloadIfChanged) and a damaged file is an error, not an empty list', async () => {
    const file = tmp();
    const gateway = new TunnelStore(file);
    const cli = new TunnelStore(file);
    const { token } = cli.create('office-1', 'https://gw.example');
    expect(gateway.reloadIfChanged()).toBe(true);
    expect(gateway.check(decodeTunnelToken(token)).ok).toBe(true);
    expect(gateway.reloadIfChanged()).toBe(false);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, '{ not json');
    expect(() => new TunnelStore(file)).toThrow(/not valid JSON/);
  });

  it('decoding rejects anything that is not a whole token', () => {
    const good = encodeTunnelToken({ gateway: 'https://gw.example', tunnelId: 'id', name: 'n', secret: 's'.repeat(43) });
    expect(decodeTunnelToken(`  ${good}\n`).name).toBe('n');
    for (const bad of ['', 'abc', 'dbt1_', 'dbt1_!!!', good.slice(0, 20), 'dbt1_' + Buffer.from('{"g":"x"}').toString('base64url')]) {
      expect(() => decodeTunnelToken(bad)).toThrow(TunnelTokenError);
    }
  });
});
